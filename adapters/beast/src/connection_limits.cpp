#include "connection_limits.hpp"

#include <algorithm>

namespace chatbotmgr::beast::detail {

ConnectionLimiter::Key ConnectionLimiter::address_bytes(
    const boost::asio::ip::address& address) noexcept {
    Key key{};
    if (address.is_v4()) {
        const auto bytes = address.to_v4().to_bytes();
        key[10] = key[11] = 0xff;
        std::copy(bytes.begin(), bytes.end(), key.begin() + 12);
        return key;
    }
    const auto bytes = address.to_v6().to_bytes();  // an IPv4-mapped one is mapped already
    std::copy(bytes.begin(), bytes.end(), key.begin());
    return key;
}

ConnectionLimiter::Key ConnectionLimiter::key_of(const boost::asio::ip::address& address) noexcept {
    Key key = address_bytes(address);
    if (address.is_v6() && !address.to_v6().is_v4_mapped())
        std::fill(key.begin() + 8, key.end(), 0);  // the /64
    return key;
}

std::size_t ConnectionLimiter::KeyHash::operator()(const Key& k) const noexcept {
    // FNV-1a: the keys come from clients, but the map only ever holds the addresses that
    // have a connection open, so collisions cannot grow it.
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : k) h = (h ^ c) * 1099511628211ULL;
    return static_cast<std::size_t>(h);
}

bool ConnectionLimiter::try_acquire(const Key& key) {
    std::lock_guard lock(mutex_);
    std::size_t& n = open_[key];
    if (limit_ != 0 && n >= limit_) return false;
    ++n;
    return true;
}

void ConnectionLimiter::release(const Key& key) {
    std::lock_guard lock(mutex_);
    auto it = open_.find(key);
    if (it == open_.end()) return;
    if (--it->second == 0) open_.erase(it);
}

std::size_t ConnectionLimiter::count(const Key& key) const {
    std::lock_guard lock(mutex_);
    auto it = open_.find(key);
    return it == open_.end() ? 0 : it->second;
}

}  // namespace chatbotmgr::beast::detail
