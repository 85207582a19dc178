#include "chatbotmgr/json.hpp"

#include <boost/json/basic_parser_impl.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "chatbotmgr/error.hpp"

namespace chatbotmgr {
namespace {

namespace json = boost::json;

// Builds the value itself (instead of boost::json::parser) so that a duplicate member
// name is seen at the moment it is inserted: Boost.JSON 1.81 silently keeps one of them.
class StrictBuilder {
  public:
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    explicit StrictBuilder(std::size_t max_parsed_bytes) : budget_(max_parsed_bytes) {}

    bool duplicate_key = false;
    bool number_out_of_range = false;
    bool too_large = false;
    json::value result;

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }
    bool on_object_begin(json::error_code&) { return open(json::object()); }
    bool on_object_end(std::size_t, json::error_code&) { return close(); }
    bool on_array_begin(json::error_code&) { return open(json::array()); }
    bool on_array_end(std::size_t, json::error_code&) { return close(); }
    bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
        text_.append(s.data(), s.size());
        return true;
    }
    bool on_key(json::string_view s, std::size_t, json::error_code&) {
        text_.append(s.data(), s.size());
        if (!charge(text_.size())) return false;
        keys_.push_back(std::move(text_));
        text_.clear();
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
        text_.append(s.data(), s.size());
        return true;
    }
    bool on_string(json::string_view s, std::size_t, json::error_code&) {
        text_.append(s.data(), s.size());
        if (!charge(text_.size())) return false;
        json::value v = json::string(text_);
        text_.clear();
        return add(std::move(v));
    }
    bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
        number_.clear();
        return add(i);
    }
    bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
        number_.clear();
        return add(u);
    }
    // Boost.JSON 1.81 converts decimals imprecisely (the last bit may differ), so a stored
    // number would drift on every read-modify-write; from_chars rounds correctly, so
    // serialize -> parse is the identity. A number past the range of a double is
    // rejected: as infinity it would serialize as invalid JSON.
    bool on_number_part(json::string_view s, json::error_code&) {
        number_.append(s.data(), s.size());
        return true;
    }
    bool on_double(double d, json::string_view s, json::error_code&) {
        number_.append(s.data(), s.size());
        double precise = 0;
        const char* end = number_.data() + number_.size();
        const auto [stop, err] = std::from_chars(number_.data(), end, precise);
        if (err == std::errc() && stop == end) d = precise;
        number_.clear();
        if (!std::isfinite(d)) {
            number_out_of_range = true;
            return false;
        }
        return add(d);
    }
    bool on_bool(bool b, json::error_code&) { return add(b); }
    bool on_null(json::error_code&) { return add(nullptr); }
    bool on_comment_part(json::string_view, json::error_code&) { return false; }
    bool on_comment(json::string_view, json::error_code&) { return false; }

  private:
    // What one more element of an array or member of an object costs (its name is charged
    // in on_key): the slot itself, and for a member the object's index entry.
    static constexpr std::size_t kElementBytes = sizeof(json::value);
    static constexpr std::size_t kMemberBytes =
        sizeof(json::key_value_pair) + sizeof(std::uint32_t);

    // Takes bytes from the budget; false (which stops the parser) once it would run out.
    bool charge(std::size_t bytes) {
        if (bytes > budget_) {
            too_large = true;
            return false;
        }
        budget_ -= bytes;
        return true;
    }

    bool open(json::value container) {
        stack_.push_back(std::move(container));
        return true;
    }
    bool close() {
        json::value done = std::move(stack_.back());
        stack_.pop_back();
        return add(std::move(done));
    }
    bool add(json::value v) {
        const bool member = !stack_.empty() && stack_.back().is_object();
        if (!charge(member ? kMemberBytes : kElementBytes)) return false;
        if (stack_.empty()) {
            result = std::move(v);
            return true;
        }
        json::value& parent = stack_.back();
        if (parent.is_array()) {
            parent.get_array().push_back(std::move(v));
            return true;
        }
        auto [it, inserted] = parent.get_object().emplace(keys_.back(), std::move(v));
        keys_.pop_back();
        if (!inserted) duplicate_key = true;
        return inserted;  // false stops the parser
    }

    std::vector<json::value> stack_;
    std::vector<std::string> keys_;
    std::string text_;
    std::string number_;
    std::size_t budget_;
};

std::size_t depth_of(const json::value& v) {
    std::size_t deepest = 0;
    if (const auto* obj = v.if_object()) {
        for (const auto& member : *obj) deepest = std::max(deepest, depth_of(member.value()));
        return deepest + 1;
    }
    if (const auto* arr = v.if_array()) {
        for (const auto& item : *arr) deepest = std::max(deepest, depth_of(item));
        return deepest + 1;
    }
    return 0;
}

}  // namespace

json::value parse_json_strict(std::string_view text, const JsonLimits& limits) {
    json::parse_options options;  // defaults are strict: no comments, commas or bad UTF-8
    options.max_depth = limits.max_depth;
    json::basic_parser<StrictBuilder> parser(options, limits.max_parsed_bytes);
    json::error_code ec;
    const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
    if (parser.handler().too_large)
        throw Error(ErrorCode::invalid_argument, "invalid JSON: too large once parsed (over " +
                                                     std::to_string(limits.max_parsed_bytes) +
                                                     " bytes)");
    if (parser.handler().duplicate_key)
        throw Error(ErrorCode::invalid_argument, "invalid JSON: duplicate member name");
    if (parser.handler().number_out_of_range)
        throw Error(ErrorCode::invalid_argument, "invalid JSON: number out of range");
    if (ec == json::error::too_deep)
        throw Error(ErrorCode::invalid_argument, "invalid JSON: nested too deeply");
    if (ec || used != text.size())
        throw Error(ErrorCode::invalid_argument,
                    ec ? "invalid JSON: " + ec.message() : "invalid JSON: trailing data");
    return std::move(parser.handler().result);
}

