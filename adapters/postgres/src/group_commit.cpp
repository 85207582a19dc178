#include "group_commit.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <string_view>
#include <utility>

namespace chatbotmgr::postgres::detail {
namespace {

// The GroupCommit whose job this thread is running, if any. A job that writes through the
// same GroupCommit would wait behind its own batch: it is refused instead.
thread_local const GroupCommit* committing = nullptr;

class Committing {
  public:
    explicit Committing(const GroupCommit* self) noexcept { committing = self; }
    ~Committing() { committing = nullptr; }
    Committing(const Committing&) = delete;
    Committing& operator=(const Committing&) = delete;
};

// A lock wait past the batch's lock_timeout (55P03), a deadlock (40P01) or a serialization
// failure (40001): what another transaction's locks did to the job, not the job's own fault.
bool is_lock_conflict(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const DbError& e) {
        const std::string& s = e.sqlstate();
        return s == "55P03" || s == "40P01" || s == "40001";
    } catch (...) {
        return false;
    }
}

[[noreturn]] void misuse(const char* what) {
    throw Error(ErrorCode::internal, std::string("postgres: write job: ") + what);
}

}  // namespace

// ---- Tx ----

Tx::Tx(Connection& conn, std::chrono::milliseconds lock_timeout)
    : conn_(conn),
      lock_timeout_(lock_timeout.count() > 0 ? std::to_string(lock_timeout.count()) + "ms" : "") {
    prefix_.push_back(Stmt::tx_begin);
    if (!lock_timeout_.empty()) prefix_.push_back(Stmt::set_lock_timeout);
}

void Tx::send(Kind kind, Stmt statement, const Params& params) {
    try {
        conn_.send(statement, params);
    } catch (const Error& e) {
        throw BatchFailure{e};
    }
    round_.push_back(kind);
}

// A control statement of the batch; set_lock_timeout sets the batch's lock timeout.
void Tx::send_control(Kind kind, Stmt statement) {
    Params p;
    if (statement == Stmt::set_lock_timeout) p.text(lock_timeout_);
    send(kind, statement, p);
}

void Tx::open_round() {
    for (const Stmt s : prefix_) {
        send_control(Kind::batch, s);
        if (s == Stmt::tx_begin) begun_ = true;
    }
    prefix_.clear();
}

std::vector<Tx::Kind> Tx::take_round() {
    std::vector<Kind> kinds = std::move(round_);
    round_.clear();
    job_statements_ = 0;
    return kinds;
}

Connection::Round Tx::sync_round() {
    try {
        return conn_.sync();
    } catch (const Error& e) {
        throw BatchFailure{e};
    }
}

void Tx::check_open() const {
    if (committed_) misuse("statement after the batch committed");
    if (aborted_) misuse("statement after a failed statement of the job");
    if (kept_) misuse("statement after the job ended");
}

std::size_t Tx::add(Stmt statement, const Params& params) {
    check_open();
    open_round();
    send(Kind::job, statement, params);
    return job_statements_++;
}

std::size_t Tx::add(const std::string& sql, const Params& params) {
    check_open();
    open_round();
    try {
        conn_.send(sql, params);
    } catch (const Error& e) {
        throw BatchFailure{e};
    }
    round_.push_back(Kind::job);
    return job_statements_++;
}

void Tx::unbounded_lock_waits() {
    if (lock_timeout_.empty() || disarmed_) return;
    check_open();
    open_round();
    Params p;
    p.text("0");
    send(Kind::batch, Stmt::set_lock_timeout, p);
    disarmed_ = true;
}

std::vector<Result> Tx::round_trip() {
    return run_round(false);
}

std::vector<Result> Tx::finish() {
    return run_round(true);
}

void Tx::keep() {
    check_open();
    if (!round_.empty()) misuse("keep() with statements not sent");
    kept_ = true;
}

std::vector<Result> Tx::run_round(bool finishing) {
    check_open();
    // A batch of one job whose first round trip is its last: no BEGIN, lock timeout or
    // COMMIT. Its statements run in the implicit transaction that pipeline mode gives them
    // up to the sync, which commits it: autocommit, as for a statement sent alone.
    const bool implicit = finishing && last_ && !savepoint_ && !begun_;
    if (implicit) prefix_.clear();
    open_round();
    std::optional<std::size_t> commit_at;
    if (finishing) {
        if (savepoint_) send_control(Kind::ending, Stmt::release_savepoint);
        if (last_ && !implicit) {
            commit_at = round_.size();
            send_control(Kind::ending, Stmt::tx_commit);
        }
    }
    std::vector<Result> out;
    if (!round_.empty()) {
        const std::vector<Kind> kinds = take_round();
        Connection::Round r = sync_round();
        if (r.failed) {
            if (implicit) ended_ = true;  // the server rolled it back at the sync
            // The server skipped everything after the failed statement. A statement of the
            // job: the job fails and its savepoint is rolled back. Anything else, or a job's
            // statement that took the connection with it: the transaction is lost.
            if (kinds.at(*r.failed) != Kind::job || conn_.broken())
                throw BatchFailure{std::move(*r.error)};
            aborted_ = true;
            throw std::move(*r.error);
        }
        out.reserve(kinds.size());
        for (std::size_t i = 0; i < kinds.size(); ++i)
            if (kinds[i] == Kind::job) out.push_back(std::move(r.results.at(i)));
        if (commit_at) {
            // A COMMIT of a transaction in error reports ROLLBACK, without an error.
            const Result& c = r.results.at(*commit_at);
            if (!c || std::string_view(PQcmdStatus(c.get())) != "COMMIT")
                throw BatchFailure{Error(ErrorCode::unavailable,
                                         "postgres: the write batch was rolled back at COMMIT")};
            committed_ = true;
        }
        if (implicit) committed_ = true;
    }
    if (finishing) {
        kept_ = true;
        released_ = savepoint_;
    }
    return out;
}

