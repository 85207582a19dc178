// The chatbot resource and the inputs that create and change it.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace chatbotmgr {

// One chatbot as stored. Never holds the API key or its digest.
struct Chatbot {
    std::string id;                         // random v4 UUID, lowercase canonical form
    std::string org_id;                     // the owning organization (opaque to the core)
    std::string name;                       // trimmed, 1..100 code points, see normalize_name
    std::string key_prefix;                 // first 14 characters of the current key
    boost::json::object settings;           // {} when never set
    std::chrono::sys_seconds created_at{};  // whole seconds, UTC

    friend bool operator==(const Chatbot&, const Chatbot&) = default;
};

// Input of ChatbotRegistry::create.
struct NewChatbot {
    std::string name;
    boost::json::object settings;  // at most kMaxSettingsDepth deep, kMaxSettingsBytes compact
};

// Input of ChatbotRegistry::update. Absent members are left as they are.
struct ChatbotPatch {
    std::optional<std::string> name;
    std::optional<boost::json::object> settings_patch;  // RFC 7396 merge patch
};

// Limits of API.md section 1.
inline constexpr std::size_t kMaxNameCodePoints = 100;
inline constexpr std::size_t kMaxSettingsDepth = 32;
inline constexpr std::size_t kMaxSettingsBytes = 65'536;

// The name rule: returns the trimmed name, or throws Error(invalid_argument, field "name").
// Rejected anywhere in a name: C0 and C1 controls, DEL, bidirectional controls
// (U+061C, U+200E/F, U+202A-U+202E, U+2066-U+2069), U+2028/U+2029; and names made only of
// invisible characters (U+200B-U+200D, U+2060, U+FEFF).
std::string normalize_name(std::string_view raw);

// "YYYY-MM-DDTHH:MM:SSZ".
std::string format_rfc3339(std::chrono::sys_seconds t);
// The same, appended to out (no temporary string).
void append_rfc3339(std::string& out, std::chrono::sys_seconds t);
// Parses RFC 3339 date-times (any offset, optional fraction); nullopt when malformed.
std::optional<std::chrono::sys_time<std::chrono::milliseconds>> parse_rfc3339(
    std::string_view text);

}  // namespace chatbotmgr
