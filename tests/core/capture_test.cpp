#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "chatbotmgr/capture.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/testing/errors.hpp"

using namespace chatbotmgr;

namespace {
std::string field_of(std::string_view body) {
    const auto e = testing::error_of([&] { capture_from_json(parse_json_strict(body)); });
    if (!e || e->code() != ErrorCode::invalid_argument) return "<accepted>";
    return e->field().empty() ? "<body>" : e->field();
}
const char* kExample = R"({
  "conversationId": "conv_123",
  "messages": [
    {"role": "user", "content": "How do I cancel?", "id": "msg_001", "sentAt": "2024-01-15T10:00:00Z"},
    {"role": "assistant", "content": "Go to Settings...", "id": "msg_002"}
  ],
  "user": {"id": "user_456", "name": "Ada"},
  "custom": {"plan": "pro"}
})";
}  // namespace

TEST_CASE("the API.md capture example is accepted") {
    const ParsedCapture p = capture_from_json(parse_json_strict(kExample));
    CHECK(p.batch.external_conversation_id == "conv_123");
    REQUIRE(p.batch.messages.size() == 2);
    CHECK(p.batch.messages[0].role == "user");
    CHECK(p.batch.messages[0].external_id == "msg_001");
    CHECK(p.batch.messages[0].sent_at.has_value());
    CHECK_FALSE(p.batch.messages[1].sent_at.has_value());
    CHECK(p.batch.external_user_id == "user_456");
    const auto meta = parse_json_strict(p.batch.metadata_json).as_object();
    CHECK(meta.at("custom").at("plan") == "pro");
    CHECK(meta.at("user").at("name") == "Ada");
    CHECK(p.warnings.empty());
}

TEST_CASE("capture validation names the offending field") {
    CHECK(field_of(R"({"messages":[{"role":"user","content":"x"}]})") == "conversationId");
    CHECK(field_of(R"({"conversationId":"","messages":[{"role":"user","content":"x"}]})") ==
          "conversationId");
    CHECK(field_of(R"({"conversationId":")" + std::string(201, 'c') +
                   R"(","messages":[{"role":"user","content":"x"}]})") == "conversationId");
    CHECK(field_of(R"({"conversationId":")" + std::string(200, 'c') +
                   R"(","messages":[{"role":"user","content":"x"}]})") == "<accepted>");
    CHECK(field_of(R"({"conversationId":"c"})") == "messages");
    CHECK(field_of(R"({"conversationId":"c","messages":[]})") == "messages");
    CHECK(field_of(R"({"conversationId":"c","messages":[{"role":"bot","content":"x"}]})") ==
          "messages[0].role");
    CHECK(field_of(R"({"conversationId":"c","messages":[{"role":"user"}]})") ==
          "messages[0].content");
    CHECK(field_of(R"({"conversationId":"c","messages":[{"role":"user","content":null}]})") ==
          "messages[0].content");
    CHECK(
        field_of(
            R"({"conversationId":"c","messages":[{"role":"user","content":"x","sentAt":"yesterday"}]})") ==
        "messages[0].sentAt");
    CHECK(
        field_of(R"({"conversationId":"c","messages":[{"role":"user","content":"x","id":""}]})") ==
        "messages[0].id");
    CHECK(field_of(
              R"({"conversationId":"c","messages":[{"role":"user","content":"x"}],"user":[]})") ==
          "user");
    CHECK(
        field_of(
            R"({"conversationId":"c","messages":[{"role":"user","content":"x"}],"custom":{"a":{}}})") ==
        "custom.a");
    CHECK(
        field_of(
            R"({"conversationId":"c","messages":[{"role":"user","content":"x"}],"session":null})") ==
        "session");
    CHECK(field_of("[]") == "<body>");
}

TEST_CASE("capture limits: 100 messages, 32768 content bytes, 32 levels of nesting") {
    const auto with_messages = [](std::size_t n, std::size_t content_bytes) {
        std::string body = R"({"conversationId":"c","messages":[)";
        for (std::size_t i = 0; i < n; ++i) {
            if (i) body += ",";
            body += R"({"role":"user","content":")" + std::string(content_bytes, 'x') + "\"}";
        }
        return body + "]}";
    };
    CHECK(field_of(with_messages(100, 1)) == "<accepted>");
    CHECK(field_of(with_messages(101, 1)) == "messages");
    CHECK(field_of(with_messages(1, 32768)) == "<accepted>");
    CHECK(field_of(with_messages(1, 32769)) == "messages[0].content");

    const auto nested_user = [](int depth) {
        std::string v = "{}";
        for (int i = 1; i < depth; ++i) v = R"({"a":)" + v + "}";
        return R"({"conversationId":"c","messages":[{"role":"user","content":"x"}],"user":)" + v +
               "}";
    };
    CHECK(field_of(nested_user(32)) == "<accepted>");
    CHECK(field_of(nested_user(33)) == "user");
}

TEST_CASE("capture is lenient: unknown fields become warnings, duplicate ids are stored once") {
    const ParsedCapture p = capture_from_json(parse_json_strict(
        R"({"conversationId":"c","extra":1,"ob_live_0123456789abcdef0123456789abcdef":2,
            "messages":[{"role":"user","content":"a","id":"m1"},{"role":"user","content":"b","id":"m1"},
                        {"role":"user","content":"c"},{"role":"user","content":"c"}]})"));
    REQUIRE(p.batch.messages.size() == 3);  // m1 once, both id-less messages kept
    CHECK(p.batch.messages[0].content == "a");
    REQUIRE(p.warnings.size() == 2);
    CHECK(p.warnings[0].find("extra") != std::string::npos);
    CHECK(p.warnings[1].find("ob_live_") == std::string::npos);
}