void Tx::start_job(bool last, bool savepoint) {
    last_ = last;
    savepoint_ = savepoint;
    kept_ = released_ = aborted_ = user_code_ = disarmed_ = false;
    if (savepoint_) prefix_.push_back(Stmt::savepoint);
}

void Tx::end_job(bool ok) {
    if (!round_.empty()) {
        // Statements the body queued and never sent (it threw in between): run them for
        // nothing, the rollback below undoes them.
        const std::vector<Kind> kinds = take_round();
        Connection::Round r = sync_round();
        if (r.failed && (kinds.at(*r.failed) != Kind::job || conn_.broken()))
            throw BatchFailure{std::move(*r.error)};
        ok = false;
    }
    if (committed_) return;  // finish() of the last job committed the batch
    if (ok && kept_) {
        if (savepoint_ && !released_) prefix_.push_back(Stmt::release_savepoint);
        // Its lock_timeout 0 outlived the release: the next job gets the batch's again.
        if (disarmed_ && !last_) prefix_.push_back(Stmt::set_lock_timeout);
        return;
    }
    if (savepoint_) {
        // Also undoes the job's lock_timeout change, if any.
        prefix_.push_back(Stmt::rollback_to_savepoint);
        prefix_.push_back(Stmt::release_savepoint);
    } else {
        rollback_only_ = true;
    }
}

void Tx::commit() {
    // Nothing sent (or an implicit transaction that the server ended): nothing is open.
    if (committed_ || ended_ || !begun_) return;
    if (rollback_only_) {
        prefix_.clear();
        conn_.rollback_quietly();  // on failure the connection is dropped, which rolls back too
        return;
    }
    last_ = true;
    savepoint_ = false;
    kept_ = aborted_ = false;
    (void)run_round(true);
}

// ---- GroupCommit ----

GroupCommit::GroupCommit(Pool& pool, Settings settings)
    : pool_(pool),
      max_batch_(std::max<std::size_t>(1, settings.max_batch)),
      lock_timeout_(settings.lock_timeout),
      on_commit_(std::move(settings.on_commit)),
      lanes_(std::max<std::size_t>(1, settings.lanes)) {}

GroupCommit::~GroupCommit() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return callers_ == 0; });
}

std::size_t GroupCommit::callers() const {
    std::lock_guard lock(mutex_);
    return callers_;
}

// The lane for a new job, with the lock held: the one that holds jobs of its affinity, else
// an idle one, else the least busy one.
std::size_t GroupCommit::lane_for(std::size_t affinity) {
    if (const auto it = holders_.find(affinity); it != holders_.end()) {
        ++it->second.jobs;
        return it->second.lane;
    }
    std::size_t best = 0;
    for (std::size_t i = 1; i < lanes_.size() && lanes_[best].jobs > 0; ++i)
        if (lanes_[i].jobs < lanes_[best].jobs) best = i;
    holders_.emplace(affinity, Holder{best, 1});
    return best;
}

// Queues the job in its lane and waits until it is done, or until it reaches the front of
// the lane's queue: then this caller commits the group that starts with its job.
void GroupCommit::submit(Job& job) {
    if (committing == this)
        throw Error(ErrorCode::internal, "store write issued from inside a write callback");
    std::unique_lock lock(mutex_);
    ++callers_;
    job.lane = lane_for(job.affinity);
    Lane& lane = lanes_[job.lane];
    ++lane.jobs;
    if (lane.back)
        lane.back->next = &job;
    else
        lane.front = &job;
    lane.back = &job;
    job.wake.wait(lock, [&] { return job.done || lane.front == &job; });
    if (!job.done) lead(lock, lane);
    --lane.jobs;
    if (const auto it = holders_.find(job.affinity); it != holders_.end() && --it->second.jobs == 0)
        holders_.erase(it);
    if (job.alone) {
        lock.unlock();
        run_alone(job);
        lock.lock();
    }
    if (--callers_ == 0) idle_.notify_all();
    lock.unlock();
    if (job.error) std::rethrow_exception(std::move(job.error));
}

