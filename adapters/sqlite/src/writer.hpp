// Group commit, shaped like LevelDB's DBImpl::Write: callers queue up; the caller at the
// front of the queue commits the jobs of the group behind it (up to max_batch) in one
// transaction, on its own thread, then wakes each of them; each caller waits on its own
// condition variable.
//
// Whole calls (GroupCommitCall, group_commit.hpp) take a thread of the writer's own,
// started on the first submit_call(): it queues the calls waiting at that moment as one
// job, runs each inside it (their store writes become nested savepoints of the group's
// transaction instead of jobs of their own), and completes each call once the group has
// committed. So a server's write costs two thread hand-offs (I/O thread -> writer thread
// -> I/O thread) and nobody waits for the fsync but the writer thread. Internal.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <type_traits>
#include <vector>

#include "chatbotmgr/group_commit.hpp"
#include "connection.hpp"

namespace chatbotmgr::sqlite::detail {

class Writer {
  public:
    // initial: the already opened (and migrated) writer connection. open: how to open a
    // new one after a fault that needs it. on_commit (optional): told of each successful
    // commit, its time and its number of jobs (SqliteOptions::on_commit).
    using CommitObserver = std::function<void(std::chrono::nanoseconds, std::size_t)>;
    Writer(std::unique_ptr<Connection> initial, std::function<std::unique_ptr<Connection>()> open,
           std::size_t max_batch, CommitObserver on_commit = {});
    // Completes every submitted call, waits until every caller inside run() has returned
    // (what is queued gets committed by its callers), then closes the connection.
    ~Writer();
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // Runs body(connection) inside a batch transaction, in its own savepoint, and returns
    // once the batch has committed. body runs at most once, on the thread of the caller
    // that commits the batch. If body throws, its savepoint is rolled back and the
    // exception is rethrown here (SQLite exceptions mapped with operation and
    // conflict_message, see to_error); if the batch does not commit, this throws an Error
    // (unavailable for engine faults) and nothing of body was written. A body that calls
    // run() on the same writer gets Error(internal). operation and conflict_message must
    // outlive the call.
    // Called from a GroupCommitCall's run(), body runs at once, in a savepoint of the open
    // group, and run() returns before the commit: the call hears the outcome later.
    template <class F>
    void run(const char* operation, const char* conflict_message, F&& body) {
        BodyJob<std::remove_reference_t<F>> job(operation, conflict_message, body);
        submit(job);
    }

    // Runs call in a later group on the writer's own thread (group_commit.hpp).
    void submit_call(std::unique_ptr<GroupCommitCall> call);
    // Runs and completes every submitted call, then completes new ones at once with
    // Error(unavailable), unrun.
    // For an owner whose calls need more than the writer: call it before that goes away.
    void finish_calls();

    // From inside a body: counter grows by one when the group has ended, after its COMMIT
    // (or its failure) and before any caller or call of the group hears of it -- so a cache
    // that reads the counter before and after a lookup never keeps what the group changed.
    // Outside a body it grows at once.
    void bump_after_commit(std::atomic<std::uint64_t>& counter);

  private:
    // One caller's write. It lives on the caller's stack while the caller waits, so a job
    // costs no allocation.
    struct Job {
        Job(const char* operation, const char* conflict_message)
            : operation(operation), conflict_message(conflict_message) {}
        virtual void execute(Connection& c) = 0;

        const char* operation;
        const char* conflict_message;
        std::size_t writes = 1;  // what it counts for in on_commit's batch size
        // The outcome, set by the committing caller; empty means committed. Owned by the
        // job's caller once done, so nobody else keeps a reference to its exception.
        std::exception_ptr error;
        // Guarded by mutex_.
        bool done = false;
        Job* next = nullptr;  // the queue's link
        std::condition_variable wake;

      protected:
        ~Job() = default;
    };

    template <class F>
    struct BodyJob final : Job {
        BodyJob(const char* operation, const char* conflict_message, F& body)
            : Job(operation, conflict_message), body(body) {}
        void execute(Connection& c) override { body(c); }
        F& body;
    };

    using Group = std::span<Job* const>;

    // A submitted call and what became of it inside its group.
    struct PendingCall {
        std::unique_ptr<GroupCommitCall> call;
        bool wrote = false;  // a write of it is in the group's transaction
        std::exception_ptr error;
    };

    // The job that runs the calls of one group (on whichever thread commits that group).
    struct CallsJob final : Job {
        CallsJob(Writer& writer, std::span<PendingCall> calls)
            : Job("run grouped calls", nullptr), writer(writer), calls(calls) {
            writes = calls.size();
        }
        void execute(Connection& c) override;
        Writer& writer;
        std::span<PendingCall> calls;
    };

    void submit(Job& job);
    void run_nested(Job& job);
    void run_calls(std::span<PendingCall> calls);
    void lead(std::unique_lock<std::mutex>& lock);
    void commit(Group group) noexcept;
    bool run_in_savepoint(Job& job);
    std::optional<Error> open_if_needed();
    std::optional<Error> exec(const char* sql, const char* operation);
    void abandon_transaction();
    std::exception_ptr job_error(const Job& job);
    static void fail_remaining(Group group, const Error& error);

    // Used only by the caller at the front of the queue (one at a time).
    std::unique_ptr<Connection> connection_;
    std::function<std::unique_ptr<Connection>()> open_;
    const std::size_t max_batch_;
    const CommitObserver on_commit_;
    bool reopen_ = false;  // the connection saw a fault; open a fresh one before the next batch
    std::vector<Job*> group_;
    std::vector<std::atomic<std::uint64_t>*> bump_after_commit_;  // of the group being committed
    PendingCall* running_call_ = nullptr;  // the call whose run() is on the committing thread
    bool group_broken_ = false;  // the transaction died under a call: no more writes in it

    // Submitted calls, shared with the thread that runs them (started by the first
    // submit_call), which may outlive the writer: see finish_calls().
    struct CallQueue {
        std::mutex mutex;
        std::condition_variable waiting;
        std::vector<PendingCall> calls;
        bool stopping = false;
        bool writer_gone = false;  // what still waits is refused, not run
    };
    std::shared_ptr<CallQueue> call_queue_ = std::make_shared<CallQueue>();
    static void serve_calls(Writer* writer, std::shared_ptr<CallQueue> queue);
    std::thread calls_thread_;

    std::mutex mutex_;
    Job* front_ = nullptr;  // the queue, oldest first; front_ is the committing caller's job
    Job* back_ = nullptr;
    std::size_t callers_ = 0;       // callers inside run()
    std::condition_variable idle_;  // callers_ dropped to zero
};

}  // namespace chatbotmgr::sqlite::detail
