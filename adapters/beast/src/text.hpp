// Internal: small string helpers for HTTP header values (case-insensitive compare is
// boost::beast::iequals).
#pragma once

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

}  // namespace chatbotmgr::beast::detail
