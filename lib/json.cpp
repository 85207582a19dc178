#include "chatbotmgr/json.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/serialize.hpp>

#include <charconv>
#include <cmath>
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

    bool duplicate_key = false;
    bool number_out_of_range = false;
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

json::value parse_json_strict(std::string_view text, std::size_t max_depth) {
    json::parse_options options;  // defaults are strict: no comments, commas or bad UTF-8
    options.max_depth = max_depth;
    json::basic_parser<StrictBuilder> parser(options);
    json::error_code ec;
    const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
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

std::string to_compact_json(const json::value& v) {
    return json::serialize(v);
}

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
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
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out.push_back(kHex[c >> 4]);
                    out.push_back(kHex[c & 0xF]);
                } else {
                    out.push_back(ch);
                }
        }
    }
    out.push_back('"');
}

}  // namespace chatbotmgr
