#include "text.hpp"

#include <array>
#include <utility>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/secrets.hpp"

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

bool is_control(char32_t c) noexcept {
    return c <= 0x1F || c == 0x7F;
}

// At most max bytes of s, cut at a code point boundary (so the result stays valid UTF-8).
std::string_view utf8_prefix(std::string_view s, std::size_t max) noexcept {
    if (s.size() <= max) return s;
    while (max > 0 && (static_cast<unsigned char>(s[max]) & 0xC0) == 0x80) --max;
    return s.substr(0, max);
}

constexpr std::size_t kMaxEchoedKeyBytes = 64;

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
    std::size_t begin = raw.size(), end = 0, count = 0;
    for (std::size_t i = 0; i < raw.size();) {
        const std::size_t start = i;
        const auto cp = next_code_point(raw, i);
        if (!cp) throw Error(ErrorCode::invalid_argument, name + " must be valid UTF-8", name);
        if (is_control(*cp))
            throw Error(ErrorCode::invalid_argument, name + " must not contain control characters",
                        name);
        if (!is_white_space(*cp)) {
            if (begin == raw.size()) begin = start;
            end = i;
        }
    }
    if (begin == raw.size())
        throw Error(ErrorCode::invalid_argument, name + " must not be empty", name);
    const std::string_view trimmed = raw.substr(begin, end - begin);
    for (std::size_t i = 0; i < trimmed.size(); ++count) next_code_point(trimmed, i);
    if (count > max_code_points)
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

std::string describe_unknown_field(std::string_view key) {
    if (looks_like_secret(key)) return "unknown field";
    std::string out = "unknown field ";
    append_json_string(out, utf8_prefix(key, kMaxEchoedKeyBytes));
    return out;
}

void throw_unknown_field(std::string_view key) {
    throw Error(
        ErrorCode::invalid_argument, describe_unknown_field(key),
        looks_like_secret(key) ? std::string() : std::string(utf8_prefix(key, kMaxEchoedKeyBytes)));
}

void throw_wrong_type(std::string_view field, std::string_view expected) {
    std::string f(field);
    throw Error(ErrorCode::invalid_argument, f + " must be " + std::string(expected), f);
}

}  // namespace chatbotmgr::detail
