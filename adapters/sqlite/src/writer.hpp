// Group commit, shaped like LevelDB's DBImpl::Write: callers queue up; the caller at the
// front of the queue commits the jobs of the group behind it (up to max_batch) in one
// transaction, on its own thread, then wakes each of them; each caller waits on its own
// condition variable. There is no writer thread. Delivering a job's outcome is one step
// (lead() marks it done and wakes its caller): an asynchronous caller would be completed
// there instead of waiting. Internal.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

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
    // Waits until every caller inside run() has returned (what is queued gets committed
    // by its callers), then closes the connection.
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
    template <class F>
    void run(const char* operation, const char* conflict_message, F&& body) {
        BodyJob<std::remove_reference_t<F>> job(operation, conflict_message, body);
        submit(job);
    }

  private:
    // One caller's write. It lives on the caller's stack while the caller waits, so a job
    // costs no allocation.
    struct Job {
        Job(const char* operation, const char* conflict_message)
            : operation(operation), conflict_message(conflict_message) {}
        virtual void execute(Connection& c) = 0;

        const char* operation;
        const char* conflict_message;
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

    void submit(Job& job);
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

    std::mutex mutex_;
    Job* front_ = nullptr;  // the queue, oldest first; front_ is the committing caller's job
    Job* back_ = nullptr;
    std::size_t callers_ = 0;       // callers inside run()
    std::condition_variable idle_;  // callers_ dropped to zero
};

}  // namespace chatbotmgr::sqlite::detail
