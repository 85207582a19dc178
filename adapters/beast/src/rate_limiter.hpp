// Internal: failure counters over fixed windows, keyed by client (address group, or
// address group and account), with memory that an attacker cannot flush.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "chatbotmgr/clock.hpp"

namespace chatbotmgr::beast::detail {

// The rate-limit key of a client address: an IPv4 address as it is (an IPv4-mapped IPv6
// address in its IPv4 form), an IPv6 address as its /64 ("2001:db8:1:2::/64": one
// subscriber or host usually holds a whole /64, so each of its addresses is the same
// client), anything that is not an IP literal (a host's own name for a client) as it is.
std::string address_group(std::string_view address);

// Counts failures per key in a window that opens at the key's first failure and lasts
// `window`. Once max_failures are counted the key is blocked until its window has passed.
//
// Memory is bounded: at most max_clients keys. An entry is dropped only once its window
// has passed -- never earlier, so failing from many other addresses cannot free a blocked
// one. When every entry is live, a failure of a key not yet tracked is not counted
// (record_failure returns false): under such a flood new keys are not limited, rather
// than every new client being refused; docs/SECURITY.md ("Rate-limiter memory") gives
// the reasons. Thread-safe; every call is O(1) amortized.
class FailureLimiter {
  public:
    FailureLimiter(std::size_t max_failures, std::chrono::seconds window, std::size_t max_clients,
                   std::shared_ptr<Clock> clock);

    // Seconds until the key's window passes when it is blocked; nullopt otherwise.
    std::optional<std::chrono::seconds> blocked(std::string_view key) const;
    // Counts one failure. False when it could not be counted: the key is new and the
    // table is full of live windows.
    bool record_failure(std::string_view key);
    std::size_t tracked_clients() const;
    // Failures not counted because the table was full, since construction.
    std::size_t refused_failures() const;

  private:
    using TimePoint = std::chrono::system_clock::time_point;
    struct Entry {
        std::string key;
        TimePoint window_start;
        std::size_t failures = 0;
    };
    using Order = std::list<Entry>;  // by window_start, oldest first

    bool expired(const Entry& e, TimePoint now) const noexcept {
        return now >= e.window_start + window_;
    }
    void drop_expired(TimePoint now);

    std::size_t max_failures_;
    std::chrono::seconds window_;
    std::size_t max_clients_;
    std::shared_ptr<Clock> clock_;
    mutable std::mutex mutex_;
    Order order_;
    std::unordered_map<std::string_view, Order::iterator> index_;  // views into order_
    std::size_t refused_ = 0;
};

}  // namespace chatbotmgr::beast::detail
