// The chatbot resource and the inputs that create and change it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace chatbotmgr {

using Seconds = std::chrono::sys_seconds;

// One chatbot as stored. Never holds the API key or its digest.
struct Chatbot {
    std::string id;             // random v4 UUID, lowercase canonical form
    std::string org_id;         // the owning organization (opaque to the core)
    std::string name;           // trimmed, 1..100 code points, no control characters
    std::string key_prefix;     // first 14 characters of the current key ("ob_live_" + 6 hex)
    std::string settings_json;  // compact JSON text of an object; "{}" when never set
    Seconds created_at{};       // whole seconds, UTC

    friend bool operator==(const Chatbot&, const Chatbot&) = default;
};

// Input of ChatbotRegistry::create.
struct NewChatbot {
    std::string name;
    std::optional<boost::json::value> settings;  // must be an object; absent means {}
};

// Input of ChatbotRegistry::update. Absent members are left as they are.
struct ChatbotPatch {
    std::optional<std::string> name;
    std::optional<boost::json::value> settings_patch;  // RFC 7396 merge patch; must be an object
};

// Limits of API.md section 1.
inline constexpr std::size_t kMaxNameCodePoints = 100;
inline constexpr std::size_t kMaxSettingsDepth = 32;
inline constexpr std::size_t kMaxSettingsBytes = 65'536;

// Request bodies as JSON values -> inputs, with every rule of API.md sections 1 and 8:
// object body, unknown top-level fields rejected (named unless they look like a secret),
// null or wrong types rejected. Throws Error(invalid_argument) naming the field.
NewChatbot new_chatbot_from_json(const boost::json::value& body);
ChatbotPatch chatbot_patch_from_json(const boost::json::value& body);

// The name rule: returns the trimmed name, or throws Error(invalid_argument, field "name").
std::string normalize_name(std::string_view raw);

// Appends the API representation of a chatbot (API.md section 1) to out, splicing
// settings_json without re-parsing it.
void append_chatbot_json(std::string& out, const Chatbot& chatbot);
std::string to_json(const Chatbot& chatbot);

// "YYYY-MM-DDTHH:MM:SSZ".
std::string format_rfc3339(Seconds t);
// Parses RFC 3339 date-times (any offset, optional fraction); nullopt when malformed.
std::optional<std::chrono::sys_time<std::chrono::milliseconds>> parse_rfc3339(
    std::string_view text);

}  // namespace chatbotmgr
