// The core's value rules for chatbots (API.md section 1), as a C++ host meets them: the
// name rule, the settings limits through the registry, RFC 3339. (Decoding request bodies
// is the HTTP adapter's: tests/http/wire_test.cpp.)
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <memory>

#include <boost/json.hpp>

#include "chatbotmgr/chatbot.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/testing/errors.hpp"

using namespace chatbotmgr;
namespace json = boost::json;

namespace {

// An object of the given depth (the object itself is depth 1).
json::object nested(int depth) {
    json::object o;
    for (int i = 1; i < depth; ++i) o = json::object{{"a", std::move(o)}};
    return o;
}

}  // namespace

TEST_CASE("names are trimmed of Unicode white space") {
    CHECK(normalize_name("  Support Bot  ") == "Support Bot");
    CHECK(normalize_name("\xC2\xA0\xE3\x80\x80"
                         "Bot\xE2\x80\x83") == "Bot");  // NBSP, ideographic, em space
    CHECK(normalize_name("a  b") == "a  b");
}

TEST_CASE("name length is counted in code points after trimming") {
    CHECK(normalize_name(std::string(100, 'x')) == std::string(100, 'x'));
    std::string hundred_e_acute;
    for (int i = 0; i < 100; ++i) hundred_e_acute += "\xC3\xA9";
    CHECK(normalize_name(hundred_e_acute) == hundred_e_acute);
    CHECK(normalize_name("  " + std::string(100, 'x') + "  ").size() == 100);
    CHECK(testing::field_of([] { normalize_name(std::string(101, 'x')); }) == "name");
    CHECK(testing::field_of([] { normalize_name(""); }) == "name");
    CHECK(testing::field_of([] { normalize_name(" \xE2\x80\x83 "); }) == "name");
}

TEST_CASE("names reject control characters anywhere and invalid UTF-8") {
    CHECK(testing::field_of([] { normalize_name("a\x01z"); }) == "name");
    CHECK(testing::field_of([] { normalize_name("a\x7fz"); }) == "name");
    CHECK(testing::field_of([] { normalize_name(std::string("a\0z", 3)); }) == "name");
    CHECK(testing::field_of([] { normalize_name("\tBot"); }) == "name");
    CHECK(testing::field_of([] { normalize_name("bad \xC3"); }) == "name");
    CHECK(testing::field_of([] { normalize_name("\xED\xA0\x80"); }) == "name");  // surrogate
    CHECK(testing::field_of([] { normalize_name("\xC0\xAF"); }) == "name");      // overlong
}

TEST_CASE("names reject C1 and bidirectional controls, line separators, invisible-only names") {
    for (const char* bad : {"a\xC2\x85z",                   // U+0085 (C1)
                            "a\xC2\x9Fz",                   // U+009F (C1)
                            "evil\xE2\x80\xAEtxt",          // U+202E right-to-left override
                            "a\xE2\x81\xA6z",               // U+2066 left-to-right isolate
                            "a\xD8\x9Cz",                   // U+061C Arabic letter mark
                            "a\xE2\x80\x8Ez",               // U+200E left-to-right mark
                            "a\xE2\x80\xA8z",               // U+2028 line separator
                            "\xE2\x80\x8B",                 // U+200B zero width space only
                            "\xEF\xBB\xBF\xE2\x81\xA0"}) {  // U+FEFF U+2060 only
        INFO(bad);
        CHECK(testing::field_of([&] { normalize_name(bad); }) == "name");
    }
    // Invisible characters next to visible ones are fine (e.g. a zero-width joiner).
    CHECK(normalize_name("a\xE2\x80\x8Dz") == "a\xE2\x80\x8Dz");
}

