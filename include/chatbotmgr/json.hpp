// Strict JSON (RFC 8259) and JSON Merge Patch (RFC 7396) on Boost.JSON.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace chatbotmgr {

// Bounds of parse_json_strict.
struct JsonLimits {
    // Deepest nesting of objects and arrays. Default: 64.
    std::size_t max_depth = 64;
    // Most bytes the parsed value may take, as the parser counts them while it builds it:
    // sizeof(boost::json::value) (24 on 64-bit targets) per array element or top-level
    // value, sizeof(boost::json::key_value_pair) (40) plus 4 per object member, plus the
    // bytes of every string and member name. Text can take 12 times its size once parsed
    // ("[0,0,0,...]"), so this bounds memory where the text size alone does not.
    // Default: no limit.
    std::size_t max_parsed_bytes = static_cast<std::size_t>(-1);
};

// Parses text as strict RFC 8259 JSON: invalid UTF-8, lone surrogates, NaN, Infinity,
// comments, trailing commas, trailing garbage and duplicate member names are rejected, as
// is nesting deeper than limits.max_depth and a value larger than limits.max_parsed_bytes
// (the parse stops as soon as it would pass the limit). Throws Error(invalid_argument)
// with a short reason that never quotes the input.
boost::json::value parse_json_strict(std::string_view text, const JsonLimits& limits);
// The same with a depth limit only.
boost::json::value parse_json_strict(std::string_view text, std::size_t max_depth = 64);

// For stores: an object they stored as to_compact_json text. Throws Error(internal) when
// the text is not a JSON object (the stored data was damaged).
boost::json::object parse_stored_object(std::string_view text);

// Applies an RFC 7396 merge patch to target in place: for each member of patch an object
// merges recursively into an object, null removes the member, anything else replaces it.
void merge_patch(boost::json::object& target, const boost::json::object& patch);

// Nesting depth of a value: a scalar is 0, an object or array is 1 + its deepest child.
std::size_t json_depth(const boost::json::value& v);

// Compact serialization (what settings size limits are measured on). Numbers are written
// as JavaScript's JSON.stringify writes them: integers exactly (up to 2^64-1), other
// numbers in the shortest form that reads back to the same double (1.5, 0.1, 1e+21,
// 5e-7), and negative zero as -0.
std::string to_compact_json(const boost::json::value& v);
std::string to_compact_json(const boost::json::object& o);
// The same, appended to out.
void append_compact_json(std::string& out, const boost::json::value& v);
void append_compact_json(std::string& out, const boost::json::object& o);

// Appends s as a JSON string literal (with quotes and escapes) to out.
void append_json_string(std::string& out, std::string_view s);

}  // namespace chatbotmgr
