// Internal: UTF-8 and field-rule helpers shared by the validators.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace chatbotmgr::detail {

// Number of code points of well-formed UTF-8 (no overlongs, surrogates or values past
// U+10FFFF); nullopt when malformed.
std::optional<std::size_t> utf8_length(std::string_view s) noexcept;

// Trims Unicode White_Space at both ends and checks the display-name rule of
// normalize_name (chatbot.hpp) with max code points. Throws Error(invalid_argument)
// naming field.
std::string normalize_display_name(std::string_view raw, std::string_view field,
                                   std::size_t max_code_points);

// ASCII letters lowercased, other bytes kept (email addresses compare this way).
std::string lowercase_ascii(std::string_view s);

}  // namespace chatbotmgr::detail
