// API keys and session tokens: bearer secrets that are shown once and stored only as
// SHA-256 digests.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "chatbotmgr/clock.hpp"

namespace chatbotmgr {

using Digest = std::array<unsigned char, 32>;  // SHA-256

// "ob_live_" + 32 lowercase hex digits (16 random bytes).
inline constexpr std::string_view kApiKeyPrefix = "ob_live_";
inline constexpr std::size_t kApiKeyLength = 40;
inline constexpr std::size_t kApiKeyVisiblePrefixLength = 14;  // what api_key_prefix shows
// "ob_sess_" + 64 lowercase hex digits (32 random bytes). Never starts with "ob_live_".
inline constexpr std::string_view kSessionTokenPrefix = "ob_sess_";
inline constexpr std::size_t kSessionTokenLength = 72;

// Syntactic checks only; they say nothing about whether the secret is valid.
// "ob_inv_" + 64 lowercase hex digits (32 random bytes): an invitation token.
inline constexpr std::string_view kInvitationTokenPrefix = "ob_inv_";
inline constexpr std::size_t kInvitationTokenLength = 71;

bool is_api_key_format(std::string_view s) noexcept;
bool is_session_token_format(std::string_view s) noexcept;
bool is_invitation_token_format(std::string_view s) noexcept;
// True for strings that should never be echoed: anything containing one of the prefixes.
bool looks_like_secret(std::string_view s) noexcept;
// At most 64 bytes of an input name, cut at a UTF-8 boundary: what an error or a warning
// may echo of it (check looks_like_secret first; a secret is never echoed).
std::string echoable_prefix(std::string_view name);

std::string generate_api_key(RandomSource& random);
std::string generate_session_token(RandomSource& random);
std::string generate_invitation_token(RandomSource& random);
// A random (version 4) UUID in lowercase canonical 8-4-4-4-12 form.
std::string generate_uuid_v4(RandomSource& random);
// A time-ordered (version 7, RFC 9562) UUID: 48 bits of Unix milliseconds, a 12-bit
// counter (the ids of one process are strictly increasing), then 62 random bits.
std::string generate_uuid_v7(RandomSource& random, std::chrono::system_clock::time_point now);
bool is_canonical_uuid(std::string_view s) noexcept;

Digest sha256(std::string_view data) noexcept;
std::string to_hex(const Digest& d);
// Constant-time equality of two digests.
bool digests_equal(const Digest& a, const Digest& b) noexcept;

}  // namespace chatbotmgr

namespace chatbotmgr {
// Hash for unordered containers keyed by digest: the digest is already uniformly random.
struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept {
        std::size_t h = 0;
        for (std::size_t i = 0; i < sizeof h; ++i) h = (h << 8) | d[i];
        return h;
    }
};
}  // namespace chatbotmgr
