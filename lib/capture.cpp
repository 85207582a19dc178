#include "chatbotmgr/capture.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <unordered_set>

#include "chatbotmgr/chatbot.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/secrets.hpp"
#include "text.hpp"

namespace chatbotmgr {
namespace {

namespace json = boost::json;

[[noreturn]] void invalid(const std::string& field, const std::string& what) {
    throw Error(ErrorCode::invalid_argument, field + " " + what, field);
}

// A string of 1..kMaxExternalIdChars code points.
std::string external_id(const json::value& v, const std::string& field) {
    const auto* s = v.if_string();
    if (!s) detail::throw_wrong_type(field, "a string");
    const auto length = detail::utf8_length(*s);
    if (!length || *length == 0 || *length > kMaxExternalIdChars)
        invalid(field, "must be 1 to " + std::to_string(kMaxExternalIdChars) + " characters");
    return std::string(s->data(), s->size());
}

CapturedMessage message_from_json(const json::value& v, const std::string& field,
                                  std::vector<std::string>& warnings) {
    const auto* obj = v.if_object();
    if (!obj) detail::throw_wrong_type(field, "an object");
    CapturedMessage m;
    bool has_role = false, has_content = false;
    for (const auto& member : *obj) {
        const std::string_view key = member.key();
        const std::string sub = field + "." + std::string(key);
        if (key == "role") {
            const auto* s = member.value().if_string();
            if (!s) detail::throw_wrong_type(sub, "a string");
            if (*s != "user" && *s != "assistant" && *s != "system")
                invalid(sub, "must be \"user\", \"assistant\" or \"system\"");
            m.role.assign(s->data(), s->size());
            has_role = true;
        } else if (key == "content") {
            const auto* s = member.value().if_string();
            if (!s) detail::throw_wrong_type(sub, "a string");
            if (s->size() > kMaxContentBytes)
                invalid(sub, "must be at most " + std::to_string(kMaxContentBytes) + " bytes");
            m.content.assign(s->data(), s->size());
            has_content = true;
        } else if (key == "id") {
            m.external_id = external_id(member.value(), sub);
        } else if (key == "sentAt") {
            const auto* s = member.value().if_string();
            if (!s) detail::throw_wrong_type(sub, "an RFC 3339 date-time string");
            m.sent_at = parse_rfc3339(*s);
            if (!m.sent_at) invalid(sub, "must be an RFC 3339 date-time");
        } else {
            warnings.push_back(field + ": " + detail::describe_unknown_field(key) + " ignored");
        }
    }
    if (!has_role) invalid(field + ".role", "is required");
    if (!has_content) invalid(field + ".content", "is required");
    return m;
}

void check_nested_object(const json::value& v, const std::string& field) {
    if (!v.is_object()) detail::throw_wrong_type(field, "an object");
    if (json_depth(v) > kMaxCaptureObjectDepth)
        invalid(field, "must nest at most " + std::to_string(kMaxCaptureObjectDepth) + " deep");
}

}  // namespace

ParsedCapture capture_from_json(const json::value& body) {
    const auto* obj = body.if_object();
    if (!obj) throw Error(ErrorCode::invalid_argument, "request body must be a JSON object");
    ParsedCapture out;
    CaptureBatch& batch = out.batch;
    json::object metadata;
    bool has_conversation = false, has_messages = false;
    for (const auto& member : *obj) {
        const std::string_view key = member.key();
        const json::value& v = member.value();
        if (key == "conversationId") {
            batch.external_conversation_id = external_id(v, "conversationId");
            has_conversation = true;
        } else if (key == "messages") {
            const auto* arr = v.if_array();
            if (!arr) detail::throw_wrong_type("messages", "an array");
            if (arr->empty() || arr->size() > kMaxCaptureMessages)
                invalid("messages",
                        "must hold 1 to " + std::to_string(kMaxCaptureMessages) + " messages");
            std::unordered_set<std::string> seen_ids;
            batch.messages.reserve(arr->size());
            for (std::size_t i = 0; i < arr->size(); ++i) {
                CapturedMessage m = message_from_json(
                    (*arr)[i], "messages[" + std::to_string(i) + "]", out.warnings);
                // Two messages with the same id in one request are stored once.
                if (m.external_id && !seen_ids.insert(*m.external_id).second) continue;
                batch.messages.push_back(std::move(m));
            }
            has_messages = true;
        } else if (key == "user" || key == "organization" || key == "session") {
            const std::string field(key);
            check_nested_object(v, field);
            if (key == "user") {
                if (const auto* id = v.get_object().if_contains("id")) {
                    if (const auto* s = id->if_string())
                        batch.external_user_id = std::string(s->data(), s->size());
                    else if (id->is_number())
                        batch.external_user_id = to_compact_json(*id);
                    else
                        detail::throw_wrong_type("user.id", "a string or a number");
                }
            }
            metadata[key] = v;
        } else if (key == "custom") {
            if (!v.is_object()) detail::throw_wrong_type("custom", "an object");
            for (const auto& c : v.get_object()) {
                const auto& cv = c.value();
                if (!cv.is_string() && !cv.is_number() && !cv.is_bool())
                    detail::throw_wrong_type(
                        looks_like_secret(c.key()) ? "custom" : "custom." + std::string(c.key()),
                        "a string, number or boolean");
            }
            metadata[key] = v;
        } else {
            out.warnings.push_back(detail::describe_unknown_field(key) + " ignored");
        }
    }
    if (!has_conversation)
        throw Error(ErrorCode::invalid_argument, "conversationId is required", "conversationId");
    if (!has_messages) throw Error(ErrorCode::invalid_argument, "messages is required", "messages");
    batch.metadata_json = to_compact_json(metadata);
    return out;
}

}  // namespace chatbotmgr
