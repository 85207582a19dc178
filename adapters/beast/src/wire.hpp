// Internal: the API's JSON, in one place -- every request body the API reads and every
// answer it writes (API.md sections 1 and 3 to 8).
//
// Decoders take a request body and give the core's input type. They apply the rules of the
// wire: strict RFC 8259 (parse_json_strict), an object body, each member of the right type
// (null is a wrong type), required members present, unknown top-level members refused and
// named -- except capture, which accepts them and lists them as warnings. The rules about
// values (name, settings limits, the capture limits) belong to the core, which checks them
// for every caller (ChatbotRegistry); the decoders do not repeat them.
// Every decoder throws Error(invalid_argument) naming the field; no message ever quotes
// more than kMaxEchoedNameBytes of a member name, nor a name that looks like a secret.
//
// Encoders write the answers. Settings and metadata numbers come out as JavaScript's
// JSON.stringify writes them (to_compact_json, json.hpp).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/capture.hpp"
#include "chatbotmgr/chatbot.hpp"
#include "chatbotmgr/registry.hpp"

namespace chatbotmgr::beast::wire {

// Longest member name (in bytes, cut at a UTF-8 boundary) an error or warning repeats.
inline constexpr std::size_t kMaxEchoedNameBytes = 64;
// Capture answers list at most this many warnings, then one line that counts the rest.
inline constexpr std::size_t kMaxWarnings = 20;

// ---- Request bodies

// POST /api/v1/chatbots: {"name": string, "settings"?: object}.
NewChatbot decode_new_chatbot(std::string_view body);
// PATCH /api/v1/chatbots/{id}: {"name"?: string, "settings"?: object}.
ChatbotPatch decode_chatbot_patch(std::string_view body);

// POST /api/v1/capture, with the unknown members it tolerated.
struct CaptureRequest {
    CaptureBatch batch;  // not yet validated: ChatbotRegistry::capture does that
    // "unknown field "x" ignored", "messages[2]: unknown field "y" ignored", ...: at most
    // kMaxWarnings, then "and N more unknown fields ignored".
    std::vector<std::string> warnings;
};
CaptureRequest decode_capture(std::string_view body);

// POST /api/v1/auth/login: {"email": string, "password": string}.
struct LoginRequest {
    std::string email;
    std::string password;
};
LoginRequest decode_login(std::string_view body);

// Every route that takes no body (GET, HEAD, DELETE, rotate-key, logout): empty or {}.
void decode_no_body(std::string_view body);

// "unknown field "x"" -- or just "unknown field" when x looks like a secret.
std::string describe_unknown_field(std::string_view name);

// ---- Answers

// A chatbot (API.md section 1): id, name, api_key_prefix, settings, created_at.
std::string encode_chatbot(const Chatbot& chatbot);
// The chatbots of GET /api/v1/chatbots, as an array.
std::string encode_chatbot_list(const std::vector<Chatbot>& chatbots);
// {"ok":true,"chatbot":{...},"apiKey":"ob_live_..."} of create and rotate-key.
std::string encode_chatbot_with_key(const ChatbotWithKey& created);
// {"ok":true,"token":...,"user":{"id","email"},"organization":{"id","name"}}.
std::string encode_login(const LoginResult& login);
// {"ok":true,"conversationId":...,"messagesStored":N,"analysisQueued":false,"warnings":[...]}.
std::string encode_capture(const CaptureResult& result, const std::vector<std::string>& warnings);
// {"ok":true}.
std::string encode_ok();
// {"ok":false,"error":{"code":...,"message":...}}.
std::string encode_error(std::string_view code, std::string_view message);

}  // namespace chatbotmgr::beast::wire
