// Retry-safe calls (API.md section 14): create, rotate_key and invite run at most once per
// Idempotency-Key. The first call's answer is kept for kIdempotencyRetention, written in
// the same transaction as the change; a retry gets it back and changes nothing.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace chatbotmgr {

// One retry-safe call, as the caller received it.
struct IdempotentCall {
    std::string key;        // the Idempotency-Key: 1 to 255 visible ASCII characters
    std::string operation;  // what it does to what, e.g. "POST /api/v1/chatbots"
    std::string request;    // the request body as received (a retry must send the same)
};

// The answer of a retry-safe call: the caller's encoding of the result (encoded once, when
// the call first ran), and whether it is a replay of that first call.
struct IdempotentAnswer {
    std::string body;
    bool replayed = false;
};

// Encodes a call's result as the answer to keep (e.g. the HTTP body).
template <class Result>
using AnswerEncoder = std::function<std::string(const Result&)>;

// How long a call's answer is kept: a retry after this runs as a new call.
inline constexpr std::chrono::hours kIdempotencyRetention{24};
inline constexpr std::size_t kMaxIdempotencyKeyLength = 255;

// 1 to 255 characters from '!' to '~'.
bool is_idempotency_key(std::string_view key) noexcept;

}  // namespace chatbotmgr
