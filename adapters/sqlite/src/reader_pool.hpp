// A fixed set of read connections, each used by one thread at a time. Internal.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "connection.hpp"

namespace chatbotmgr::sqlite::detail {

class ReaderPool {
  public:
    ReaderPool(ConnectionConfig config, std::size_t size);

    // Exclusive use of one read connection until destroyed.
    class Lease {
      public:
        Lease(ReaderPool& pool, std::size_t slot) : pool_(&pool), slot_(slot) {}
        ~Lease() { pool_->release(slot_, discard_); }
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;

        Connection& connection() { return *pool_->slots_[slot_]; }
        // Close this connection when the lease ends (after a fault), so the next user
        // opens a fresh one.
        void discard() noexcept { discard_ = true; }

      private:
        ReaderPool* pool_;
        std::size_t slot_;
        bool discard_ = false;
    };

    // Waits for a free connection, opening it if needed. Throws Error(unavailable) when
    // it cannot be opened.
    Lease acquire();

  private:
    void release(std::size_t slot, bool discard) noexcept;

    const ConnectionConfig config_;
    std::mutex mutex_;
    std::condition_variable freed_;
    // A slot is touched only by the thread holding its lease, so slots_ needs no lock;
    // free_ does.
    std::vector<std::unique_ptr<Connection>> slots_;
    std::vector<std::size_t> free_;
};

}  // namespace chatbotmgr::sqlite::detail
