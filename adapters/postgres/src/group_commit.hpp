// Internal: group commit on PostgreSQL, shaped like the SQLite writer (and LevelDB's
// DBImpl::Write). Callers queue up; the caller at the front of a queue takes the jobs
// behind it (up to max_batch), runs them in one transaction on one pooled connection, each
// in its own savepoint, commits once (one WAL flush for all), then wakes each caller. There
// is no writer thread. A caller is woken only after the COMMIT that holds its write
// succeeded (the connection runs with synchronous_commit = on).
//
// Lanes: there are several such queues, each with at most one batch in flight. A job joins
// the lane that already holds jobs of its affinity (the rows it locks: a chatbot, a
// conversation, an organization's quota), else an idle lane, else the least busy one. So
// writes of one hot row share transactions instead of passing the row lock from one
// transaction to the next (each waiting for the previous one's commit), while writes of
// different rows run side by side, as separate transactions would, and share transactions
// only once every lane is busy. One lane is the SQLite writer's shape.
//
// Round trips: the statements go out in libpq's pipeline mode. A job's body queues its
// statements (Tx::add) and sends them with one Tx::round_trip(); the batch's own
// statements ride along: BEGIN and the lock timeout with the first job's first round trip,
// each SAVEPOINT with its job's first one, each RELEASE (or ROLLBACK TO) with the next
// job's first one, and the COMMIT with the last job's last one when that job ends with
// Tx::finish(). A batch of one job whose first round trip is its last sends neither BEGIN
// nor COMMIT: its statements run in the implicit transaction of the pipeline, committed at
// the sync. A capture alone is therefore one statement in one round trip, as before.
//
// Failures:
// - a body that throws (a failed statement, a refused write, an exception from a callback)
//   is rolled back to its savepoint alone and its caller gets the exception; the other
//   jobs are not affected;
// - if the transaction itself dies (lost connection, network timeout, failed COMMIT),
//   every job of the group that has not failed on its own gets Error(unavailable), and
//   nothing of the group was written. Nothing is replayed;
// - locks: a batch holds the row locks of all its jobs until its COMMIT, so two batches
//   (of two instances, or a batch and another transaction) can wait on each other. Inside
//   a batch lock waits are bounded by a short lock_timeout. A job whose lock wait times out,
//   or that meets a deadlock or serialization failure (40P01, 40001), before its body ran
//   any user code (Tx::user_code) is rolled back to its savepoint and, once the batch has
//   committed, run again by its own caller in a transaction of its own, where it waits for
//   locks like any transaction (up to statement_timeout). This is the one case in which a
//   body runs twice; such a body has run statements only, all rolled back. Past user code
//   a job never runs again: those errors fail it (unavailable). To make waits between
//   batches rare, a batch runs its jobs ordered by a lock key (the chatbot's id, the
//   organization's, ...) instead of their arrival order: batches that lock the same rows
//   lock them in the same order, so they queue behind each other instead of deadlocking.
//
// Internal to the adapter.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "connection.hpp"
#include "pool.hpp"

namespace chatbotmgr::postgres::detail {

// What ends a whole batch: the transaction is lost (a statement of the batch itself failed,
// the connection broke or timed out, COMMIT failed). Not an Error on purpose: a body's
// `catch (const Error&)` must not swallow it.
struct BatchFailure {
    Error error;
};

// One job's view of the transaction of its batch. Statements go out in pipeline mode:
// add() queues one (libpq copies its parameters at once), round_trip() sends what is
// queued and returns the results. A failed statement of the job throws its DbError from
// round_trip(); the job then ends: let the error propagate, or catch it and return (the
// job's statements are rolled back either way).
//
// A body ends in one of three ways:
// - finish(): its last round trip, which also releases its savepoint (and commits the
//   batch when it is the batch's last job). Its writes are kept; it must not fail after.
// - keep(): after a round trip whose results it checked: its writes are kept.
// - returning otherwise, or throwing: everything it did is rolled back.
class Tx {
  public:
    Tx(const Tx&) = delete;
    Tx& operator=(const Tx&) = delete;

    // Queues a statement of the job; returns its index in the next round trip's results.
    std::size_t add(Stmt statement, const Params& params);
    std::size_t add(const std::string& sql, const Params& params);
    // Sends the queued statements, after what the batch itself must send first, and waits
    // for their results: one round trip.
    std::vector<Result> round_trip();
    // The job's last round trip: round_trip() plus the end of the job's savepoint and, for
    // the last job of the batch, the COMMIT. The job's writes are kept.
    std::vector<Result> finish();
    // Keeps what the job's statements did (nothing may be queued).
    void keep();
    // Called before the body runs user code (a mutate or complete callback): from here on
    // the job is never run again, whatever fails.
    void user_code() noexcept { user_code_ = true; }
    // Lets the job's later statements wait for locks up to statement_timeout instead of
    // the batch's short lock_timeout (sent with the next round trip). For waits that come
    // after user code and must end in the other transaction's outcome, not in a timeout:
    // the idempotency record's insert waits for a concurrent holder of the same scope.
    void unbounded_lock_waits();

  private:
    friend class GroupCommit;
    enum class Kind : unsigned char { batch, job, ending };

    // lock_timeout: the transaction's lock_timeout (zero: statement_timeout only).
    Tx(Connection& conn, std::chrono::milliseconds lock_timeout);
    void start_job(bool last, bool savepoint);
    // After the body returned (ok) or threw. Throws BatchFailure.
    void end_job(bool ok);
    // The batch's COMMIT, or its ROLLBACK when its only job failed. Throws BatchFailure.
    void commit();
    bool committed() const noexcept { return committed_; }
    bool user_code_ran() const noexcept { return user_code_; }

