#include "writer.hpp"

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <string>
#include <system_error>
#include <utility>

#ifdef __linux__
#include <pthread.h>
#endif

namespace chatbotmgr::sqlite::detail {
namespace {

// The writer whose group this thread is committing, if any. A job that writes through the
// same writer would wait behind its own group: it is refused instead -- unless it comes
// from a grouped call's run() (calling), which writes inside the open group.
thread_local const Writer* committing = nullptr;
thread_local const Writer* calling = nullptr;

// The group's transaction is gone (SQLite rolled it back by itself): nothing of it stays.
Error batch_lost() {
    return Error(ErrorCode::unavailable,
                 "storage unavailable (write batch): the transaction was rolled back, "
                 "nothing was written");
}

// A call submitted to, or still queued in, a writer that is being destroyed.
std::exception_ptr store_closing() {
    return std::make_exception_ptr(
        Error(ErrorCode::unavailable, "storage unavailable: the store is closing"));
}

}  // namespace

Writer::Writer(std::unique_ptr<Connection> initial,
               std::function<std::unique_ptr<Connection>()> open, std::size_t max_batch,
               CommitObserver on_commit)
    : connection_(std::move(initial)),
      open_(std::move(open)),
      max_batch_(max_batch == 0 ? 1 : max_batch),
      on_commit_(std::move(on_commit)) {
    group_.reserve(std::min<std::size_t>(max_batch_, 1024));
}

Writer::~Writer() {
    finish_calls();
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return callers_ == 0; });
}

void Writer::finish_calls() {
    CallQueue& queue = *call_queue_;
    {
        std::lock_guard lock(queue.mutex);
        queue.stopping = true;
    }
    queue.waiting.notify_one();
    if (!calls_thread_.joinable()) return;
    if (calls_thread_.get_id() != std::this_thread::get_id()) {
        calls_thread_.join();
        return;
    }
    // The last owner let go inside a call's completion, on the calls thread itself: it
    // cannot be joined from here. It finishes on its own and refuses what is still queued
    // (the writer is gone by then).
    {
        std::lock_guard lock(queue.mutex);
        queue.writer_gone = true;
    }
    calls_thread_.detach();
}

void Writer::submit_call(std::unique_ptr<GroupCommitCall> call) {
    CallQueue& queue = *call_queue_;
    {
        std::lock_guard lock(queue.mutex);
        try {
            if (!queue.stopping && !calls_thread_.joinable())
                calls_thread_ = std::thread(serve_calls, this, call_queue_);
        } catch (const std::system_error&) {
            // No thread to be had: refused below like a call to a closing store.
        }
        if (!queue.stopping && calls_thread_.joinable())
            queue.calls.push_back(PendingCall{std::move(call), false, nullptr});
    }
    if (call) {
        call->committed(store_closing());
        return;
    }
    queue.waiting.notify_one();
}

// The calls thread: takes every call waiting (up to max_batch) as one group, runs and
// completes it, and again, until the writer stops and nothing waits. Touches the writer
// only while it exists (queue.writer_gone).
void Writer::serve_calls(Writer* writer, std::shared_ptr<CallQueue> shared) {
#ifdef __linux__
    pthread_setname_np(pthread_self(), "sqlite-writer");  // for top -H, perf, gdb
#endif
    CallQueue& queue = *shared;  // held here: the writer's copy may go first
    const std::size_t max_batch = writer->max_batch_;
    std::vector<PendingCall> batch;
    std::unique_lock lock(queue.mutex);
    for (;;) {
        queue.waiting.wait(lock, [&] { return queue.stopping || !queue.calls.empty(); });
        if (queue.calls.empty()) return;
        const auto n = static_cast<std::ptrdiff_t>(std::min(queue.calls.size(), max_batch));
        batch.assign(std::make_move_iterator(queue.calls.begin()),
                     std::make_move_iterator(queue.calls.begin() + n));
        queue.calls.erase(queue.calls.begin(), queue.calls.begin() + n);
        const bool gone = queue.writer_gone;
        lock.unlock();
        if (gone) {
            for (PendingCall& p : batch) p.call->committed(store_closing());
        } else {
            writer->run_calls(batch);
        }
        batch.clear();  // the calls are done with: destroyed off the lock
        lock.lock();
    }
}

