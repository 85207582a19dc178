// Internal: the limits a Server applies across connections -- open connections per client
// address, and the bytes of request bodies being read at once.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>

namespace chatbotmgr::beast::detail {

// The open connections of each client address: at most `limit` per address (0: no limit).
// An IPv6 client counts by its /64, the block one subscriber gets, so that it cannot open
// `limit` connections from each of its 2^64 addresses; an IPv4-mapped IPv6 address counts
// as the IPv4 address. Memory: one entry per address with an open connection.
// Thread-safe.
class ConnectionLimiter {
  public:
    using Key = std::array<unsigned char, 16>;

    explicit ConnectionLimiter(std::size_t limit) : limit_(limit) {}

    // The address as 16 bytes, an IPv4 address (or an IPv4-mapped IPv6 one) as IPv4-mapped
    // IPv6 (::ffff:a.b.c.d).
    static Key address_bytes(const boost::asio::ip::address& address) noexcept;
    // What the limit counts by: address_bytes, an IPv6 address cut to its /64.
    static Key key_of(const boost::asio::ip::address& address) noexcept;

    // Counts one more connection of key; false (and nothing counted) when it has `limit`.
    bool try_acquire(const Key& key);
    // One connection of key has closed.
    void release(const Key& key);
    // Open connections of key.
    std::size_t count(const Key& key) const;

  private:
    struct KeyHash {
        std::size_t operator()(const Key& k) const noexcept;
    };
    const std::size_t limit_;
    mutable std::mutex mutex_;
    std::unordered_map<Key, std::size_t, KeyHash> open_;
};

// Bytes of request bodies being read or waiting for their answer, over all connections:
// at most `limit` (0: no limit). A reservation larger than the whole budget is granted only
// while nothing else is reserved, so a limit below a route's body limit slows that route
// down instead of shutting it. Lock-free.
class BodyBudget {
  public:
    explicit BodyBudget(std::uint64_t limit) : limit_(limit) {}

    bool try_reserve(std::uint64_t bytes) noexcept {
        if (limit_ == 0 || bytes == 0) return true;
        std::uint64_t used = used_.load(std::memory_order_relaxed);
        for (;;) {
            if (used != 0 && (bytes > limit_ || used > limit_ - bytes)) return false;
            if (used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed))
                return true;
        }
    }
    void release(std::uint64_t bytes) noexcept {
        if (limit_ != 0 && bytes != 0) used_.fetch_sub(bytes, std::memory_order_relaxed);
    }
    std::uint64_t used() const noexcept { return used_.load(std::memory_order_relaxed); }

  private:
    const std::uint64_t limit_;
    std::atomic<std::uint64_t> used_{0};
};

}  // namespace chatbotmgr::beast::detail
