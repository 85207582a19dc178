// Internal: per-client-address failure counter over fixed windows.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "chatbotmgr/clock.hpp"

namespace chatbotmgr::beast::detail {

// Counts failures per client in a window that opens at the client's first failure and
// lasts `window`. Once max_failures are counted the client is blocked until the window
// has passed. Memory is bounded: at most max_clients entries; when full, expired entries
// are dropped first, then the oldest window. Thread-safe.
class FailureLimiter {
  public:
    FailureLimiter(std::size_t max_failures, std::chrono::seconds window, std::size_t max_clients,
                   std::shared_ptr<Clock> clock);

    // Seconds until the client's window passes when it is blocked; nullopt otherwise.
    std::optional<std::chrono::seconds> blocked(std::string_view client) const;
    // Counts one failure.
    void record_failure(std::string_view client);
    std::size_t tracked_clients() const;

  private:
    using TimePoint = std::chrono::system_clock::time_point;
    struct Entry {
        TimePoint window_start;
        std::size_t failures = 0;
    };
    void make_room(TimePoint now);

    std::size_t max_failures_;
    std::chrono::seconds window_;
    std::size_t max_clients_;
    std::shared_ptr<Clock> clock_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace chatbotmgr::beast::detail