    void send(Kind kind, Stmt statement, const Params& params);
    void send_control(Kind kind, Stmt statement);
    void open_round();
    std::vector<Kind> take_round();
    Connection::Round sync_round();
    std::vector<Result> run_round(bool finishing);
    void check_open() const;

    Connection& conn_;
    const std::string lock_timeout_;  // e.g. "100ms"; empty: none
    // Control statements to send before the next job statement, in order (a
    // set_lock_timeout there sets lock_timeout_).
    std::vector<Stmt> prefix_;
    // The round being queued: what each sent statement is.
    std::vector<Kind> round_;
    std::size_t job_statements_ = 0;  // Kind::job entries of round_
    bool begun_ = false;              // BEGIN was sent
    bool ended_ = false;              // the server ended the implicit transaction of a lone job
    bool committed_ = false;
    bool rollback_only_ = false;  // a job without savepoint failed: nothing may commit
    // The current job.
    bool last_ = false;
    bool savepoint_ = false;
    bool kept_ = false;
    bool released_ = false;
    bool aborted_ = false;  // one of its statements failed: the transaction needs a rollback
    bool user_code_ = false;
    bool disarmed_ = false;  // it set lock_timeout to 0
};

class GroupCommit {
  public:
    using CommitObserver = std::function<void(std::chrono::nanoseconds, std::size_t)>;
    struct Settings {
        std::size_t max_batch = 64;
        // Queues ("lanes"), each committing its batches one after the other on a pooled
        // connection: at most this many batches in flight at once. A job joins the lane that
        // holds jobs of the same affinity (writes of the same rows then share batches
        // instead of waiting on each other's locks); otherwise an idle lane, or else the
        // least busy one.
        std::size_t lanes = 1;
        // Lock waits inside a batch (see above); zero: statement_timeout only.
        std::chrono::milliseconds lock_timeout{100};
        // Told of each successful commit: its time (BEGIN to the end of COMMIT) and its
        // number of jobs. Runs on the committing thread before any caller is woken.
        CommitObserver on_commit;
    };

    GroupCommit(Pool& pool, Settings settings);
    // Waits until every caller inside run() has returned.
    ~GroupCommit();
    GroupCommit(const GroupCommit&) = delete;
    GroupCommit& operator=(const GroupCommit&) = delete;

    // Runs body(Tx&) in a batch and returns once the batch has committed, or rethrows the
    // body's exception (nothing of it written), or throws Error(unavailable) when the batch
    // failed (nothing of it written). body usually runs once, on the thread of the caller
    // that commits the batch; see above for the one case where it runs a second time, on
    // this thread. lock_key orders the jobs of a batch; affinity groups them into lanes
    // (jobs that lock the same rows should have the same). A body that calls run() on the
    // same GroupCommit gets Error(internal).
    template <class F>
    void run(std::string lock_key, std::size_t affinity, F&& body) {
        BodyJob<std::remove_reference_t<F>> job(std::move(lock_key), affinity, body);
        submit(job);
    }
    template <class F>
    void run(std::string lock_key, F&& body) {
        run(std::move(lock_key), 0, std::forward<F>(body));
    }

    // Callers inside run() right now: queued, committing, or running alone. For tests.
    std::size_t callers() const;

  private:
    // One caller's write; lives on the caller's stack while it waits.
    struct Job {
        Job(std::string key, std::size_t affinity) : key(std::move(key)), affinity(affinity) {}
        virtual void execute(Tx& tx) = 0;

        const std::string key;
        const std::size_t affinity;
        // Set by whoever ran the job; empty means committed. Read by the caller once done.
        std::exception_ptr error;
        bool alone = false;  // to run again, by its caller, in a transaction of its own
        // Guarded by mutex_.
        std::size_t lane = 0;
        bool done = false;
        Job* next = nullptr;
        std::condition_variable wake;

      protected:
        ~Job() = default;
    };

    template <class F>
    struct BodyJob final : Job {
        BodyJob(std::string key, std::size_t affinity, F& body)
            : Job(std::move(key), affinity), body(body) {}
        void execute(Tx& tx) override { body(tx); }
        F& body;
    };

    using Group = std::span<Job* const>;
    enum class Outcome { done, restart, dead };
    // A queue of jobs, oldest first; its front job's caller commits the next batch.
    struct Lane {
        Job* front = nullptr;
        Job* back = nullptr;
        std::size_t jobs = 0;  // queued or being committed
    };
    // The lane that holds jobs of an affinity, and how many.
    struct Holder {
        std::size_t lane;
        std::size_t jobs;
    };

    void submit(Job& job);
    std::size_t lane_for(std::size_t affinity);
    void lead(std::unique_lock<std::mutex>& lock, Lane& lane);
    void commit(Group group) noexcept;
    void run_alone(Job& job) noexcept;
    // Runs one job in tx; on dead, failure holds why the transaction is lost.
    static Outcome run_job(Tx& tx, Job& job, bool last, bool savepoint,
                           std::optional<Error>& failure);
    static void fail_remaining(Group group, const Error& cause);

    Pool& pool_;
    const std::size_t max_batch_;
    const std::chrono::milliseconds lock_timeout_;
    const CommitObserver on_commit_;

    mutable std::mutex mutex_;
    std::vector<Lane> lanes_;                          // fixed size
    std::unordered_map<std::size_t, Holder> holders_;  // by affinity, while it has jobs
    std::size_t callers_ = 0;
    std::condition_variable idle_;
};

}  // namespace chatbotmgr::postgres::detail
