#include "pool.hpp"

#include <string>
#include <utility>

namespace chatbotmgr::postgres::detail {

Pool::Pool(ConnectSettings settings, std::size_t size, std::chrono::milliseconds acquire_timeout)
    : settings_(std::move(settings)), size_(size), acquire_timeout_(acquire_timeout) {}

Pool::~Pool() = default;

Pool::Lease Pool::acquire() {
    const auto deadline = std::chrono::steady_clock::now() + acquire_timeout_;
    std::unique_lock lock(mutex_);
    for (;;) {
        while (!idle_.empty()) {
            std::unique_ptr<Connection> conn = std::move(idle_.back());
            idle_.pop_back();
            if (conn->reusable()) return Lease(*this, std::move(conn));
            // Stale (server restarted, backend terminated): drop it and open a fresh one.
            --open_;
            lock.unlock();
            conn.reset();
            lock.lock();
        }
        if (open_ < size_) {
            ++open_;  // reserve the slot, then connect without holding the lock
            lock.unlock();
            try {
                return Lease(*this, Connection::open(settings_));
            } catch (...) {
                lock.lock();
                --open_;
                freed_.notify_one();
                throw;
            }
        }
        if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
            open_ >= size_)
            throw Error(ErrorCode::unavailable, "postgres: all " + std::to_string(size_) +
                                                    " pooled connections stayed busy past the "
                                                    "acquire timeout");
    }
}

void Pool::release(std::unique_ptr<Connection> conn) noexcept {
    // reusable() also rejects a connection left inside a transaction.
    const bool keep = conn->reusable();
    if (!keep) conn.reset();
    std::lock_guard lock(mutex_);
    if (keep)
        idle_.push_back(std::move(conn));
    else
        --open_;
    freed_.notify_one();
}

std::size_t Pool::open_connections() const {
    std::lock_guard lock(mutex_);
    return open_;
}

}  // namespace chatbotmgr::postgres::detail
