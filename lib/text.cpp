#include "text.hpp"

#include <array>
#include <utility>

#include "chatbotmgr/error.hpp"

namespace chatbotmgr::detail {
namespace {

// Decodes one code point starting at s[i]; advances i. nullopt when malformed.
std::optional<char32_t> next_code_point(std::string_view s, std::size_t& i) noexcept {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char lead = byte(i);
    std::size_t extra;
    char32_t cp;
    if (lead < 0x80) {
        ++i;
        return lead;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
        extra = 1;
        cp = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        extra = 2;
        cp = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        extra = 3;
        cp = lead & 0x07;
    } else {
        return std::nullopt;
    }
    if (i + extra >= s.size()) return std::nullopt;
    for (std::size_t k = 1; k <= extra; ++k) {
        const unsigned char c = byte(i + k);
        if ((c & 0xC0) != 0x80) return std::nullopt;
        cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr std::array<char32_t, 4> kMinForLength = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return std::nullopt;
    i += extra + 1;
    return cp;
}

bool is_white_space(char32_t c) noexcept {
    // Unicode White_Space property (PropList.txt).
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

// C0 and C1 controls, DEL, and the characters that reorder or break text around them:
// bidirectional controls (a name could display as something else) and U+2028/U+2029.
bool is_forbidden_in_name(char32_t c) noexcept {
    return c <= 0x1F || (c >= 0x7F && c <= 0x9F) || c == 0x061C || c == 0x200E || c == 0x200F ||
           (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) || c == 0x2028 ||
           c == 0x2029;
}

// Characters with no width of their own: a name made only of them looks empty.
bool is_invisible(char32_t c) noexcept {
    return (c >= 0x200B && c <= 0x200D) || c == 0x2060 || c == 0xFEFF;
}

}  // namespace

std::optional<std::size_t> utf8_length(std::string_view s) noexcept {
    std::size_t count = 0;
    for (std::size_t i = 0; i < s.size(); ++count)
        if (!next_code_point(s, i)) return std::nullopt;
    return count;
}

std::string normalize_display_name(std::string_view raw, std::string_view field,
                                   std::size_t max_code_points) {
    const std::string name(field);
    std::size_t begin = raw.size(), end = 0;
    bool visible = false;
    for (std::size_t i = 0; i < raw.size();) {
        const std::size_t start = i;
        const auto cp = next_code_point(raw, i);
        if (!cp) throw Error(ErrorCode::invalid_argument, name + " must be valid UTF-8", name);
        if (is_forbidden_in_name(*cp))
            throw Error(ErrorCode::invalid_argument,
                        name +
                            " must not contain control, bidirectional-control or "
                            "line-separator characters",
                        name);
        if (!is_white_space(*cp)) {
            if (begin == raw.size()) begin = start;
            end = i;
            visible = visible || !is_invisible(*cp);
        }
    }
    if (begin == raw.size())
        throw Error(ErrorCode::invalid_argument, name + " must not be empty", name);
    if (!visible)
        throw Error(ErrorCode::invalid_argument, name + " must contain a visible character", name);
    const std::string_view trimmed = raw.substr(begin, end - begin);
    if (*utf8_length(trimmed) > max_code_points)
        throw Error(ErrorCode::invalid_argument,
                    name + " must be at most " + std::to_string(max_code_points) + " characters",
                    name);
    return std::string(trimmed);
}

std::string lowercase_ascii(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

}  // namespace chatbotmgr::detail
