#include "chatbotmgr/chatbot.hpp"

#include <boost/json/object.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "settings.hpp"
#include "text.hpp"

namespace chatbotmgr {
namespace {

namespace json = boost::json;

[[noreturn]] void invalid(std::string_view field, const std::string& what) {
    const std::string f(field);
    throw Error(ErrorCode::invalid_argument, f + " " + what, f);
}

void check_text(std::string_view s, std::string_view field) {
    if (!detail::utf8_length(s)) invalid(field, "must be valid UTF-8");
}

}  // namespace

namespace detail {

void check_json_value(const json::value& value, std::string_view field, std::size_t max_depth,
                      std::size_t enclosing_depth) {
    // Iterative, so no value a C++ host builds can exhaust the stack before it is refused.
    std::vector<std::pair<const json::value*, std::size_t>> pending{{&value, enclosing_depth}};
    while (!pending.empty()) {
        const auto [v, depth] = pending.back();
        pending.pop_back();
        if (const auto* s = v->if_string()) {
            check_text(*s, field);
        } else if (const auto* d = v->if_double()) {
            if (!std::isfinite(*d)) invalid(field, "must hold only finite numbers");
        } else if (v->is_object() || v->is_array()) {
            if (depth + 1 > max_depth)
                invalid(field, "must nest at most " + std::to_string(max_depth) + " deep");
            if (const auto* obj = v->if_object()) {
                for (const auto& member : *obj) {
                    check_text(member.key(), field);
                    pending.emplace_back(&member.value(), depth + 1);
                }
            } else {
                for (const auto& item : v->get_array()) pending.emplace_back(&item, depth + 1);
            }
        }
    }
}

std::string checked_settings_json(const json::object& settings) {
    for (const auto& member : settings) {
        check_text(member.key(), "settings");
        check_json_value(member.value(), "settings", kMaxSettingsDepth, 1);
    }
    std::string text = to_compact_json(settings);
    if (text.size() > kMaxSettingsBytes)
        invalid("settings",
                "must be at most " + std::to_string(kMaxSettingsBytes) + " bytes as compact JSON");
    return text;
}

}  // namespace detail

std::string normalize_name(std::string_view raw) {
    return detail::normalize_display_name(raw, "name", kMaxNameCodePoints);
}

void append_rfc3339(std::string& out, std::chrono::sys_seconds t) {
    using namespace std::chrono;
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{t - day};
    const int year = static_cast<int>(ymd.year());
    if (year < 0 || year > 9999) {
        // Outside what four digits hold: the general (slower) path.
        char buf[48];
        const int n = std::snprintf(
            buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", year,
            static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
            static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
            static_cast<int>(hms.seconds().count()));
        out.append(buf, static_cast<std::size_t>(n));
        return;
    }
    // Digits written in place: list answers format two per chatbot, and snprintf was a
    // tenth of a list's CPU.
    char buf[20] = {'0', '0', '0', '0', '-', '0', '0', '-', '0', '0',
                    'T', '0', '0', ':', '0', '0', ':', '0', '0', 'Z'};
    const auto put = [&buf](std::size_t at, std::size_t digits, unsigned value) {
        for (std::size_t i = at + digits; i-- > at; value /= 10)
            buf[i] = static_cast<char>('0' + value % 10);
    };
    put(0, 4, static_cast<unsigned>(year));
    put(5, 2, static_cast<unsigned>(ymd.month()));
    put(8, 2, static_cast<unsigned>(ymd.day()));
    put(11, 2, static_cast<unsigned>(hms.hours().count()));
    put(14, 2, static_cast<unsigned>(hms.minutes().count()));
    put(17, 2, static_cast<unsigned>(hms.seconds().count()));
    out.append(buf, sizeof buf);
}

std::string format_rfc3339(std::chrono::sys_seconds t) {
    std::string out;
    append_rfc3339(out, t);
    return out;
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
