// API.md section 4 over real sockets: POST /api/v1/capture.
#include <string>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::test;
namespace json = boost::json;

namespace {

struct Fixture {
    TestServer server;
    std::string token;
    Bot bot;
    HttpClient client;
    explicit Fixture(TestServerOptions options = {})
        : server(std::move(options)), client(server.port()) {
        token = server.user_with_session("ada@example.com", "Acme").second;
        bot = create_bot(client, token);
    }
    HttpResponse capture(const std::string& body, const Headers& headers) {
        return client.request("POST", "/api/v1/capture", body, headers);
    }
    HttpResponse capture(const std::string& body) { return capture(body, bearer(bot.key)); }
};

void check_capture_shape(const HttpResponse& res) {
    INFO(res.body);
    REQUIRE(res.status == 200);
    check_json_headers(res);
    auto v = res.json();
    REQUIRE(v.is_object());
    CHECK(v.as_object().size() == 5);
    CHECK(v.at("ok") == true);
    CHECK(is_canonical_uuid(v.at("conversationId").as_string()));
    CHECK(v.at("messagesStored").is_int64());
    CHECK(v.at("analysisQueued") == false);
    CHECK(v.at("warnings").is_array());
}

}  // namespace

TEST_CASE("capture stores the example and answers the documented shape", "[http]") {
    Fixture f;
    auto res = f.capture(kCaptureExample);
    check_capture_shape(res);
    auto v = res.json();
    CHECK(v.at("messagesStored") == 2);
    CHECK(v.at("warnings") == json::array{});
    CHECK(res.body.find("conv_123") == std::string::npos);  // the internal id, not the caller's
    const auto conversation = v.at("conversationId");
    CHECK(f.server.store->count_data(f.bot.id) == ChatbotDataCounts{1, 2, 0});

    // The same again: nothing new, same conversation.
    auto again = f.capture(kCaptureExample);
    check_capture_shape(again);
    CHECK(again.json().at("messagesStored") == 0);
    CHECK(again.json().at("conversationId") == conversation);
    CHECK(f.server.store->count_data(f.bot.id) == ChatbotDataCounts{1, 2, 0});
}

TEST_CASE("capture deduplicates by message id only", "[http]") {
    Fixture f;
    const std::string no_ids =
        R"({"conversationId":"c","messages":[{"role":"user","content":"a"},{"role":"user","content":"a"}]})";
    CHECK(f.capture(no_ids).json().at("messagesStored") == 2);
    CHECK(f.capture(no_ids).json().at("messagesStored") == 2);  // never deduplicated
    const std::string twice =
        R"({"conversationId":"c","messages":[{"role":"user","content":"a","id":"m"},{"role":"assistant","content":"b","id":"m"}]})";
    auto res = f.capture(twice);
    check_capture_shape(res);
    CHECK(res.json().at("messagesStored") == 1);  // same id twice in one request: once
    CHECK(f.capture(twice).json().at("messagesStored") == 0);
    // Another conversation has its own ids.
    const std::string other =
        R"({"conversationId":"d","messages":[{"role":"user","content":"a","id":"m"}]})";
    auto d = f.capture(other);
    CHECK(d.json().at("messagesStored") == 1);
    CHECK(d.json().at("conversationId") != res.json().at("conversationId"));
    CHECK(f.server.store->count_data(f.bot.id) == ChatbotDataCounts{2, 6, 0});
}

TEST_CASE("capture accepts unknown top-level fields and lists them as warnings", "[http]") {
    Fixture f;
    const std::string secret = "ob_live_0123456789abcdef0123456789abcdef";
    auto res = f.capture(R"({"conversationId":"c","messages":[{"role":"user","content":"a"}],)"
                         R"("extra":1,")" +
                         secret + R"(":2})");
    check_capture_shape(res);
    const auto parsed = res.json();
    const auto& warnings = parsed.at("warnings").as_array();
    CHECK(warnings.size() == 2);
    CHECK(res.body.find("extra") != std::string::npos);
    CHECK(res.body.find("ob_live_") == std::string::npos);
    CHECK(res.json().at("messagesStored") == 1);
}

