#include "chatbotmgr/capture.hpp"

#include <boost/json/value.hpp>

#include <string>
#include <unordered_set>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/secrets.hpp"
#include "settings.hpp"
#include "text.hpp"

namespace chatbotmgr {
namespace {

namespace json = boost::json;

[[noreturn]] void invalid(const std::string& field, const std::string& what) {
    throw Error(ErrorCode::invalid_argument, field + " " + what, field);
}

// A string of 1..kMaxExternalIdChars code points.
void check_external_id(std::string_view id, const std::string& field) {
    const auto length = detail::utf8_length(id);
    if (!length || *length == 0 || *length > kMaxExternalIdChars)
        invalid(field, "must be 1 to " + std::to_string(kMaxExternalIdChars) + " characters");
}

void check_message(const CapturedMessage& m, const std::string& field) {
    if (m.role != "user" && m.role != "assistant" && m.role != "system")
        invalid(field + ".role", "must be \"user\", \"assistant\" or \"system\"");
    if (m.content.size() > kMaxContentBytes)
        invalid(field + ".content",
                "must be at most " + std::to_string(kMaxContentBytes) + " bytes");
    if (!detail::utf8_length(m.content)) invalid(field + ".content", "must be valid UTF-8");
    if (m.external_id) check_external_id(*m.external_id, field + ".id");
}

void check_metadata(const json::object& metadata) {
    for (const auto& member : metadata) {
        const std::string_view key = member.key();
        const json::value& v = member.value();
        if (key == "user" || key == "organization" || key == "session") {
            const std::string field(key);
            if (!v.is_object()) invalid(field, "must be an object");
            detail::check_json_value(v, field, kMaxCaptureObjectDepth);
        } else if (key == "custom") {
            if (!v.is_object()) invalid("custom", "must be an object");
            for (const auto& c : v.get_object()) {
                const auto& cv = c.value();
                const std::string field = looks_like_secret(c.key())
                                              ? std::string("custom")
                                              : "custom." + echoable_prefix(c.key());
                if (!cv.is_string() && !cv.is_number() && !cv.is_bool())
                    invalid(field, "must be a string, number or boolean");
            }
            detail::check_json_value(v, "custom", 1);
        } else {
            // Only the adapter decides what to do with unknown input fields; the core stores
            // exactly the four documented members.
            invalid("metadata", "holds only user, organization, session and custom");
        }
    }
}

}  // namespace

void validate_capture(CaptureBatch& batch) {
    check_external_id(batch.external_conversation_id, "conversationId");
    if (batch.external_user_id && !detail::utf8_length(*batch.external_user_id))
        invalid("user.id", "must be valid UTF-8");
    check_metadata(batch.metadata);
    if (batch.messages.empty() || batch.messages.size() > kMaxCaptureMessages)
        invalid("messages", "must hold 1 to " + std::to_string(kMaxCaptureMessages) + " messages");
    for (std::size_t i = 0; i < batch.messages.size(); ++i)
        check_message(batch.messages[i], "messages[" + std::to_string(i) + "]");
    // Two messages with the same id in one batch are stored once: the first one.
    std::unordered_set<std::string> seen;
    std::erase_if(batch.messages, [&](const CapturedMessage& m) {
        return m.external_id && !seen.insert(*m.external_id).second;
    });
}

}  // namespace chatbotmgr