// Commits the calls as one job of a group, then completes each: a call that wrote hears
// of the group's failure; one that wrote nothing keeps its own answer.
void Writer::run_calls(std::span<PendingCall> calls) {
    CallsJob job(*this, calls);
    std::exception_ptr group_error;
    try {
        submit(job);
    } catch (...) {
        group_error = std::current_exception();
    }
    for (PendingCall& p : calls) {
        p.call->committed(p.error ? p.error : p.wrote ? group_error : nullptr);
    }
}

// Runs each call with its writes going into the open transaction (run_nested). If the
// transaction dies under one of them, the calls after it are refused their writes, and
// this job fails, so the group's jobs all fail with it.
void Writer::CallsJob::execute(Connection&) {
    writer.group_broken_ = false;
    for (PendingCall& p : calls) {
        writer.running_call_ = &p;
        calling = &writer;
        try {
            p.call->run();
        } catch (...) {
            p.error = std::current_exception();
        }
        calling = nullptr;
        writer.running_call_ = nullptr;
    }
    if (writer.group_broken_) throw batch_lost();
}

// A store write from inside a grouped call: its own savepoint in the open transaction.
void Writer::run_nested(Job& job) {
    if (group_broken_) {
        throw batch_lost();
    }
    calling = nullptr;  // the body itself may not write
    const bool alive = run_in_savepoint(job);
    calling = this;
    if (!alive) group_broken_ = true;
    if (job.error) std::rethrow_exception(std::move(job.error));
    if (running_call_) running_call_->wrote = true;
}

void Writer::bump_after_commit(std::atomic<std::uint64_t>& counter) {
    if (committing == this) {
        bump_after_commit_.push_back(&counter);
    } else {
        ++counter;
    }
}

// Queues the job and waits until it is done, or until it reaches the front of the queue:
// then this caller commits the group that starts with its job.
void Writer::submit(Job& job) {
    if (committing == this) {
        if (calling == this) return run_nested(job);
        throw Error(ErrorCode::internal, "store write issued from inside a write callback");
    }
    std::unique_lock lock(mutex_);
    ++callers_;
    if (back_) {
        back_->next = &job;
    } else {
        front_ = &job;
    }
    back_ = &job;
    job.wake.wait(lock, [&] { return job.done || front_ == &job; });
    if (!job.done) lead(lock);
    if (--callers_ == 0) idle_.notify_all();
    lock.unlock();
    if (job.error) std::rethrow_exception(std::move(job.error));
}

// Called by the caller at the front of the queue, with the lock held. Takes the group (its
// own job and up to max_batch - 1 queued behind it), commits it without the lock, then
// wakes each caller of the group and hands the front to the next caller in line.
void Writer::lead(std::unique_lock<std::mutex>& lock) {
    group_.clear();
    for (Job* job = front_; job && group_.size() < max_batch_; job = job->next) {
        group_.push_back(job);
    }
    lock.unlock();
    committing = this;
    commit(group_);
    committing = nullptr;
    // Whatever the outcome (a failed COMMIT may still have reached the disk), before anyone
    // of the group hears of it.
    for (std::atomic<std::uint64_t>* counter : bump_after_commit_) ++*counter;
    bump_after_commit_.clear();
    lock.lock();
    front_ = group_.back()->next;
    if (!front_) back_ = nullptr;
    for (Job* job : group_) {
        job->done = true;
        job->wake.notify_one();
    }
    if (front_) front_->wake.notify_one();
}

