#include "rate_limiter.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>

namespace chatbotmgr::beast::detail {

std::string address_group(std::string_view address) {
    namespace ip = boost::asio::ip;
    boost::system::error_code ec;
    const ip::address a = ip::make_address(std::string(address), ec);
    if (ec) return std::string(address);
    if (a.is_v4()) return a.to_v4().to_string();
    const ip::address_v6 v6 = a.to_v6();
    if (v6.is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, v6).to_string();
    ip::address_v6::bytes_type bytes = v6.to_bytes();
    std::fill(bytes.begin() + 8, bytes.end(), static_cast<unsigned char>(0));
    return ip::address_v6(bytes).to_string() + "/64";
}

FailureLimiter::FailureLimiter(std::size_t max_failures, std::chrono::seconds window,
                               std::size_t max_clients, std::shared_ptr<Clock> clock)
    : max_failures_(std::max<std::size_t>(max_failures, 1)),
      window_(window),
      max_clients_(std::max<std::size_t>(max_clients, 1)),
      clock_(std::move(clock)) {}

std::optional<std::chrono::seconds> FailureLimiter::blocked(std::string_view key) const {
    const TimePoint now = clock_->now();
    std::lock_guard lock(mutex_);
    const auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    const Entry& e = *it->second;
    if (e.failures < max_failures_ || expired(e, now)) return std::nullopt;
    // Round up, so that a client that waits Retry-After seconds is let in.
    const auto left = std::chrono::ceil<std::chrono::seconds>(e.window_start + window_ - now);
    return std::max(left, std::chrono::seconds(1));
}

bool FailureLimiter::record_failure(std::string_view key) {
    const TimePoint now = clock_->now();
    std::lock_guard lock(mutex_);
    drop_expired(now);
    if (const auto it = index_.find(key); it != index_.end()) {
        Entry& e = *it->second;
        if (expired(e, now)) {
            // A new window: the entry moves to the back, where the newest windows are.
            e.window_start = now;
            e.failures = 1;
            order_.splice(order_.end(), order_, it->second);
        } else if (e.failures < max_failures_) {
            ++e.failures;
        }
        return true;
    }
    if (index_.size() >= max_clients_) {
        ++refused_;
        return false;
    }
    order_.push_back(Entry{std::string(key), now, 1});
    const auto last = std::prev(order_.end());
    index_.emplace(std::string_view(last->key), last);
    return true;
}

std::size_t FailureLimiter::tracked_clients() const {
    std::lock_guard lock(mutex_);
    return index_.size();
}

std::size_t FailureLimiter::refused_failures() const {
    std::lock_guard lock(mutex_);
    return refused_;
}

// Windows all last as long, so the entries at the front of order_ pass first. (Should
// the clock step back, an expired entry may wait behind a live one for a while: it only
// takes room, it blocks nobody.)
void FailureLimiter::drop_expired(TimePoint now) {
    while (!order_.empty() && expired(order_.front(), now)) {
        index_.erase(std::string_view(order_.front().key));
        order_.pop_front();
    }
}

}  // namespace chatbotmgr::beast::detail
