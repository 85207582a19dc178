#include "chatbotmgr/chatbot.hpp"

#include <boost/json/object.hpp>

#include <charconv>
#include <cstdio>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "settings.hpp"
#include "text.hpp"

namespace chatbotmgr {
namespace {

namespace json = boost::json;

const json::object& body_object(const json::value& body) {
    const auto* obj = body.if_object();
    if (!obj) throw Error(ErrorCode::invalid_argument, "request body must be a JSON object");
    return *obj;
}

std::string string_field(const json::value& v, std::string_view field) {
    const auto* s = v.if_string();
    if (!s) detail::throw_wrong_type(field, "a string");
    return std::string(s->data(), s->size());
}

}  // namespace

namespace detail {

void check_settings(const json::value& settings, std::string_view field) {
    if (!settings.is_object()) throw_wrong_type(field, "a JSON object");
    if (json_depth(settings) > kMaxSettingsDepth)
        throw Error(ErrorCode::invalid_argument,
                    "settings must nest at most " + std::to_string(kMaxSettingsDepth) + " deep",
                    "settings");
}

std::string settings_to_json(const json::value& settings) {
    check_settings(settings, "settings");
    std::string text = to_compact_json(settings);
    if (text.size() > kMaxSettingsBytes)
        throw Error(ErrorCode::invalid_argument,
                    "settings must be at most " + std::to_string(kMaxSettingsBytes) +
                        " bytes as compact JSON",
                    "settings");
    return text;
}

}  // namespace detail

std::string normalize_name(std::string_view raw) {
    return detail::normalize_display_name(raw, "name", kMaxNameCodePoints);
}

NewChatbot new_chatbot_from_json(const json::value& body) {
    NewChatbot out;
    bool has_name = false;
    for (const auto& member : body_object(body)) {
        const std::string_view key = member.key();
        if (key == "name") {
            out.name = string_field(member.value(), "name");
            has_name = true;
        } else if (key == "settings") {
            detail::check_settings(member.value(), "settings");
            out.settings = member.value();
        } else {
            detail::throw_unknown_field(key);
        }
    }
    if (!has_name) throw Error(ErrorCode::invalid_argument, "name is required", "name");
    return out;
}

ChatbotPatch chatbot_patch_from_json(const json::value& body) {
    ChatbotPatch out;
    for (const auto& member : body_object(body)) {
        const std::string_view key = member.key();
        if (key == "name") {
            out.name = string_field(member.value(), "name");
        } else if (key == "settings") {
            detail::check_settings(member.value(), "settings");
            out.settings_patch = member.value();
        } else {
            detail::throw_unknown_field(key);
        }
    }
    return out;
}

void append_chatbot_json(std::string& out, const Chatbot& c) {
    out += "{\"id\":";
    append_json_string(out, c.id);
    out += ",\"name\":";
    append_json_string(out, c.name);
    out += ",\"api_key_prefix\":";
    append_json_string(out, c.key_prefix + "...");
    out += ",\"settings\":";
    out += c.settings_json;
    out += ",\"created_at\":\"";
    out += format_rfc3339(c.created_at);
    out += "\"}";
}

std::string to_json(const Chatbot& chatbot) {
    std::string out;
    out.reserve(160 + chatbot.settings_json.size());
    append_chatbot_json(out, chatbot);
    return out;
}

std::string format_rfc3339(Seconds t) {
    using namespace std::chrono;
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{t - day};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()));
    return buf;
}

std::optional<std::chrono::sys_time<std::chrono::milliseconds>> parse_rfc3339(std::string_view s) {
    using namespace std::chrono;
    // date-time = YYYY-MM-DD "T" HH:MM:SS [.frac] ("Z" / ("+"/"-") HH:MM)
    const auto number = [&](std::size_t pos, std::size_t len, int& out) {
        if (pos + len > s.size()) return false;
        for (std::size_t i = pos; i < pos + len; ++i)
            if (s[i] < '0' || s[i] > '9') return false;
        return std::from_chars(s.data() + pos, s.data() + pos + len, out).ec == std::errc{};
    };
    const auto at = [&](std::size_t pos, char a, char b = '\0') {
        return pos < s.size() && (s[pos] == a || (b != '\0' && s[pos] == b));
    };
    int y, mo, d, h, mi, sec;
    if (!number(0, 4, y) || !at(4, '-') || !number(5, 2, mo) || !at(7, '-') || !number(8, 2, d) ||
        !at(10, 'T', 't') || !number(11, 2, h) || !at(13, ':') || !number(14, 2, mi) ||
        !at(16, ':') || !number(17, 2, sec))
        return std::nullopt;
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                             day{static_cast<unsigned>(d)}};
    if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
    std::size_t pos = 19;
    int millis = 0;
    if (at(pos, '.')) {
        std::size_t digits = 0;
        for (++pos; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++digits)
            if (digits < 3) millis = millis * 10 + (s[pos] - '0');
        if (digits == 0) return std::nullopt;
        for (; digits < 3; ++digits) millis *= 10;
    }
    minutes offset{0};
    if (at(pos, 'Z', 'z')) {
        ++pos;
    } else if (at(pos, '+', '-')) {
        const int sign = s[pos] == '-' ? -1 : 1;
        int oh, om;
        if (!number(pos + 1, 2, oh) || !at(pos + 3, ':') || !number(pos + 4, 2, om) || oh > 23 ||
            om > 59)
            return std::nullopt;
        offset = minutes{sign * (oh * 60 + om)};
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != s.size()) return std::nullopt;
    // A leap second (:60) is folded onto the next second.
    return sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} + milliseconds{millis} - offset;
}

}  // namespace chatbotmgr