json::value parse_json_strict(std::string_view text, std::size_t max_depth) {
    JsonLimits limits;
    limits.max_depth = max_depth;
    return parse_json_strict(text, limits);
}

json::object parse_stored_object(std::string_view text) {
    try {
        json::value v = parse_json_strict(text);
        if (auto* obj = v.if_object()) return std::move(*obj);
    } catch (const Error&) {
    }
    throw Error(ErrorCode::internal, "stored JSON is not an object");
}

void merge_patch(json::object& target, const json::object& patch) {
    for (const auto& member : patch) {
        const json::value& change = member.value();
        if (change.is_null()) {
            target.erase(member.key());
        } else if (const auto* nested = change.if_object()) {
            json::value& slot = target[member.key()];
            if (!slot.is_object()) slot = json::object();
            merge_patch(slot.get_object(), *nested);
        } else {
            target[member.key()] = change;
        }
    }
}

std::size_t json_depth(const json::value& v) {
    return depth_of(v);
}

namespace {

// ECMAScript Number::toString (the form JSON.stringify writes) from the shortest digits
// that read back to d: fixed notation for decimal exponents -6..20, else d.ddde+X.
void append_double(std::string& out, double d) {
    if (d == 0) {
        out += std::signbit(d) ? "-0" : "0";
        return;
    }
    char buf[32];
    const char* end = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific).ptr;
    std::string_view sci(buf, static_cast<std::size_t>(end - buf));  // "-d.ddde+XX"
    if (sci.front() == '-') {
        out += '-';
        sci.remove_prefix(1);
    }
    const auto e_pos = sci.find('e');
    std::string digits;
    digits += sci[0];
    if (e_pos > 1) digits.append(sci.substr(2, e_pos - 2));
    int exponent = 0;
    const auto exp_text = sci.substr(e_pos + 1);
    std::from_chars(exp_text.data() + (exp_text.front() == '+' ? 1 : 0),
                    exp_text.data() + exp_text.size(), exponent);
    const int k = static_cast<int>(digits.size());
    const int n = exponent + 1;  // the decimal point sits after n digits
    if (k <= n && n <= 21) {
        out += digits;
        out.append(static_cast<std::size_t>(n - k), '0');
    } else if (0 < n && n <= 21) {
        out.append(digits, 0, static_cast<std::size_t>(n));
        out += '.';
        out.append(digits, static_cast<std::size_t>(n));
    } else if (-6 < n && n <= 0) {
        out += "0.";
        out.append(static_cast<std::size_t>(-n), '0');
        out += digits;
    } else {
        out += digits[0];
        if (k > 1) {
            out += '.';
            out.append(digits, 1);
        }
        out += n - 1 < 0 ? "e-" : "e+";
        out += std::to_string(std::abs(n - 1));
    }
}

}  // namespace

void append_compact_json(std::string& out, const json::value& v) {
    switch (v.kind()) {
        case json::kind::null:
            out += "null";
            return;
        case json::kind::bool_:
            out += v.get_bool() ? "true" : "false";
            return;
        case json::kind::int64:
            out += std::to_string(v.get_int64());
            return;
        case json::kind::uint64:
            out += std::to_string(v.get_uint64());
            return;
        case json::kind::double_:
            append_double(out, v.get_double());
            return;
        case json::kind::string:
            append_json_string(out, v.get_string());
            return;
        case json::kind::array: {
            out += '[';
            bool first = true;
            for (const auto& item : v.get_array()) {
                if (!first) out += ',';
                first = false;
                append_compact_json(out, item);
            }
            out += ']';
            return;
        }
        case json::kind::object:
            append_compact_json(out, v.get_object());
            return;
    }
}

void append_compact_json(std::string& out, const json::object& o) {
    out += '{';
    bool first = true;
    for (const auto& member : o) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, member.key());
        out += ':';
        append_compact_json(out, member.value());
    }
    out += '}';
}

std::string to_compact_json(const json::value& v) {
    std::string out;
    append_compact_json(out, v);
    return out;
}

std::string to_compact_json(const json::object& o) {
    std::string out;
    append_compact_json(out, o);
    return out;
}

namespace {

bool needs_escape(char ch) noexcept {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == '"' || c == '\\';
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    while (!s.empty()) {
        // The text up to the next character to escape goes in at once (most text has none).
        const auto plain =
            static_cast<std::size_t>(std::find_if(s.begin(), s.end(), needs_escape) - s.begin());
        out.append(s.data(), plain);
        if (plain == s.size()) break;
        const auto c = static_cast<unsigned char>(s[plain]);
        s.remove_prefix(plain + 1);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            default:  // the other controls
                out += "\\u00";
                out.push_back(kHex[c >> 4]);
                out.push_back(kHex[c & 0xF]);
        }
    }
    out.push_back('"');
}

}  // namespace chatbotmgr
