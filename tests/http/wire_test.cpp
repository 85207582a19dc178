// The wire module without sockets: every request body decoded into the core's input type
// (API.md sections 1, 3, 4, 5 and 8), and every answer encoded.
#include <chrono>
#include <string>

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "fixture.hpp"
#include "wire.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::beast;
using chatbotmgr::test::kCaptureExample;
using chatbotmgr::testing::error_of;
using chatbotmgr::testing::field_of;
namespace json = boost::json;

namespace {

// The field a capture body is refused for; "<body>" for the body as a whole.
std::string capture_field(std::string_view body) {
    const auto e = error_of([&] { wire::decode_capture(body); });
    if (!e) return "<accepted>";
    REQUIRE(e->code() == ErrorCode::invalid_argument);
    return e->field().empty() ? "<body>" : e->field();
}

std::string message_of(std::string_view body, wire::CreateRequest (*decode)(std::string_view)) {
    const auto e = error_of([&] { decode(body); });
    return e ? e->what() : "<accepted>";
}

}  // namespace

TEST_CASE("create body: name required, settings an optional object", "[wire]") {
    const NewChatbot a = wire::decode_new_chatbot(R"({"name":"Bot"})").chatbot;
    CHECK(a.name == "Bot");
    CHECK(a.settings.empty());
    const NewChatbot b = wire::decode_new_chatbot(R"({"name":" Bot ","settings":{"x":1}})").chatbot;
    CHECK(b.name == " Bot ");  // trimming is the core's rule (normalize_name)
    CHECK(b.settings.at("x") == 1);

    CHECK(field_of([] { wire::decode_new_chatbot("{}"); }) == "name");
    CHECK(field_of([] { wire::decode_new_chatbot(R"({"name":null})"); }) == "name");
    CHECK(field_of([] { wire::decode_new_chatbot(R"({"name":7})"); }) == "name");
    CHECK(field_of([] { wire::decode_new_chatbot(R"({"name":"a","settings":[]})"); }) ==
          "settings");
    CHECK(field_of([] { wire::decode_new_chatbot(R"({"name":"a","settings":null})"); }) ==
          "settings");
    CHECK(message_of(R"({"name":7})", wire::decode_new_chatbot) == "name must be a string");
    CHECK(message_of("{}", wire::decode_new_chatbot) == "name is required");
    CHECK(message_of(R"({"name":"a","settings":1})", wire::decode_new_chatbot) ==
          "settings must be a JSON object");
    for (const char* body : {"", "[1]", "\"Bot\"", "{", R"({"name":"a","name":"b"})"}) {
        INFO(body);
        const auto e = error_of([&] { wire::decode_new_chatbot(body); });
        REQUIRE(e);
        CHECK(e->code() == ErrorCode::invalid_argument);
    }
    CHECK(message_of("[1]", wire::decode_new_chatbot) == "request body must be a JSON object");
}

TEST_CASE("patch body: every member optional, {} allowed, null is a wrong type", "[wire]") {
    const ChatbotPatch empty = wire::decode_chatbot_patch("{}");
    CHECK_FALSE(empty.name);
    CHECK_FALSE(empty.settings_patch);
    const ChatbotPatch both = wire::decode_chatbot_patch(R"({"name":"n","settings":{"a":null}})");
    CHECK(both.name == "n");
    REQUIRE(both.settings_patch);
    CHECK(both.settings_patch->at("a").is_null());  // null removes: it reaches the merge
    CHECK(field_of([] { wire::decode_chatbot_patch(R"({"name":null})"); }) == "name");
    CHECK(field_of([] { wire::decode_chatbot_patch(R"({"settings":"x"})"); }) == "settings");
    CHECK(field_of([] { wire::decode_chatbot_patch(R"({"settings":null})"); }) == "settings");
}

TEST_CASE("unknown fields are named, cut at 64 bytes, unless they look like a secret", "[wire]") {
    const Error typo = error_of([] { wire::decode_new_chatbot(R"({"nmae":"x"})"); }).value();
    CHECK(typo.field() == "nmae");
    CHECK(std::string(typo.what()) == R"(unknown field "nmae")");

    for (const std::string& key : {std::string("ob_live_0123456789abcdef0123456789abcdef"),
                                   "ob_sess_" + std::string(64, 'a')}) {
        const Error secret =
            error_of([&] { wire::decode_chatbot_patch("{\"" + key + "\":1}"); }).value();
        CHECK(std::string(secret.what()) == "unknown field");
        CHECK(secret.field().empty());
    }
    // 63 bytes and a 3-byte character across the cut: the character goes whole.
    const std::string long_key = std::string(63, 'k') + "\xe2\x82\xac" + std::string(50, 'z');
    const Error cut = error_of([&] { wire::decode_login("{\"" + long_key + "\":1}"); }).value();
    CHECK(cut.field() == std::string(63, 'k'));
    CHECK(std::string(cut.what()) == "unknown field \"" + std::string(63, 'k') + "\"");
    CHECK(wire::describe_unknown_field(std::string(64, 'k') + "x") ==
          "unknown field \"" + std::string(64, 'k') + "\"");
}

