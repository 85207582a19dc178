#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "chatbotmgr/chatbot.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/testing/errors.hpp"

using namespace chatbotmgr;
namespace json = boost::json;

namespace {
json::value parse(std::string_view s) {
    return parse_json_strict(s);
}
std::string nested_settings(int depth) {  // an object of the given depth
    std::string s;
    for (int i = 1; i < depth; ++i) s += "{\"a\":";
    s += "{}";
    for (int i = 1; i < depth; ++i) s += "}";
    return s;
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
    CHECK(testing::field_of([] { normalize_name(""); }) != "<no error>");
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

TEST_CASE("create body: name required, settings optional object") {
    const NewChatbot a = new_chatbot_from_json(parse(R"({"name":"Bot"})"));
    CHECK(a.name == "Bot");
    CHECK_FALSE(a.settings.has_value());
    const NewChatbot b = new_chatbot_from_json(parse(R"({"name":"Bot","settings":{"x":1}})"));
    REQUIRE(b.settings);
    CHECK(b.settings->as_object().at("x") == 1);

    CHECK(testing::field_of([] { new_chatbot_from_json(parse(R"({})")); }) == "name");
    CHECK(testing::field_of([] { new_chatbot_from_json(parse(R"({"name":null})")); }) == "name");
    CHECK(testing::field_of([] { new_chatbot_from_json(parse(R"({"name":7})")); }) == "name");
    CHECK(testing::field_of(
              [] { new_chatbot_from_json(parse(R"({"name":"a","settings":[]})")); }) == "settings");
    CHECK(testing::field_of([] {
              new_chatbot_from_json(parse(R"({"name":"a","settings":null})"));
          }) == "settings");
    CHECK(testing::code_of([] { new_chatbot_from_json(parse(R"([1])")); }) ==
          ErrorCode::invalid_argument);
}

TEST_CASE("unknown fields are named, unless they look like a secret") {
    const Error typo =
        testing::error_of([] { new_chatbot_from_json(parse(R"({"nmae":"x"})")); }).value();
    CHECK(typo.field() == "nmae");
    CHECK(std::string(typo.what()).find("nmae") != std::string::npos);

    const std::string key = "ob_live_0123456789abcdef0123456789abcdef";
    const Error secret =
        testing::error_of([&] { chatbot_patch_from_json(parse("{\"" + key + "\":1}")); }).value();
    CHECK(std::string(secret.what()) == "unknown field");
    CHECK(secret.field().empty());
}

TEST_CASE("patch body: every member optional, {} allowed") {
    const ChatbotPatch empty = chatbot_patch_from_json(parse("{}"));
    CHECK_FALSE(empty.name);
    CHECK_FALSE(empty.settings_patch);
    CHECK(testing::field_of([] { chatbot_patch_from_json(parse(R"({"name":null})")); }) == "name");
    CHECK(testing::field_of([] { chatbot_patch_from_json(parse(R"({"settings":"x"})")); }) ==
          "settings");
}

TEST_CASE("settings depth limit is 32 with the settings object at depth 1") {
    CHECK_NOTHROW(
        new_chatbot_from_json(parse(R"({"name":"a","settings":)" + nested_settings(32) + "}")));
    CHECK(testing::field_of([] {
              new_chatbot_from_json(
                  parse(R"({"name":"a","settings":)" + nested_settings(33) + "}"));
          }) == "settings");
}

TEST_CASE("RFC 3339 formatting and parsing") {
    using namespace std::chrono;
    const Seconds t = sys_days{2024y / January / 15} + 10h;
    CHECK(format_rfc3339(t) == "2024-01-15T10:00:00Z");
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

TEST_CASE("chatbot JSON has exactly the documented fields") {
    using namespace std::chrono;
    Chatbot c{"5b0a3f9e-2c1d-4e8f-9a7b-1c2d3e4f5a6b",
              "org",
              "Support \"Bot\"",
              "ob_live_a1b2c3",
              R"({"onboarded":true})",
              sys_days{2024y / January / 15} + 10h};
    CHECK(to_json(c) == R"({"id":"5b0a3f9e-2c1d-4e8f-9a7b-1c2d3e4f5a6b","name":"Support \"Bot\"",)"
                        R"("api_key_prefix":"ob_live_a1b2c3...","settings":{"onboarded":true},)"
                        R"("created_at":"2024-01-15T10:00:00Z"})");
    CHECK(parse_json_strict(to_json(c)).as_object().size() == 5);
}
