#include "rate_limiter.hpp"

#include <algorithm>
#include <utility>

namespace chatbotmgr::beast::detail {

FailureLimiter::FailureLimiter(std::size_t max_failures, std::chrono::seconds window,
                               std::size_t max_clients, std::shared_ptr<Clock> clock)
    : max_failures_(max_failures),
      window_(window),
      max_clients_(std::max<std::size_t>(max_clients, 1)),
      clock_(std::move(clock)) {}

std::optional<std::chrono::seconds> FailureLimiter::blocked(std::string_view client) const {
    const TimePoint now = clock_->now();
    std::lock_guard lock(mutex_);
    auto it = entries_.find(std::string(client));
    if (it == entries_.end() || it->second.failures < max_failures_) return std::nullopt;
    const TimePoint end = it->second.window_start + window_;
    if (now >= end) return std::nullopt;
    // Round up, so that a client that waits Retry-After seconds is let in.
    auto left = std::chrono::ceil<std::chrono::seconds>(end - now);
    return std::max(left, std::chrono::seconds(1));
}

void FailureLimiter::record_failure(std::string_view client) {
    const TimePoint now = clock_->now();
    std::lock_guard lock(mutex_);
    auto it = entries_.find(std::string(client));
    if (it == entries_.end()) {
        if (entries_.size() >= max_clients_) make_room(now);
        entries_.emplace(std::string(client), Entry{now, 1});
        return;
    }
    Entry& e = it->second;
    if (now >= e.window_start + window_) {
        e = Entry{now, 1};
    } else if (e.failures < max_failures_) {
        ++e.failures;
    }
}

std::size_t FailureLimiter::tracked_clients() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

void FailureLimiter::make_room(TimePoint now) {
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (now >= it->second.window_start + window_)
            it = entries_.erase(it);
        else
            ++it;
    }
    if (entries_.size() < max_clients_) return;
    // Still full of live windows (many addresses failing at once): forget the oldest,
    // which is the closest to being let in anyway.
    auto oldest = std::min_element(entries_.begin(), entries_.end(), [](auto& a, auto& b) {
        return a.second.window_start < b.second.window_start;
    });
    entries_.erase(oldest);
}

}  // namespace chatbotmgr::beast::detail
