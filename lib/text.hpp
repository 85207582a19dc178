// Internal: UTF-8 and field-rule helpers shared by the validators.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/fwd.hpp>

namespace chatbotmgr::detail {

// Number of code points of well-formed UTF-8 (no overlongs, surrogates or values past
// U+10FFFF); nullopt when malformed.
std::optional<std::size_t> utf8_length(std::string_view s) noexcept;

// Trims Unicode White_Space at both ends and checks the display-name rule (1..max code
// points, no C0 controls or DEL anywhere). Throws Error(invalid_argument) naming field.
std::string normalize_display_name(std::string_view raw, std::string_view field,
                                   std::size_t max_code_points);

// ASCII letters lowercased, other bytes kept (email addresses compare this way).
std::string lowercase_ascii(std::string_view s);

// Error for an unknown member: names it unless it looks like a secret.
[[noreturn]] void throw_unknown_field(std::string_view key);
// "unknown field "x"" (or "unknown field" for secret-looking names), for messages and warnings.
std::string describe_unknown_field(std::string_view key);

// Error for a member with the wrong type: "<field> must be <expected>".
[[noreturn]] void throw_wrong_type(std::string_view field, std::string_view expected);

}  // namespace chatbotmgr::detail
