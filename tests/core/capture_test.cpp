// The core's capture rules (API.md sections 4 and 8) as a C++ host meets them:
// validate_capture on a CaptureBatch built in C++, with the field names of the HTTP API.
// (Decoding the request body is the HTTP adapter's: tests/http/wire_test.cpp.)
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "chatbotmgr/capture.hpp"
#include "chatbotmgr/error.hpp"

using namespace chatbotmgr;
namespace json = boost::json;

namespace {

CaptureBatch valid_batch() {
    CaptureBatch b;
    b.external_conversation_id = "conv_123";
    b.external_user_id = "user_456";
    b.metadata = json::object{{"user", {{"id", "user_456"}, {"name", "Ada"}}},
                              {"custom", {{"plan", "pro"}, {"seats", 3}, {"trial", false}}}};
    b.messages = {{"user", "How do I cancel?", "msg_001", std::nullopt},
                  {"assistant", "Go to Settings...", "msg_002", std::nullopt}};
    return b;
}

// The field validate_capture refuses the batch for, after change; "<accepted>" otherwise.
template <class Change>
std::string field_of(Change change) {
    CaptureBatch b = valid_batch();
    change(b);
    try {
        validate_capture(b);
    } catch (const Error& e) {
        REQUIRE(e.code() == ErrorCode::invalid_argument);
        return e.field();
    }
    return "<accepted>";
}

json::object nested(int depth) {
    json::object o;
    for (int i = 1; i < depth; ++i) o = json::object{{"a", std::move(o)}};
    return o;
}

}  // namespace

TEST_CASE("the API.md capture example is valid") {
    CaptureBatch b = valid_batch();
    CHECK_NOTHROW(validate_capture(b));
    CHECK(b.messages.size() == 2);
}

TEST_CASE("capture validation names the offending field") {
    using B = CaptureBatch&;
    CHECK(field_of([](B b) { b.external_conversation_id.clear(); }) == "conversationId");
    CHECK(field_of([](B b) { b.external_conversation_id = std::string(201, 'c'); }) ==
          "conversationId");
    CHECK(field_of([](B b) { b.external_conversation_id = std::string(200, 'c'); }) ==
          "<accepted>");
    CHECK(field_of([](B b) { b.external_conversation_id = "bad \xC3"; }) == "conversationId");
    CHECK(field_of([](B b) { b.messages.clear(); }) == "messages");
    CHECK(field_of([](B b) { b.messages[1].role = "robot"; }) == "messages[1].role");
    CHECK(field_of([](B b) { b.messages[0].role.clear(); }) == "messages[0].role");
    CHECK(field_of([](B b) { b.messages[0].external_id = ""; }) == "messages[0].id");
    CHECK(field_of([](B b) { b.messages[0].external_id = std::string(201, 'i'); }) ==
          "messages[0].id");
    CHECK(field_of([](B b) { b.messages[0].content = "bad \xC3"; }) == "messages[0].content");
    CHECK(field_of([](B b) { b.external_user_id = "bad \xC3"; }) == "user.id");
    CHECK(field_of([](B b) { b.metadata["user"] = "ada"; }) == "user");
    CHECK(field_of([](B b) { b.metadata["session"] = nullptr; }) == "session");
    CHECK(field_of([](B b) { b.metadata["custom"] = json::array{}; }) == "custom");
    CHECK(field_of([](B b) { b.metadata["custom"].as_object()["a"] = json::object{}; }) ==
          "custom.a");
    CHECK(field_of([](B b) {
              b.metadata["custom"].as_object()["ob_live_0123456789abcdef0123456789abcdef"] =
                  json::array{};
          }) == "custom");  // a secret-looking key is not echoed
    CHECK(field_of([](B b) { b.metadata["extra"] = 1; }) == "metadata");
}

TEST_CASE("capture limits: 100 messages, 32768 content bytes, 32 levels of nesting") {
    using B = CaptureBatch&;
    const auto messages = [](std::size_t n, std::size_t bytes) {
        return [=](B b) {
            b.messages.assign(
                n, CapturedMessage{"user", std::string(bytes, 'x'), std::nullopt, std::nullopt});
        };
    };
    CHECK(field_of(messages(100, 1)) == "<accepted>");
    CHECK(field_of(messages(101, 1)) == "messages");
    CHECK(field_of(messages(1, kMaxContentBytes)) == "<accepted>");
    CHECK(field_of(messages(1, kMaxContentBytes + 1)) == "messages[0].content");
    CHECK(field_of([&](B b) { b.metadata["user"] = nested(32); }) == "<accepted>");
    CHECK(field_of([&](B b) { b.metadata["user"] = nested(33); }) == "user");
    CHECK(field_of([&](B b) { b.metadata["organization"] = nested(33); }) == "organization");
}

TEST_CASE("a repeated message id keeps the first message, messages without id all stay") {
    CaptureBatch b = valid_batch();
    b.messages = {{"user", "a", "m1", std::nullopt},
                  {"user", "b", "m1", std::nullopt},
                  {"user", "c", std::nullopt, std::nullopt},
                  {"user", "c", std::nullopt, std::nullopt}};
    validate_capture(b);
    REQUIRE(b.messages.size() == 3);
    CHECK(b.messages[0].content == "a");
    CHECK(b.messages[1].content == "c");
    CHECK(b.messages[2].content == "c");
}
