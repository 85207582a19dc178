// A chatbot's API keys as stored and reported (API.md sections 11 and 12): a current key
// and at most one previous key that lives on through a rotation's grace period. These
// values never hold a key itself, only its digest and visible prefix.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "chatbotmgr/secrets.hpp"

namespace chatbotmgr {

// Which of a chatbot's keys an API key is. previous is only ever the old key of a rotation
// with a grace period.
enum class KeySlot { current, previous };

// A key being issued, as the store keeps it.
struct NewKey {
    Digest digest{};
    std::string prefix;                                  // first kApiKeyVisiblePrefixLength chars
    std::chrono::sys_seconds issued_at{};                // whole seconds, UTC
    std::optional<std::chrono::sys_seconds> expires_at;  // none: never expires
};

// One key as GET /api/v1/chatbots/{id}/key reports it.
struct KeyState {
    std::string prefix;
    std::chrono::sys_seconds issued_at{};
    // For a current key: its own expiry. For a previous key: when it stops being accepted
    // -- the grace end, or the key's own expiry if that comes first.
    std::optional<std::chrono::sys_seconds> expires_at;
    // The latest successful capture with this key that has been written back (it lags
    // the truth by up to the registry's usage flush interval, and is never later).
    std::optional<std::chrono::sys_seconds> last_used_at;
    friend bool operator==(const KeyState&, const KeyState&) = default;
};

// Both keys of one chatbot.
struct ChatbotKeys {
    KeyState current;
    std::optional<KeyState> previous;
    friend bool operator==(const ChatbotKeys&, const ChatbotKeys&) = default;
};

// "This key was used successfully at this time": what the registry writes back in batches.
struct KeyUsage {
    Digest digest{};
    std::chrono::sys_seconds last_used_at{};
};

// Limits of API.md sections 11 and 12.
inline constexpr std::chrono::seconds kMaxGracePeriod{604'800};       // 7 days
inline constexpr std::chrono::seconds kMaxKeyLifetime{366 * 86'400};  // 366 days

}  // namespace chatbotmgr
