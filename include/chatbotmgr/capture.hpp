// Captured conversations: what POST /api/v1/capture ingests (API.md section 4).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/fwd.hpp>

namespace chatbotmgr {

struct CapturedMessage {
    std::string role;                        // "user", "assistant" or "system"
    std::string content;                     // at most 32,768 UTF-8 bytes
    std::optional<std::string> external_id;  // dedup key within the conversation
    std::optional<std::chrono::sys_time<std::chrono::milliseconds>> sent_at;
};

struct CaptureBatch {
    std::string external_conversation_id;         // the caller's conversationId, 1..200 chars
    std::optional<std::string> external_user_id;  // user.id when given as a string
    std::string metadata_json = "{}";  // {"user":..,"organization":..,"session":..,"custom":..}
    // Messages in request order; a repeated external_id within the batch is already
    // removed (first one kept), so stores only dedup against what is stored.
    std::vector<CapturedMessage> messages;
};

struct CaptureResult {
    std::string conversation_id;      // internal UUID; stable for (chatbot, external id)
    std::size_t messages_stored = 0;  // new messages only
};

// A validated capture body plus the unknown top-level fields it tolerated.
struct ParsedCapture {
    CaptureBatch batch;
    std::vector<std::string> warnings;
};

inline constexpr std::size_t kMaxCaptureMessages = 100;
inline constexpr std::size_t kMaxContentBytes = 32'768;
inline constexpr std::size_t kMaxExternalIdChars = 200;
inline constexpr std::size_t kMaxCaptureObjectDepth = 32;

// Validates a capture body (API.md sections 4 and 8). Throws Error(invalid_argument)
// naming the field ("messages[2].role").
ParsedCapture capture_from_json(const boost::json::value& body);

}  // namespace chatbotmgr