// One transaction for the group: (re)open the connection if needed -> BEGIN -> each job
// in its own savepoint -> COMMIT (one fsync for all). A job that throws is rolled back
// alone and keeps its exception; the others are committed together. Sets the outcome of
// every job of the group.
void Writer::commit(Group group) noexcept {
    if (auto error = open_if_needed()) return fail_remaining(group, *error);
    const auto began = std::chrono::steady_clock::now();
    if (auto error = exec("BEGIN IMMEDIATE", "begin write transaction")) {
        return fail_remaining(group, *error);
    }
    for (Job* job : group) {
        if (run_in_savepoint(*job)) continue;
        // The transaction is gone (SQLite rolled it back by itself, e.g. after SQLITE_FULL
        // or an I/O error), and with it the work of the jobs that ran before this one.
        // No replay: a job's body runs at most once, because it may run user code (the
        // mutate callback of a store's update) that must not run twice for one call. So
        // every job of the group that has not failed on its own fails with unavailable,
        // including those that have not run yet: none of them wrote anything, so "a
        // method that throws has written nothing" (storage.hpp) holds.
        abandon_transaction();
        return fail_remaining(group, batch_lost());
    }
    if (auto error = exec("COMMIT", "commit")) {
        abandon_transaction();
        return fail_remaining(group, *error);
    }
    if (on_commit_) {
        std::size_t writes = 0;
        for (const Job* job : group) writes += job->writes;
        on_commit_(std::chrono::steady_clock::now() - began, writes);
    }
}

// Runs the job inside SAVEPOINT job. If it throws, the job gets its error and the
// savepoint is rolled back. Returns false when the transaction did not survive.
bool Writer::run_in_savepoint(Job& job) {
    Connection& c = *connection_;
    try {
        c.exec_prepared("SAVEPOINT job");
        job.execute(c);
        c.exec_prepared("RELEASE job");
        return true;
    } catch (...) {
        job.error = job_error(job);
    }
    if (!c.in_transaction()) return false;
    try {
        c.exec_prepared("ROLLBACK TO job");
        c.exec_prepared("RELEASE job");
        return true;
    } catch (const SQLite::Exception& e) {
        if (needs_reopen(e)) reopen_ = true;
        return false;
    }
}

// Opens a new connection if there is none, or if the last one saw a fault.
std::optional<Error> Writer::open_if_needed() {
    if (connection_ && !reopen_) return std::nullopt;
    connection_.reset();
    try {
        connection_ = open_();
        reopen_ = false;
        return std::nullopt;
    } catch (const Error& e) {
        return e;
    } catch (const std::exception& e) {
        return Error(ErrorCode::unavailable,
                     std::string("cannot reopen the database: ") + e.what());
    } catch (...) {
        return Error(ErrorCode::unavailable, "cannot reopen the database");
    }
}

std::optional<Error> Writer::exec(const char* sql, const char* operation) {
    try {
        connection_->exec_prepared(sql);
        return std::nullopt;
    } catch (const SQLite::Exception& e) {
        if (needs_reopen(e)) reopen_ = true;
        return to_error(e, operation);
    }
}

// Ends a transaction that will not commit. A connection that cannot roll back is replaced
// before the next group.
void Writer::abandon_transaction() {
    if (connection_->in_transaction()) connection_->try_exec("ROLLBACK");
    if (connection_->in_transaction()) reopen_ = true;
}

// The error of a job whose body threw (called from inside the handler).
std::exception_ptr Writer::job_error(const Job& job) {
    try {
        throw;
    } catch (const SQLite::Exception& e) {
        if (needs_reopen(e)) reopen_ = true;
        return std::make_exception_ptr(
            to_error(e, job.operation, job.conflict_message ? job.conflict_message : ""));
    } catch (...) {
        return std::current_exception();
    }
}

// Gives each job of the group that has not failed on its own an error like error. Each
// gets an exception object and message of its own (a copied std::runtime_error would share
// its message buffer): callers on different threads share nothing.
void Writer::fail_remaining(Group group, const Error& error) {
    for (Job* job : group) {
        if (!job->error) {
            job->error = std::make_exception_ptr(
                Error(error.code(), std::string(error.what()), error.field()));
        }
    }
}

}  // namespace chatbotmgr::sqlite::detail
