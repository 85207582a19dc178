#include "writer.hpp"

#include <string>
#include <utility>

namespace chatbotmgr::sqlite::detail {

Writer::Writer(std::unique_ptr<Connection> initial,
               std::function<std::unique_ptr<Connection>()> open, std::size_t max_batch)
    : connection_(std::move(initial)),
      open_(std::move(open)),
      max_batch_(max_batch == 0 ? 1 : max_batch) {
    thread_ = std::thread([this] { loop(); });
}

Writer::~Writer() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void Writer::submit(Job& job) {
    // A write from inside a job (e.g. an update callback that writes) would wait for the
    // batch it is part of: refuse instead of deadlocking.
    if (std::this_thread::get_id() == thread_.get_id()) {
        throw Error(ErrorCode::internal, "store write issued from inside a write callback");
    }
    std::future<void> done = job.done.get_future();
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(&job);
    }
    wake_.notify_one();
    done.get();
    if (job.error) std::rethrow_exception(std::move(job.error));
}

void Writer::loop() {
    std::vector<Job*> taken;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and everything queued is done
            if (queue_.size() <= max_batch_) {
                taken.swap(queue_);
            } else {
                taken.assign(queue_.begin(), queue_.begin() + static_cast<long>(max_batch_));
                queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(max_batch_));
            }
        }
        commit_batch(taken);
        taken.clear();
    }
}

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

void Writer::finish(Job& job, std::exception_ptr error) {
    job.error = std::move(error);
    job.done.set_value();
}

// Each job gets its own copy of the error: callers on different threads never share one
// exception object.
void Writer::fail(const std::vector<Job*>& jobs, const Error& error) {
    for (Job* job : jobs) finish(*job, std::make_exception_ptr(error));
}

// One transaction for the whole batch, one savepoint per job: a job that throws is rolled
// back alone and its caller gets the exception; the others share one COMMIT (one fsync)
// and are acknowledged only after it.
void Writer::commit_batch(std::vector<Job*>& batch) {
    std::vector<Job*> pending = batch;
    while (!pending.empty()) {
        if (reopen_ || !connection_) {
            connection_.reset();
            try {
                connection_ = open_();
                reopen_ = false;
            } catch (const Error& e) {
                fail(pending, e);
                return;
            } catch (const std::exception& e) {
                fail(pending, Error(ErrorCode::unavailable,
                                    std::string("cannot reopen the database: ") + e.what()));
                return;
            }
        }
        Connection& c = *connection_;
        try {
            c.exec("BEGIN IMMEDIATE");
        } catch (const SQLite::Exception& e) {
            if (needs_reopen(e)) reopen_ = true;
            fail(pending, to_error(e, "begin write transaction"));
            return;
        }

        std::vector<Job*> succeeded;
        std::vector<Job*> retry;
        bool transaction_lost = false;
        for (std::size_t i = 0; i < pending.size(); ++i) {
            Job* job = pending[i];
            std::exception_ptr error;
            try {
                c.exec("SAVEPOINT job");
                job->invoke(job->context, c);
                c.exec("RELEASE job");
                succeeded.push_back(job);
                continue;
            } catch (...) {
                error = job_error(*job);
            }
            // Handed over only after the handler ended, so that the caller holds the last
            // reference to its exception.
            finish(*job, std::move(error));
            // Some errors (disk full, I/O) make SQLite roll back the whole transaction:
            // the jobs that succeeded so far are gone, so they run again in a new one.
            if (!c.in_transaction()) {
                transaction_lost = true;
                retry = std::move(succeeded);
                retry.insert(retry.end(), pending.begin() + static_cast<long>(i) + 1,
                             pending.end());
                break;
            }
            try {
                c.exec("ROLLBACK TO job");
                c.exec("RELEASE job");
            } catch (const SQLite::Exception& e) {
                if (needs_reopen(e)) reopen_ = true;
                if (c.in_transaction()) c.try_exec("ROLLBACK");
                if (c.in_transaction()) reopen_ = true;
                succeeded.insert(succeeded.end(), pending.begin() + static_cast<long>(i) + 1,
                                 pending.end());
                fail(succeeded, to_error(e, "roll back failed write"));
                return;
            }
        }
        if (transaction_lost) {
            // Each round settles at least the job that failed, so this terminates.
            pending = std::move(retry);
            continue;
        }

        try {
            c.exec("COMMIT");
        } catch (const SQLite::Exception& e) {
            if (needs_reopen(e)) reopen_ = true;
            if (c.in_transaction()) c.try_exec("ROLLBACK");
            if (c.in_transaction()) reopen_ = true;
            fail(succeeded, to_error(e, "commit"));
            return;
        }
        for (Job* job : succeeded) finish(*job, nullptr);
        return;
    }
}

}  // namespace chatbotmgr::sqlite::detail
