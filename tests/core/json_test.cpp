#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/testing/errors.hpp"

using namespace chatbotmgr;
namespace json = boost::json;

namespace {
bool rejected(std::string_view text) {
    return testing::code_of([&] { parse_json_strict(text); }) == ErrorCode::invalid_argument;
}
json::object obj(std::string_view text) {
    return parse_json_strict(text).as_object();
}
}  // namespace

TEST_CASE("strict JSON accepts standard documents") {
    CHECK(parse_json_strict(R"({"a":[1,2.5,"x",true,null,{"b":{}}]})").is_object());
    CHECK(parse_json_strict("  [] ").is_array());
    CHECK(parse_json_strict(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");
}

TEST_CASE("strict JSON rejects everything RFC 8259 does not allow") {
    CHECK(rejected(R"({"a":1,"a":2})"));              // duplicate member
    CHECK(rejected(R"({"x":{"a":1,"b":2,"a":3}})"));  // duplicate, nested
    CHECK(rejected(R"({"a":NaN})"));
    CHECK(rejected(R"({"a":Infinity})"));
    CHECK(rejected(R"({"a":1} // c)"));
    CHECK(rejected(R"({"a":1,})"));
    CHECK(rejected(R"([1,2,])"));
    CHECK(rejected(R"({"a":1} x)"));
    CHECK(rejected(R"({"a":1}{})"));
    CHECK(rejected("{\"a\":\"\xff\"}"));   // invalid UTF-8
    CHECK(rejected(R"({"a":"\ud800"})"));  // lone surrogate
    CHECK(rejected(""));
    CHECK(rejected("{'a':1}"));
}

TEST_CASE("strict JSON limits nesting") {
    std::string deep(100, '[');
    deep += std::string(100, ']');
    CHECK(rejected(deep));
    CHECK_NOTHROW(parse_json_strict(deep, 100));
}

TEST_CASE("duplicate keys in different objects are fine") {
    CHECK_NOTHROW(parse_json_strict(R"({"a":{"x":1},"b":{"x":2}})"));
}

// RFC 7396 Appendix A, one section per example.
TEST_CASE("merge patch follows the RFC 7396 examples") {
    struct Case {
        const char *target, *patch, *result;
    };
    const Case cases[] = {
        {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
        {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
        {R"({"a":"b"})", R"({"a":null})", R"({})"},
        {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
        {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
        {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
        {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
        {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
        {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
        {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
        // The example of API.md section 3.
        {R"({"a":{"b":1,"c":2},"d":[1]})", R"({"a":{"c":null,"e":3},"d":[2]})",
         R"({"a":{"b":1,"e":3},"d":[2]})"},
    };
    for (const auto& c : cases) {
        json::object target = obj(c.target);
        merge_patch(target, obj(c.patch));
        INFO(c.target << " + " << c.patch);
        CHECK(json::value(target) == parse_json_strict(c.result));
    }
}

TEST_CASE("merging an empty patch is the identity") {
    json::object target = obj(R"({"a":{"b":[1,{"c":null}]},"d":"e"})");
    const json::object before = target;
    merge_patch(target, json::object());
    CHECK(target == before);
}

TEST_CASE("json depth counts containers") {
    CHECK(json_depth(parse_json_strict("1")) == 0);
    CHECK(json_depth(parse_json_strict("{}")) == 1);
    CHECK(json_depth(parse_json_strict(R"({"a":[{"b":1}]})")) == 3);
}

TEST_CASE("JSON string escaping round-trips") {
    const std::string raw = "quote\" backslash\\ nl\n tab\t ctl\x01 del\x7f \xC3\xA9";
    std::string out;
    append_json_string(out, raw);
    CHECK(parse_json_strict(out).as_string() == raw);
    // Escapes at either end, next to each other, and text with none; appended after what
    // out holds already.
    std::string framed(1, 'x');
    append_json_string(framed, "\"\\\n\x1f");
    CHECK(framed == R"(x"\"\\\n\u001f")");
    std::string plain;
    append_json_string(plain, "plain text");
    CHECK(plain == R"("plain text")");
    std::string empty;
    append_json_string(empty, "");
    CHECK(empty == R"("")");
}

TEST_CASE("numbers are written as JSON.stringify writes them, integers exactly") {
    const auto compact = [](std::string_view text) {
        return to_compact_json(parse_json_strict(text));
    };
    CHECK(compact(R"({"a":1.5,"e":0.1,"c":-0.0})") == R"({"a":1.5,"e":0.1,"c":-0})");
    CHECK(compact("[1.0,-2.50,100,1e2,1e21,1.5e-7,0.000001,123456789012345680000]") ==
          "[1,-2.5,100,100,1e+21,1.5e-7,0.000001,123456789012345680000]");
    CHECK(compact("[18446744073709551615,-9223372036854775808,0]") ==
          "[18446744073709551615,-9223372036854775808,0]");
    CHECK(compact("[1.7976931348623157e308,5e-324,0.30000000000000004]") ==
          "[1.7976931348623157e+308,5e-324,0.30000000000000004]");
    // What is written reads back to the same value.
    for (const auto* text : {"0.1", "1e-7", "123.456", "-1e+300", "2.5e-320"}) {
        const auto once = compact(text);
        CHECK(compact(once) == once);
        CHECK(parse_json_strict(once) == parse_json_strict(text));
    }
}