TEST_CASE("settings limits hold for every caller of the registry") {
    ChatbotRegistry registry(std::make_shared<MemoryStore>());
    CHECK_NOTHROW(registry.create("org", {"deep", nested(32)}));
    CHECK(testing::field_of([&] {
              registry.create("org", {"too deep", nested(33)});
          }) == "settings");
    CHECK(testing::field_of([&] {
              registry.create("org", {"nan", {{"x", std::numeric_limits<double>::quiet_NaN()}}});
          }) == "settings");
    CHECK(testing::field_of([&] {
              registry.create("org", {"inf", {{"x", std::numeric_limits<double>::infinity()}}});
          }) == "settings");
    CHECK(testing::field_of([&] {
              registry.create("org", {"utf8", {{"x", "bad \xC3"}}});
          }) == "settings");
    CHECK(testing::field_of([&] {
              registry.create("org", {"key", {{"bad \xC3", 1}}});
          }) == "settings");
    // Size: the compact JSON of the settings object, at most 65,536 bytes.
    const std::string at_limit(kMaxSettingsBytes - 8, 'x');  // {"s":"..."} is 8 bytes more
    CHECK_NOTHROW(registry.create("org", {"big", {{"s", at_limit}}}));
    CHECK(testing::field_of([&] {
              registry.create("org", {"bigger", {{"s", at_limit + "x"}}});
          }) == "settings");

    // Updates: the patch and the merged result.
    const auto bot =
        registry.create("org", {"Bot", {{"s", std::string(kMaxSettingsBytes / 2, 'a')}}});
    CHECK(testing::field_of([&] {
              registry.update(
                  "org", bot.chatbot.id,
                  {std::nullopt, json::object{{"t", std::string(kMaxSettingsBytes / 2, 'b')}}});
          }) == "settings");
    CHECK(testing::field_of([&] {
              registry.update("org", bot.chatbot.id, {std::nullopt, nested(33)});
          }) == "settings");
    CHECK(registry.get("org", bot.chatbot.id).settings == bot.chatbot.settings);
    // The patch is checked before the store is asked: a bad patch of an unknown id is a
    // 400, not a 404 (API.md section 8).
    CHECK(testing::code_of([&] {
              registry.update("org", "5b0a3f9e-2c1d-4e8f-9a7b-1c2d3e4f5a6b",
                              {std::nullopt, nested(33)});
          }) == ErrorCode::invalid_argument);
}

TEST_CASE("RFC 3339 formatting and parsing") {
    using namespace std::chrono;
    const sys_seconds t = sys_days{2024y / January / 15} + 10h;
    CHECK(format_rfc3339(t) == "2024-01-15T10:00:00Z");
    CHECK(format_rfc3339(sys_days{1969y / December / 31} + 23h + 59min + 59s) ==
          "1969-12-31T23:59:59Z");
    CHECK(format_rfc3339(sys_days{0y / January / 1} + 1s) == "0000-01-01T00:00:01Z");
    CHECK(format_rfc3339(sys_days{9999y / December / 31} + 23h + 59min + 59s) ==
          "9999-12-31T23:59:59Z");
    CHECK(format_rfc3339(sys_days{10000y / March / 2} + 3h + 4min + 5s) ==
          "10000-03-02T03:04:05Z");  // past four digits: as many as it takes
    std::string out = "at ";
    append_rfc3339(out, t);
    CHECK(out == "at 2024-01-15T10:00:00Z");
    CHECK(parse_rfc3339("2024-01-15T10:00:00Z") == time_point_cast<milliseconds>(t));
    CHECK(parse_rfc3339("2024-01-15T12:00:00.5+02:00") == time_point_cast<milliseconds>(t) + 500ms);
    CHECK(parse_rfc3339("2024-01-15t10:00:00z"));
    CHECK_FALSE(parse_rfc3339("2024-02-30T10:00:00Z"));
    CHECK_FALSE(parse_rfc3339("2024-01-15 10:00:00Z"));
    CHECK_FALSE(parse_rfc3339("2024-01-15T10:00:00"));
    CHECK_FALSE(parse_rfc3339("2024-01-15T24:00:00Z"));
    CHECK_FALSE(parse_rfc3339("2024-01-15T10:00:00.Z"));
    CHECK_FALSE(parse_rfc3339("2024-01-15T10:00:00Z "));
    CHECK_FALSE(parse_rfc3339(""));
}
