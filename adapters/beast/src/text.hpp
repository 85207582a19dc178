// Internal: small string helpers for HTTP header values (case-insensitive compare is
// boost::beast::iequals).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace chatbotmgr::beast::detail {

// Optional white space of RFC 9110: space and horizontal tab.
constexpr bool is_ows(char c) noexcept {
    return c == ' ' || c == '\t';
}

constexpr std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

constexpr int hex_digit_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// What percent_decoded does with a malformed escape ("%zz", a "%" too near the end).
enum class MalformedEscape {
    keep,    // copied as it is (the access log judges what a client may have meant)
    reject,  // the whole text is refused: nullopt (query parameters)
};

// One round of percent-decoding (RFC 3986 section 2.1).
inline std::optional<std::string> percent_decoded(std::string_view s, MalformedEscape malformed) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        const int high = i + 2 < s.size() ? hex_digit_value(s[i + 1]) : -1;
        const int low = i + 2 < s.size() ? hex_digit_value(s[i + 2]) : -1;
        if (high >= 0 && low >= 0) {
            out += static_cast<char>(high * 16 + low);
            i += 2;
        } else if (malformed == MalformedEscape::keep) {
            out += s[i];
        } else {
            return std::nullopt;
        }
    }
    return out;
}

}  // namespace chatbotmgr::beast::detail