TEST_CASE("login body: email and password strings, nothing else", "[wire]") {
    const auto in = wire::decode_login(R"({"email":"a@example.com","password":"pw"})");
    CHECK(in.email == "a@example.com");
    CHECK(in.password == "pw");
    CHECK(field_of([] { wire::decode_login(R"({"password":"x"})"); }) == "email");
    CHECK(field_of([] { wire::decode_login(R"({"email":"a"})"); }) == "password");
    CHECK(field_of([] { wire::decode_login(R"({"email":null,"password":"x"})"); }) == "email");
    CHECK(field_of([] { wire::decode_login(R"({"email":"a","password":5})"); }) == "password");
    CHECK(field_of([] { wire::decode_login(R"({"email":"a","password":"x","pasword":1})"); }) ==
          "pasword");
}

TEST_CASE("a body where none is taken: empty or {}", "[wire]") {
    CHECK_NOTHROW(wire::decode_no_body(""));
    CHECK_NOTHROW(wire::decode_no_body("{}"));
    CHECK_NOTHROW(wire::decode_no_body(" { } "));
    CHECK(field_of([] { wire::decode_no_body(R"({"name":"x"})"); }) == "name");
    for (const char* body : {"[]", "{", "null", "0", "\"\""}) {
        INFO(body);
        CHECK(testing::code_of([&] { wire::decode_no_body(body); }) == ErrorCode::invalid_argument);
    }
}

TEST_CASE("the API.md capture example decodes into the core's batch", "[wire]") {
    const wire::CaptureRequest in = wire::decode_capture(kCaptureExample);
    const CaptureBatch& batch = in.batch;
    CHECK(batch.external_conversation_id == "conv_123");
    REQUIRE(batch.messages.size() == 2);
    CHECK(batch.messages[0].role == "user");
    CHECK(batch.messages[0].external_id == "msg_001");
    using namespace std::chrono;
    CHECK(batch.messages[0].sent_at ==
          sys_days{2024y / January / 15} + hours(10) + milliseconds(0));
    CHECK_FALSE(batch.messages[1].sent_at.has_value());
    CHECK(batch.external_user_id == "user_456");
    CHECK(batch.metadata.size() == 2);
    CHECK(batch.metadata.at("custom").at("plan") == "pro");
    CHECK(batch.metadata.at("user").at("name") == "Ada");
    CHECK(in.warnings.empty());
    // A numeric user id is its JSON text.
    CHECK(
        wire::decode_capture(
            R"({"conversationId":"c","messages":[{"role":"user","content":"x"}],"user":{"id":42.5}})")
            .batch.external_user_id == "42.5");
}

TEST_CASE("capture decoding names the field of a missing or mistyped member", "[wire]") {
    const auto with_message = [](const std::string& m) {
        return R"({"conversationId":"c","messages":[)" + m + "]}";
    };
    CHECK(capture_field(R"({"messages":[{"role":"user","content":"x"}]})") == "conversationId");
    CHECK(capture_field(R"({"conversationId":5,"messages":[]})") == "conversationId");
    CHECK(capture_field(R"({"conversationId":null,"messages":[]})") == "conversationId");
    CHECK(capture_field(R"({"conversationId":"c"})") == "messages");
    CHECK(capture_field(R"({"conversationId":"c","messages":{}})") == "messages");
    CHECK(capture_field(with_message("5")) == "messages[0]");
    CHECK(capture_field(with_message(R"({"role":"user"})")) == "messages[0].content");
    CHECK(capture_field(with_message(R"({"content":"x"})")) == "messages[0].role");
    CHECK(capture_field(with_message(R"({"role":"user","content":null})")) ==
          "messages[0].content");
    CHECK(capture_field(with_message(R"({"role":1,"content":"x"})")) == "messages[0].role");
    CHECK(capture_field(with_message(R"({"role":"user","content":"x","id":7})")) ==
          "messages[0].id");
    CHECK(capture_field(with_message(R"({"role":"user","content":"x","sentAt":"yesterday"})")) ==
          "messages[0].sentAt");
    CHECK(capture_field(with_message(R"({"role":"user","content":"x","sentAt":1})")) ==
          "messages[0].sentAt");
    CHECK(
        capture_field(
            R"({"conversationId":"c","messages":[{"role":"user","content":"x"}],"user":{"id":null}})") ==
        "user.id");
    CHECK(capture_field("[]") == "<body>");
    // The rules about values are the core's (validate_capture): decoding lets them through.
    CHECK(capture_field(with_message(R"({"role":"robot","content":"x"})")) == "<accepted>");
    CHECK(capture_field(R"({"conversationId":"","messages":[]})") == "<accepted>");
    CHECK(capture_field(
              R"({"conversationId":"c","messages":[{"role":"user","content":"x"}],"user":[]})") ==
          "<accepted>");
}

