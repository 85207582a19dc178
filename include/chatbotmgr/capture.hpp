// Captured conversations: what a chatbot's API key ingests (API.md section 4).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

namespace chatbotmgr {

struct CapturedMessage {
    std::string role;                        // "user", "assistant" or "system"
    std::string content;                     // at most kMaxContentBytes UTF-8 bytes
    std::optional<std::string> external_id;  // dedup key within the conversation
    std::optional<std::chrono::sys_time<std::chrono::milliseconds>> sent_at;
};

// One capture, as ChatbotRegistry::capture takes it. The registry validates every member
// (the rules below, with the same Error::field() names as the HTTP API) before storing.
struct CaptureBatch {
    std::string external_conversation_id;         // the caller's conversationId, 1..200 chars
    std::optional<std::string> external_user_id;  // user.id of the capture, as text
    // Only the members "user", "organization", "session" (objects nesting at most
    // kMaxCaptureObjectDepth deep) and "custom" (an object of strings, numbers, booleans).
    boost::json::object metadata;
    // 1..kMaxCaptureMessages messages in request order. A repeated external_id keeps the
    // first message with it.
    std::vector<CapturedMessage> messages;
};

struct CaptureResult {
    std::string conversation_id;      // internal UUID; stable for (chatbot, external id)
    std::size_t messages_stored = 0;  // new messages only
};

inline constexpr std::size_t kMaxCaptureMessages = 100;
inline constexpr std::size_t kMaxContentBytes = 32'768;
inline constexpr std::size_t kMaxExternalIdChars = 200;
inline constexpr std::size_t kMaxCaptureObjectDepth = 32;

// Checks every rule above and drops messages whose external_id repeats an earlier one.
// Throws Error(invalid_argument) naming the field ("messages[2].role"); indexes count the
// messages as given. ChatbotRegistry::capture calls it; adapters may call it earlier.
void validate_capture(CaptureBatch& batch);

}  // namespace chatbotmgr