TEST_CASE("invalid capture bodies are 400 naming the field", "[http]") {
    Fixture f;
    auto msgs = [](const std::string& inner) {
        return R"({"conversationId":"c","messages":[)" + inner + "]}";
    };
    std::string hundred_one;
    for (int i = 0; i < 101; ++i)
        hundred_one += std::string(i ? "," : "") + R"({"role":"user","content":"x"})";
    std::string deep_user =
        R"({"conversationId":"c","messages":[{"role":"user","content":"x"}],"user":)";
    for (int i = 0; i < 33; ++i) deep_user += R"({"a":)";
    deep_user += '1';  // appended: GCC 12 at -O3 sees a false -Wrestrict in "1" + std::string
    deep_user.append(34, '}');

    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", ""},
        {"{", ""},
        {"[]", ""},
        {R"({"messages":[{"role":"user","content":"x"}]})", "conversationId"},
        {R"({"conversationId":"","messages":[{"role":"user","content":"x"}]})", "conversationId"},
        {R"({"conversationId":5,"messages":[{"role":"user","content":"x"}]})", "conversationId"},
        {R"({"conversationId":null,"messages":[{"role":"user","content":"x"}]})", "conversationId"},
        {R"({"conversationId":")" + std::string(201, 'c') +
             R"(","messages":[{"role":"user","content":"x"}]})",
         "conversationId"},
        {R"({"conversationId":"c"})", "messages"},
        {R"({"conversationId":"c","messages":[]})", "messages"},
        {msgs(hundred_one), "messages"},
        {msgs(R"({"role":"robot","content":"x"})"), "messages[0].role"},
        {msgs(R"({"role":"user"})"), "messages[0].content"},
        {msgs(R"({"role":"user","content":")" + std::string(32'769, 'x') + R"("})"),
         "messages[0].content"},
        {msgs(R"({"role":"user","content":"x"},{"role":"user","content":"x","id":""})"),
         "messages[1].id"},
        {msgs(R"({"role":"user","content":"x","sentAt":"yesterday"})"), "messages[0].sentAt"},
        {R"({"conversationId":"c","messages":[{"role":"user","content":"x"}],"custom":{"a":{"b":1}}})",
         "custom"},
        {R"({"conversationId":"c","messages":[{"role":"user","content":"x"}],"user":"ada"})",
         "user"},
        {deep_user, ""},
        {R"({"conversationId":"c","conversationId":"d","messages":[{"role":"user","content":"x"}]})",
         ""},
    };
    for (const auto& [body, field] : cases) {
        INFO(body.substr(0, 200));
        auto res = f.capture(body);
        check_error(res, 400, "invalid_request");
        if (!field.empty())
            CHECK(res.json().at("error").at("message").as_string().find(field) !=
                  std::string::npos);
    }
    // A content of exactly 32,768 bytes is fine.
    check_capture_shape(
        f.capture(msgs(R"({"role":"user","content":")" + std::string(32'768, 'x') + R"("})")));
    CHECK(f.server.store->count_data(f.bot.id).messages == 1);
}

TEST_CASE("capture credentials: missing, malformed, rotated, deleted keys and sessions are 401",
          "[http]") {
    Fixture f;
    const std::string body = R"({"conversationId":"c","messages":[{"role":"user","content":"x"}]})";
    Bot other = create_bot(f.client, f.token);
    Bot rotated = create_bot(f.client, f.token);
    REQUIRE(
        f.client
            .request("POST", "/api/v1/chatbots/" + rotated.id + "/rotate-key", {}, bearer(f.token))
            .status == 200);
    REQUIRE(
        f.client.request("DELETE", "/api/v1/chatbots/" + other.id, {}, bearer(f.token)).status ==
        200);

    const std::vector<Headers> rejected = {
        {},
        {{"Authorization", "Bearer"}},
        {{"Authorization", "Bearer ob_live_123"}},
        {{"Authorization", "Bearer ob_live_0123456789ABCDEF0123456789ABCDEF"}},
        {{"Authorization", "Bearer ob_live_0123456789abcdef0123456789abcdef"}},  // never issued
        {{"Authorization", "Basic " + f.bot.key}},
        {{"Authorization", "Bearer " + rotated.key}},
        {{"Authorization", "Bearer " + other.key}},
        {{"Authorization", "Bearer " + f.token}},  // a session token
        {{"Cookie", "ob_session=" + f.token}},
    };
    for (const auto& headers : rejected) {
        INFO((headers.empty() ? std::string("none") : headers[0].first));
        auto res = f.capture(body, headers);
        check_error(res, 401, "unauthorized");
        CHECK(res.body.find("ob_live_") == std::string::npos);
        CHECK(res.body.find("ob_sess_") == std::string::npos);
    }
    check_capture_shape(f.capture(body));
}

TEST_CASE("failed API-key checks are limited per client, a valid key never", "[http]") {
    Fixture f;
    const std::string body = R"({"conversationId":"c","messages":[{"role":"user","content":"x"}]})";
    const Headers wrong = bearer("ob_live_0123456789abcdef0123456789abcdef");
    for (int i = 0; i < 100; ++i) {
        auto res = f.capture(body, wrong);
        if (res.status != 401) FAIL("failure " << i << " got " << res.status);
    }
    auto res = f.capture(body, wrong);
    check_error(res, 429, "rate_limited");
    CHECK(std::stoi(res.header("Retry-After")) >= 1);
    check_capture_shape(f.capture(body));
    f.server.clock->advance(std::chrono::seconds(61));
    check_error(f.capture(body, wrong), 401, "unauthorized");
}
