// Internal: a bounded pool of connections that replaces broken ones by itself.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "connection.hpp"

namespace chatbotmgr::postgres::detail {

class Pool {
  public:
    Pool(ConnectSettings settings, std::size_t size, std::chrono::milliseconds acquire_timeout);
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // A borrowed connection; goes back to the pool (or is dropped when broken or left in
    // a transaction) when the lease ends.
    class Lease {
      public:
        Lease(Pool& pool, std::unique_ptr<Connection> conn)
            : pool_(&pool), conn_(std::move(conn)) {}
        Lease(Lease&& other) noexcept = default;
        Lease& operator=(Lease&&) = delete;
        ~Lease() {
            if (conn_) pool_->release(std::move(conn_));
        }
        Connection& operator*() const noexcept { return *conn_; }
        Connection* operator->() const noexcept { return conn_.get(); }

      private:
        Pool* pool_;
        std::unique_ptr<Connection> conn_;
    };

    // An idle healthy connection, a new one while below the size, or the next one
    // released. Throws Error(unavailable) when connecting fails or none frees up within
    // the acquire timeout.
    Lease acquire();

    // Connections currently open (idle or lent), for tests and stats.
    std::size_t open_connections() const;

  private:
    void release(std::unique_ptr<Connection> conn) noexcept;

    const ConnectSettings settings_;
    const std::size_t size_;
    const std::chrono::milliseconds acquire_timeout_;
    mutable std::mutex mutex_;
    std::condition_variable freed_;
    std::vector<std::unique_ptr<Connection>> idle_;  // most recently used last
    std::size_t open_ = 0;                           // idle + lent + being opened
};

}  // namespace chatbotmgr::postgres::detail