TEST_CASE("capture is lenient: unknown members become warnings, at most 20 and a count", "[wire]") {
    const wire::CaptureRequest in = wire::decode_capture(
        R"({"conversationId":"c","extra":1,"ob_live_0123456789abcdef0123456789abcdef":2,
            "messages":[{"role":"user","content":"a","tone":"x"}]})");
    REQUIRE(in.warnings.size() == 3);
    CHECK(in.warnings[0] == R"(unknown field "extra" ignored)");
    CHECK(in.warnings[1] == "unknown field ignored");
    CHECK(in.warnings[2] == R"(messages[0]: unknown field "tone" ignored)");
    CHECK(in.batch.metadata.empty());

    std::string many = R"({"conversationId":"c","messages":[{"role":"user","content":"a"}])";
    for (int i = 0; i < 1000; ++i) many += ",\"f" + std::to_string(i) + "\":" + std::to_string(i);
    many += "}";
    const auto capped = wire::decode_capture(many);
    REQUIRE(capped.warnings.size() == wire::kMaxWarnings + 1);
    CHECK(capped.warnings[19] == R"(unknown field "f19" ignored)");
    CHECK(capped.warnings[20] == "and 980 more unknown fields ignored");
    // Exactly 20: no count line.
    std::string twenty = R"({"conversationId":"c","messages":[{"role":"user","content":"a"}])";
    for (int i = 0; i < 20; ++i) twenty += ",\"g" + std::to_string(i) + "\":1";
    CHECK(wire::decode_capture(twenty + "}").warnings.size() == 20);
}

TEST_CASE("answers: a chatbot has exactly the documented fields", "[wire]") {
    using namespace std::chrono;
    Chatbot c;
    c.id = "5b0a3f9e-2c1d-4e8f-9a7b-1c2d3e4f5a6b";
    c.org_id = "org";
    c.name = "Support \"Bot\"";
    c.key_prefix = "ob_live_a1b2c3";
    c.settings = json::object{{"onboarded", true}, {"ratio", 1.5}, {"zero", -0.0}};
    c.created_at = sys_days{2024y / January / 15} + hours(10);
    const std::string one = wire::encode_chatbot(c);
    CHECK(one == R"({"id":"5b0a3f9e-2c1d-4e8f-9a7b-1c2d3e4f5a6b","name":"Support \"Bot\"",)"
                 R"("api_key_prefix":"ob_live_a1b2c3...",)"
                 R"("settings":{"onboarded":true,"ratio":1.5,"zero":-0},)"
                 R"("created_at":"2024-01-15T10:00:00Z"})");
    CHECK(wire::encode_chatbot_list({}) == "[]");
    CHECK(wire::encode_chatbot_list({c, c}) == "[" + one + "," + one + "]");
    CHECK(wire::encode_chatbot_with_key({c, "ob_live_0123", std::nullopt}) ==
          R"({"ok":true,"chatbot":)" + one + R"(,"apiKey":"ob_live_0123"})");
    // A rotation with a grace adds one member; without, the answer is the v1 bytes above.
    CHECK(
        wire::encode_chatbot_with_key({c, "ob_live_0123", c.created_at + std::chrono::hours(1)}) ==
        R"({"ok":true,"chatbot":)" + one +
            R"(,"apiKey":"ob_live_0123","previousKeyExpiresAt":"2024-01-15T11:00:00Z"})");
}

