// Group commit: one writer connection, owned by one thread, commits the writes of every
// waiting caller in one transaction. Internal.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "connection.hpp"

namespace chatbotmgr::sqlite::detail {

class Writer {
  public:
    // initial: the already opened (and migrated) writer connection. open: how to open a
    // new one after a fault that needs it.
    Writer(std::unique_ptr<Connection> initial, std::function<std::unique_ptr<Connection>()> open,
           std::size_t max_batch);
    // Commits everything queued, then stops the thread and closes the connection.
    ~Writer();
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // Runs body(connection) on the writer thread inside the batch transaction, in its own
    // savepoint, and returns once the batch has committed. If body throws, its savepoint
    // is rolled back and the exception is rethrown here (SQLite exceptions mapped with
    // operation and conflict_message, see to_error); if the commit fails, this throws
    // Error(unavailable). operation and conflict_message must outlive the call.
    template <class F>
    void run(const char* operation, const char* conflict_message, F&& body) {
        Job job;
        job.operation = operation;
        job.conflict_message = conflict_message;
        job.context = &body;
        job.invoke = [](void* context, Connection& c) {
            (*static_cast<std::remove_reference_t<F>*>(context))(c);
        };
        submit(job);
    }

  private:
    struct Job {
        void (*invoke)(void*, Connection&) = nullptr;
        void* context = nullptr;
        const char* operation = "";
        const char* conflict_message = nullptr;
        // Set by the writer before done; owned by the caller from then on, so the
        // writer keeps no reference to an exception its caller is handling.
        std::exception_ptr error;
        std::promise<void> done;
    };

    void submit(Job& job);
    void loop();
    void commit_batch(std::vector<Job*>& batch);
    static void finish(Job& job, std::exception_ptr error);
    static void fail(const std::vector<Job*>& jobs, const Error& error);
    std::exception_ptr job_error(const Job& job);

    std::unique_ptr<Connection> connection_;
    std::function<std::unique_ptr<Connection>()> open_;
    const std::size_t max_batch_;
    bool reopen_ = false;  // the connection saw a fault; open a fresh one before the next batch

    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<Job*> queue_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace chatbotmgr::sqlite::detail
