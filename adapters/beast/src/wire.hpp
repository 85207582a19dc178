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
// more than 64 bytes of a member name (echoable_prefix, secrets.hpp), nor a name that
// looks like a secret.
// Each parses within limits (depth, parsed size: JsonLimits, json.hpp); past them it
// throws Error(invalid_argument) before the value is complete. The one-argument forms use
// the default JsonLimits (depth 64, no size limit).
//
// Encoders write the answers. Settings and metadata numbers come out as JavaScript's
// JSON.stringify writes them (to_compact_json, json.hpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/capture.hpp"
#include "chatbotmgr/chatbot.hpp"
#include "chatbotmgr/journal.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/registry.hpp"

namespace chatbotmgr::beast::wire {

// Capture answers list at most this many warnings, then one line that counts the rest.
inline constexpr std::size_t kMaxWarnings = 20;

// ---- Request bodies

// POST /api/v1/chatbots: {"name": string, "settings"?: object, "key_expires_at"?: RFC 3339}.
struct CreateRequest {
    NewChatbot chatbot;
    std::optional<std::chrono::sys_seconds> key_expires_at;  // floored to whole seconds
};
CreateRequest decode_new_chatbot(std::string_view body, const JsonLimits& limits);
inline CreateRequest decode_new_chatbot(std::string_view body) {
    return decode_new_chatbot(body, JsonLimits{});
}
// POST /api/v1/chatbots/{id}/rotate-key: empty, or {"grace_seconds"?: integer,
// "key_expires_at"?: RFC 3339}. The ranges are the core's rules (rotate_key).
RotateOptions decode_rotate(std::string_view body, const JsonLimits& limits);
// PATCH /api/v1/chatbots/{id}: {"name"?: string, "settings"?: object}.
ChatbotPatch decode_chatbot_patch(std::string_view body, const JsonLimits& limits);
inline ChatbotPatch decode_chatbot_patch(std::string_view body) {
    return decode_chatbot_patch(body, JsonLimits{});
}

// POST /api/v1/capture, with the unknown members it tolerated.
struct CaptureRequest {
    CaptureBatch batch;  // not yet validated: ChatbotRegistry::capture does that
    // "unknown field "x" ignored", "messages[2]: unknown field "y" ignored", ...: at most
    // kMaxWarnings, then "and N more unknown fields ignored".
    std::vector<std::string> warnings;
};
CaptureRequest decode_capture(std::string_view body, const JsonLimits& limits);
inline CaptureRequest decode_capture(std::string_view body) {
    return decode_capture(body, JsonLimits{});
}

// POST /api/v1/auth/login: {"email": string, "password": string}.
struct LoginRequest {
    std::string email;
    std::string password;
};
LoginRequest decode_login(std::string_view body, const JsonLimits& limits);
inline LoginRequest decode_login(std::string_view body) {
    return decode_login(body, JsonLimits{});
}

// POST /api/v1/invitations: {"email": string, "role": role name}.
struct InvitationRequest {
    std::string email;
    Role role = Role::member;
};
InvitationRequest decode_invitation(std::string_view body, const JsonLimits& limits);
// PATCH /api/v1/members/{id}: {"role": role name}.
Role decode_role_change(std::string_view body, const JsonLimits& limits);
// POST /api/v1/invitations/accept: {"token": string, "password": string}.
struct AcceptRequest {
    std::string token;
    std::string password;
};
AcceptRequest decode_accept(std::string_view body, const JsonLimits& limits);

// Every route that takes no body (GET, HEAD, DELETE, rotate-key, logout): empty or {}.
void decode_no_body(std::string_view body, const JsonLimits& limits);
inline void decode_no_body(std::string_view body) {
    decode_no_body(body, JsonLimits{});
}

// "unknown field "x"" -- or just "unknown field" when x looks like a secret.
std::string describe_unknown_field(std::string_view name);

// ---- Query strings (API.md section 15)

// The page a list request asks for: nullopt when its query has neither "limit" nor
// "cursor" (the whole list, as in v1; other parameters are ignored). "limit" is a decimal
// integer from 1 to max_limit (default_limit when only a cursor is given); "cursor" one
// that encode_page_cursor made for this list and organization. Anything else: 400 naming
// the parameter.
std::optional<PageRequest> decode_page_query(std::string_view target, std::string_view list,
                                             std::string_view org_id, std::size_t default_limit,
                                             std::size_t max_limit);
// Link: <path?[kept_query&]limit=N&cursor=C>; rel="next".
std::string next_page_link(std::string_view path, std::string_view list, std::string_view org_id,
                           std::size_t limit, const PagePosition& next,
                           std::string_view kept_query = {});
// The filters of GET /api/v1/audit-events (API.md section 13): action (an audit action's
// name), target_id, actor_id (1 to 256 bytes), since and until (RFC 3339, floored to the
// second; since inclusive, until exclusive). Anything malformed: 400 naming the parameter.
AuditQuery decode_audit_query(std::string_view target);
// Those filters as the request sent them (still encoded), for the next page's Link.
std::string audit_filter_query(std::string_view target);

// ---- Answers

// A chatbot (API.md section 1): id, name, api_key_prefix, settings, created_at.
std::string encode_chatbot(const Chatbot& chatbot);
// The chatbots of GET /api/v1/chatbots, as an array.
std::string encode_chatbot_list(const std::vector<Chatbot>& chatbots);
// {"ok":true,"chatbot":{...},"apiKey":"ob_live_..."} of create and rotate-key.
// {"ok":true,"chatbot":...,"apiKey":...}, and "previousKeyExpiresAt" after a rotation with
// a grace (exactly the v1 bytes without one).
std::string encode_chatbot_with_key(const ChatbotWithKey& created);
// GET /api/v1/chatbots/{id}/key.
std::string encode_keys(const ChatbotKeys& keys);
// DELETE /api/v1/chatbots/{id}/previous-key.
std::string encode_grace_ended(bool revoked);
// {"ok":true,"token":...,"user":{"id","email"},"organization":{"id","name"}}.
std::string encode_login(const LoginResult& login);
// {"ok":true,"conversationId":...,"messagesStored":N,"analysisQueued":false,"warnings":[...]}.
std::string encode_capture(const CaptureResult& result, const std::vector<std::string>& warnings);
// GET /api/v1/auth/session:
// {"ok":true,"user":{"id","email"},"organization":{"id","name"},"role":...}.
std::string encode_session(const User& user, const Organization& organization);
// A member: {"user_id","email","role","created_at"}; GET /api/v1/members: an array.
std::string encode_member(const User& user);
std::string encode_member_list(const std::vector<User>& users);
// An invitation: {"id","email","role","created_at","expires_at"}; a list: an array.
std::string encode_invitation_list(const std::vector<Invitation>& invitations);
// GET /api/v1/audit-events: an array of events (API.md section 13); empty members are null.
std::string encode_audit_events(const std::vector<AuditEvent>& events);
// {"ok":true,"invitation":{...},"token":"ob_inv_..."} of POST /api/v1/invitations.
std::string encode_invitation_with_token(const InvitationWithToken& created);
// {"ok":true}.
std::string encode_ok();
// {"ok":false,"error":{"code":...,"message":...[,"required_role":...]}}.
std::string encode_error(std::string_view code, std::string_view message,
                         std::optional<Role> required_role = std::nullopt);

}  // namespace chatbotmgr::beast::wire