TEST_CASE("key lifecycle bodies: create and rotate options, key information", "[wire]") {
    using std::chrono::seconds;
    const auto t = [](const char* text) {
        return std::chrono::floor<seconds>(*parse_rfc3339(text));
    };
    CHECK(wire::decode_new_chatbot(R"({"name":"a"})").key_expires_at == std::nullopt);
    CHECK(wire::decode_new_chatbot(R"({"name":"a","key_expires_at":"2024-02-01T00:00:00.9Z"})")
              .key_expires_at == t("2024-02-01T00:00:00Z"));
    CHECK(field_of([] { wire::decode_new_chatbot(R"({"name":"a","key_expires_at":"soon"})"); }) ==
          "key_expires_at");
    CHECK(field_of([] { wire::decode_new_chatbot(R"({"name":"a","key_expires_at":5})"); }) ==
          "key_expires_at");

    const JsonLimits limits;
    // No body, or {}: the v1 rotation.
    CHECK(wire::decode_rotate("", limits).grace == seconds(0));
    CHECK(wire::decode_rotate("{}", limits).grace == seconds(0));
    const RotateOptions o = wire::decode_rotate(
        R"({"grace_seconds":3600,"key_expires_at":"2024-03-01T10:00:00+02:00"})", limits);
    CHECK(o.grace == seconds(3600));
    CHECK(o.key_expires_at == t("2024-03-01T08:00:00Z"));
    for (const char* bad : {R"({"grace_seconds":1.0})", R"({"grace_seconds":"60"})",
                            R"({"grace_seconds":null})", R"({"grace_seconds":true})"})
        CHECK(field_of([&] { wire::decode_rotate(bad, limits); }) == "grace_seconds");
    // Past int64: out of the core's range (rotate_key refuses it, naming the field).
    CHECK(wire::decode_rotate(R"({"grace_seconds":18446744073709551615})", limits).grace >
          kMaxGracePeriod);
    CHECK(field_of([&] { wire::decode_rotate(R"({"grace":60})", limits); }) == "grace");
    CHECK(field_of([&] { wire::decode_rotate("[]", limits); }).empty());

    ChatbotKeys keys{
        KeyState{"ob_live_a1b2c3", t("2024-01-15T10:00:00Z"), std::nullopt, std::nullopt},
        std::nullopt};
    CHECK(wire::encode_keys(keys) ==
          R"({"api_key_prefix":"ob_live_a1b2c3...","created_at":"2024-01-15T10:00:00Z",)"
          R"("expires_at":null,"last_used_at":null,"previous":null})");
    keys.current.expires_at = t("2025-01-01T00:00:00Z");
    keys.current.last_used_at = t("2024-01-15T10:05:00Z");
    keys.previous = KeyState{"ob_live_000000", t("2024-01-01T00:00:00Z"), t("2024-01-16T10:00:00Z"),
                             t("2024-01-15T10:04:59Z")};
    CHECK(wire::encode_keys(keys) ==
          R"({"api_key_prefix":"ob_live_a1b2c3...","created_at":"2024-01-15T10:00:00Z",)"
          R"("expires_at":"2025-01-01T00:00:00Z","last_used_at":"2024-01-15T10:05:00Z",)"
          R"("previous":{"api_key_prefix":"ob_live_000000...","expires_at":"2024-01-16T10:00:00Z",)"
          R"("last_used_at":"2024-01-15T10:04:59Z"}})");
    CHECK(wire::encode_grace_ended(true) == R"({"ok":true,"revoked":true})");
    CHECK(wire::encode_grace_ended(false) == R"({"ok":true,"revoked":false})");
}

TEST_CASE("answers: login, capture, ok and errors", "[wire]") {
    LoginResult login;
    login.token = "ob_sess_t";
    login.user = User{"u-1", "o-1", "Ada@Example.com"};
    login.organization = Organization{"o-1", "Acme \"A\""};
    CHECK(wire::encode_login(login) ==
          R"({"ok":true,"token":"ob_sess_t","user":{"id":"u-1","email":"Ada@Example.com"},)"
          R"("organization":{"id":"o-1","name":"Acme \"A\""}})");
    CHECK(wire::encode_capture({"c-1", 2}, {"w \"1\""}) ==
          R"({"ok":true,"conversationId":"c-1","messagesStored":2,"analysisQueued":false,)"
          R"("warnings":["w \"1\""]})");
    CHECK(wire::encode_ok() == R"({"ok":true})");
    CHECK(wire::encode_error("not_found", "chatbot \"x\" not found") ==
          R"({"ok":false,"error":{"code":"not_found","message":"chatbot \"x\" not found"}})");
    for (const auto& body : {wire::encode_login(login), wire::encode_capture({"c", 0}, {})})
        CHECK(parse_json_strict(body).is_object());
}