// Called by the caller at the front of the lane's queue, with the lock held. Takes the
// group (its own job and up to max_batch - 1 queued behind it), commits it without the
// lock, then wakes each caller of the group and hands the front to the next caller in line.
void GroupCommit::lead(std::unique_lock<std::mutex>& lock, Lane& lane) {
    std::vector<Job*> group;
    group.reserve(max_batch_);
    for (Job* job = lane.front; job && group.size() < max_batch_; job = job->next)
        group.push_back(job);
    lock.unlock();
    {
        const Committing guard(this);
        commit(group);
    }
    lock.lock();
    lane.front = group.back()->next;
    if (!lane.front) lane.back = nullptr;
    for (Job* job : group) {
        job->done = true;
        job->wake.notify_one();
    }
    if (lane.front) lane.front->wake.notify_one();
}

GroupCommit::Outcome GroupCommit::run_job(Tx& tx, Job& job, bool last, bool savepoint,
                                          std::optional<Error>& failure) {
    try {
        tx.start_job(last, savepoint);
        bool ok = true;
        try {
            job.execute(tx);
        } catch (const BatchFailure&) {
            throw;
        } catch (...) {
            ok = false;
            job.error = std::current_exception();
        }
        tx.end_job(ok);
        if (!ok && !tx.user_code_ran() && is_lock_conflict(job.error)) return Outcome::restart;
        return Outcome::done;
    } catch (const BatchFailure& f) {
        failure = f.error;
        return Outcome::dead;
    }
}

// One transaction for the group, on one pooled connection: BEGIN, each job in its own
// savepoint (none when the group is one job), COMMIT. Sets the outcome of every job.
void GroupCommit::commit(Group group) noexcept {
    try {
        // Batches that lock the same rows take them in the same order (see the header).
        std::vector<Job*> order(group.begin(), group.end());
        std::stable_sort(order.begin(), order.end(),
                         [](const Job* a, const Job* b) { return a->key < b->key; });
        std::optional<Pool::Lease> lease;
        try {
            lease.emplace(pool_.acquire());
        } catch (const Error& e) {
            return fail_remaining(group, e);
        }
        const auto began = std::chrono::steady_clock::now();
        Tx tx(**lease, lock_timeout_);
        const bool savepoints = order.size() > 1;
        std::optional<Error> failure;
        for (std::size_t i = 0; i < order.size(); ++i) {
            Job& job = *order[i];
            switch (run_job(tx, job, i + 1 == order.size(), savepoints, failure)) {
                case Outcome::done:
                    break;
                case Outcome::restart:
                    // Rolled back to its savepoint; its caller runs it again once this
                    // batch has committed and released the locks it was waiting behind.
                    job.error = nullptr;
                    job.alone = true;
                    break;
                case Outcome::dead:
                    (*lease)->rollback_quietly();
                    return fail_remaining(group, *failure);
            }
        }
        try {
            tx.commit();
        } catch (const BatchFailure& f) {
            (*lease)->rollback_quietly();
            return fail_remaining(group, f.error);
        }
        if (on_commit_ && tx.committed())
            on_commit_(std::chrono::steady_clock::now() - began, group.size());
    } catch (...) {
        fail_remaining(group, Error(ErrorCode::internal, "postgres: the write batch failed"));
    }
}

// A job that met another transaction's locks inside a batch, again, in a transaction of
// its own (no savepoint, lock waits up to statement_timeout), on its caller's thread.
void GroupCommit::run_alone(Job& job) noexcept {
    job.alone = false;
    const Committing guard(this);
    try {
        Pool::Lease lease = pool_.acquire();
        const auto began = std::chrono::steady_clock::now();
        Tx tx(*lease, std::chrono::milliseconds::zero());
        std::optional<Error> failure;
        if (run_job(tx, job, true, false, failure) == Outcome::dead) {
            lease->rollback_quietly();
            const Error cause = *failure;
            job.error = std::make_exception_ptr(
                Error(ErrorCode::unavailable, std::string(cause.what()), cause.field()));
            return;
        }
        try {
            tx.commit();
        } catch (const BatchFailure& f) {
            lease->rollback_quietly();
            if (!job.error) job.error = std::make_exception_ptr(f.error);
            return;
        }
        if (on_commit_ && tx.committed()) on_commit_(std::chrono::steady_clock::now() - began, 1);
    } catch (...) {
        job.error = std::current_exception();
    }
}

// Gives each job of the group that has not failed on its own, and is not to run again on
// its own, an unavailable error of its own (callers on different threads share nothing).
void GroupCommit::fail_remaining(Group group, const Error& cause) {
    const std::string message =
        std::string("postgres: the write batch was rolled back, nothing of it was written (") +
        cause.what() + ")";
    for (Job* job : group)
        if (!job->error && !job->alone)
            job->error = std::make_exception_ptr(Error(ErrorCode::unavailable, message));
}

}  // namespace chatbotmgr::postgres::detail
