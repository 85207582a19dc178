#include "chatbotmgr/secrets.hpp"

#include <algorithm>

#include <sodium.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <span>

#include "sodium_init.hpp"

namespace chatbotmgr {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

void append_hex(std::string& out, std::span<const std::byte> bytes) {
    for (std::byte b : bytes) {
        const auto v = std::to_integer<unsigned>(b);
        out.push_back(kHexDigits[v >> 4]);
        out.push_back(kHexDigits[v & 0xF]);
    }
}

bool is_lower_hex(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool is_prefixed_hex(std::string_view s, std::string_view prefix, std::size_t length) noexcept {
    if (s.size() != length || !s.starts_with(prefix)) return false;
    for (char c : s.substr(prefix.size()))
        if (!is_lower_hex(c)) return false;
    return true;
}

template <std::size_t N>
std::string random_hex_token(RandomSource& random, std::string_view prefix) {
    std::array<std::byte, N> bytes{};
    random.fill(bytes);
    std::string out;
    out.reserve(prefix.size() + 2 * N);
    out.append(prefix);
    append_hex(out, bytes);
    sodium_memzero(bytes.data(), bytes.size());
    return out;
}

}  // namespace

bool is_api_key_format(std::string_view s) noexcept {
    return is_prefixed_hex(s, kApiKeyPrefix, kApiKeyLength);
}

bool is_session_token_format(std::string_view s) noexcept {
    return is_prefixed_hex(s, kSessionTokenPrefix, kSessionTokenLength);
}

bool is_invitation_token_format(std::string_view s) noexcept {
    return is_prefixed_hex(s, kInvitationTokenPrefix, kInvitationTokenLength);
}

bool looks_like_secret(std::string_view s) noexcept {
    // Anywhere, not only at the start: " ob_live_..." or "xob_live_..." still carries a key.
    return s.find(kApiKeyPrefix) != std::string_view::npos ||
           s.find(kSessionTokenPrefix) != std::string_view::npos ||
           s.find(kInvitationTokenPrefix) != std::string_view::npos;
}

std::string generate_api_key(RandomSource& random) {
    return random_hex_token<16>(random, kApiKeyPrefix);
}

std::string generate_session_token(RandomSource& random) {
    return random_hex_token<32>(random, kSessionTokenPrefix);
}

std::string generate_invitation_token(RandomSource& random) {
    return random_hex_token<32>(random, kInvitationTokenPrefix);
}

namespace {

std::string format_uuid(std::array<std::byte, 16> b, unsigned version) {
    b[6] = (b[6] & std::byte{0x0F}) | static_cast<std::byte>(version << 4);
    b[8] = (b[8] & std::byte{0x3F}) | std::byte{0x80};  // RFC 9562 variant
    std::string out;
    out.reserve(36);
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
        append_hex(out, std::span(b).subspan(i, 1));
    }
    return out;
}

}  // namespace

std::string generate_uuid_v4(RandomSource& random) {
    std::array<std::byte, 16> b{};
    random.fill(b);
    return format_uuid(b, 4);
}

std::string generate_uuid_v7(RandomSource& random, std::chrono::system_clock::time_point now) {
    // RFC 9562 section 6.2, method 1: the 12 bits after the milliseconds are a counter, so
    // the ids one process makes are strictly increasing even within a millisecond (and when
    // the clock stands still or steps back).
    static std::mutex mutex;
    static std::uint64_t last = 0;  // milliseconds << 12 | counter
    const auto ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
    std::uint64_t stamp = 0;
    {
        std::lock_guard lock(mutex);
        stamp = std::max(ms << 12, last + 1);
        last = stamp;
    }
    std::array<std::byte, 16> b{};
    random.fill(std::span(b).subspan(8));
    const std::uint64_t high = (stamp >> 12) << 16 | (stamp & 0xFFF);  // version goes between
    for (std::size_t i = 0; i < 8; ++i) b[i] = static_cast<std::byte>(high >> (8 * (7 - i)));
    return format_uuid(b, 7);
}

bool is_canonical_uuid(std::string_view s) noexcept {
    if (s.size() != 36) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash_position ? s[i] != '-' : !is_lower_hex(s[i])) return false;
    }
    return true;
}

Digest sha256(std::string_view data) noexcept {
    Digest d{};
    crypto_hash_sha256(d.data(), reinterpret_cast<const unsigned char*>(data.data()), data.size());
    return d;
}

std::string to_hex(const Digest& d) {
    std::string out;
    out.reserve(2 * d.size());
    append_hex(out, std::as_bytes(std::span(d)));
    return out;
}

bool digests_equal(const Digest& a, const Digest& b) noexcept {
    return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string echoable_prefix(std::string_view name) {
    constexpr std::size_t kMaxEchoedBytes = 64;
    std::size_t cut = std::min(name.size(), kMaxEchoedBytes);
    while (cut < name.size() && cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80)
        --cut;
    return std::string(name.substr(0, cut));
}

}  // namespace chatbotmgr
