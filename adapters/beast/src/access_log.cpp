#include "access_log.hpp"

#include <cstdio>
#include <ctime>
#include <random>

#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>

#include "chatbotmgr/secrets.hpp"
#include "request_head.hpp"
#include "routes.hpp"
#include "text.hpp"

namespace chatbotmgr::beast::detail {

namespace http = boost::beast::http;

namespace {

constexpr std::size_t kMaxLoggedPath = 256;
// Percent-decoding rounds before a segment is judged: a client (or a proxy) may encode
// twice ("%256F" -> "%6F" -> "o"); three rounds cover what any real stack does.
constexpr int kDecodeRounds = 3;

bool contains_ci(std::string_view haystack, std::string_view needle) noexcept {
    if (needle.size() > haystack.size()) return false;
    for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
        std::size_t j = 0;
        for (; j < needle.size(); ++j) {
            char c = haystack[i + j];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            if (c != needle[j]) break;
        }
        if (j == needle.size()) return true;
    }
    return false;
}

}  // namespace

bool carries_secret(std::string_view s) noexcept {
    return contains_ci(s, kApiKeyPrefix) || contains_ci(s, kSessionTokenPrefix) ||
           contains_ci(s, kInvitationTokenPrefix);
}

namespace {

// A path segment that is, or decodes to, something that looks like a key or a token.
bool secret_segment(std::string_view segment) {
    if (carries_secret(segment)) return true;
    std::string decoded(segment);
    for (int round = 0; round < kDecodeRounds && decoded.find('%') != std::string::npos; ++round) {
        decoded = *detail::percent_decoded(decoded, detail::MalformedEscape::keep);
        if (carries_secret(decoded)) return true;
    }
    return false;
}

}  // namespace

std::string_view loggable_method(http::verb method, std::string_view method_text) noexcept {
    if (method_text.empty()) return "-";
    switch (method) {
        case http::verb::get:
        case http::verb::head:
        case http::verb::post:
        case http::verb::put:
        case http::verb::delete_:
        case http::verb::connect:
        case http::verb::options:
        case http::verb::trace:
        case http::verb::patch:
            return http::to_string(method);
        default:
            return "OTHER";
    }
}

void append_loggable_path(std::string& out, std::string_view target) {
    const std::optional<std::string_view> origin = origin_form(target);
    std::string_view path = target_path(origin ? *origin : std::string_view());
    if (path.empty()) {
        out += '-';
        return;
    }
    const std::size_t start = out.size();
    while (!path.empty()) {
        const std::size_t slash = path.find('/', 1);
        const std::string_view segment = path.substr(0, slash);
        path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
        const std::string_view body = segment.substr(segment.empty() || segment[0] != '/' ? 0 : 1);
        if (segment.size() != body.size()) out += '/';
        if (secret_segment(body)) {
            out += "[redacted]";
        } else {
            for (char c : body) {
                const auto u = static_cast<unsigned char>(c);
                if (u <= 0x20 || u >= 0x7f || c == '%') {
                    static constexpr char hex[] = "0123456789ABCDEF";
                    out += '%';
                    out += hex[u >> 4];
                    out += hex[u & 0xF];
                } else {
                    out += c;
                }
            }
        }
        if (out.size() - start > kMaxLoggedPath) {
            out.resize(start + kMaxLoggedPath);
            out += "...";
            return;
        }
    }
}

std::string access_log_line(http::verb method, std::string_view method_text,
                            std::string_view target, unsigned status, double milliseconds) {
    std::string line;
    line.reserve(48 + target.size());
    line += "http: ";
    line += loggable_method(method, method_text);
    line += ' ';
    append_loggable_path(line, target);
    line += ' ';
    line += std::to_string(status);
    char buf[32];
    std::snprintf(buf, sizeof buf, " %.3fms", milliseconds);
    line += buf;
    return line;
}

}  // namespace chatbotmgr::beast::detail

namespace chatbotmgr::beast::detail {

namespace {

// "2025-01-31T09:30:00.123Z"
std::string rfc3339_millis(std::chrono::system_clock::time_point t) {
    const auto ms = std::chrono::time_point_cast<std::chrono::milliseconds>(t);
    const std::time_t seconds = std::chrono::system_clock::to_time_t(ms);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buf[80];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms.time_since_epoch().count() % 1000));
    return buf;
}

bool request_id_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
}

}  // namespace

std::string access_log_json(const RequestRecord& request) {
    // Strings through Boost.JSON (escaping), numbers by hand: "duration_ms":0.412 rather
    // than the serializer's 4.12E-1.
    const auto field = [](std::string& out, std::string_view name, std::string_view value) {
        out.append(",\"").append(name).append("\":").append(
            boost::json::serialize(boost::json::string_view(value.data(), value.size())));
    };
    std::string line = "{\"time\":\"";
    line.append(rfc3339_millis(request.time)).append("\"");
    field(line, "level", request.status == 0 || request.status >= 500 ? "error" : "info");
    field(line, "method", request.method);
    field(line, "route", request.route);
    field(line, "path", request.path);
    char numbers[96];
    std::snprintf(numbers, sizeof numbers, ",\"status\":%u,\"duration_ms\":%.3f,\"bytes\":%llu",
                  request.status,
                  std::chrono::duration<double, std::milli>(request.duration).count(),
                  static_cast<unsigned long long>(request.bytes));
    line.append(numbers);
    field(line, "request_id", request.request_id);
    field(line, "client", request.client_address);
    line += '}';
    return line;
}

bool acceptable_request_id(std::string_view id) noexcept {
    if (id.empty() || id.size() > kMaxRequestIdLength) return false;
    for (char c : id)
        if (!request_id_char(c)) return false;
    return !carries_secret(id);
}

std::string new_request_id() {
    thread_local std::mt19937_64 random{std::random_device{}()};
    static constexpr char hex[] = "0123456789abcdef";
    std::string id(32, '0');
    for (std::size_t i = 0; i < id.size(); i += 16) {
        std::uint64_t bits = random();
        for (std::size_t j = 0; j < 16; ++j, bits >>= 4) id[i + j] = hex[bits & 0xF];
    }
    return id;
}

LoginOutcome login_outcome(unsigned status) noexcept {
    switch (status) {
        case 200:
            return LoginOutcome::success;
        case 401:
            return LoginOutcome::failure;
        case 429:
            return LoginOutcome::rate_limited;
        default:
            return status < 500 ? LoginOutcome::rejected : LoginOutcome::unavailable;
    }
}

}  // namespace chatbotmgr::beast::detail

namespace chatbotmgr::beast {

std::string_view to_string(KeyVerification v) noexcept {
    switch (v) {
        case KeyVerification::valid:
            return "valid";
        case KeyVerification::previous_key:
            return "previous_key";
        case KeyVerification::invalid:
            return "invalid";
        case KeyVerification::expired:
            return "expired";
        case KeyVerification::rate_limited:
            return "rate_limited";
    }
    return "invalid";
}

std::string_view to_string(LoginOutcome v) noexcept {
    switch (v) {
        case LoginOutcome::success:
            return "success";
        case LoginOutcome::failure:
            return "failure";
        case LoginOutcome::rate_limited:
            return "rate_limited";
        case LoginOutcome::rejected:
            return "rejected";
        case LoginOutcome::unavailable:
            return "unavailable";
    }
    return "unavailable";
}

}  // namespace chatbotmgr::beast
