// Operations hooks (API.md section 16, issue 15): X-Request-Id on every answer, the JSON
// access log, and what a MetricsSink hears.
#include <atomic>
#include <map>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "access_log.hpp"
#include "chatbotmgr/beast/operations.hpp"
#include "fixture.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::test;

namespace {

const std::regex kGeneratedId("^[0-9a-f]{32}$");

// Counts every event; requests by "METHOD route status".
class RecordingSink final : public beast::MetricsSink {
  public:
    void connection_opened() noexcept override { ++opened; }
    void connection_closed() noexcept override { ++closed; }
    void request_started() noexcept override { ++started; }
    void request_finished(const beast::RequestRecord& r) noexcept override {
        std::lock_guard lock(mutex);
        finished.push_back(std::string(r.method).append(" ").append(r.route).append(" ").append(
            std::to_string(r.status)));
    }
    void key_verified(beast::KeyVerification v) noexcept override {
        std::lock_guard lock(mutex);
        ++keys[std::string(beast::to_string(v))];
    }
    void login_answered(beast::LoginOutcome v) noexcept override {
        std::lock_guard lock(mutex);
        ++logins[std::string(beast::to_string(v))];
    }

    std::atomic<int> opened{0}, closed{0}, started{0};
    std::mutex mutex;
    std::vector<std::string> finished;
    std::map<std::string, int> keys, logins;
};

}  // namespace

TEST_CASE("X-Request-Id: a well-formed one is echoed, anything else is replaced", "[http][ops]") {
    TestServer server;
    HttpClient client(server.port());
    CHECK(client.request("GET", "/healthz", {}, {{"X-Request-Id", "abc-123.X_y:z"}})
              .header("X-Request-Id") == "abc-123.X_y:z");
    const std::string key = "ob_live_" + std::string(32, 'a');
    for (const std::string& bad : {std::string("has space"), std::string(129, 'a'), key, "x-" + key,
                                   std::string("OB_SESS_") + std::string(64, '1'),
                                   std::string("ob_inv_x"), std::string("a\"b")}) {
        const std::string id =
            client.request("GET", "/healthz", {}, {{"X-Request-Id", bad}}).header("X-Request-Id");
        CAPTURE(bad);
        CHECK(std::regex_match(id, kGeneratedId));
    }
    // Without one, each answer gets a fresh id -- also errors, and answers of no route.
    const auto a = client.request("GET", "/api/v1/chatbots").header("X-Request-Id");
    const auto b = client.request("GET", "/nowhere").header("X-Request-Id");
    CHECK(std::regex_match(a, kGeneratedId));
    CHECK(std::regex_match(b, kGeneratedId));
    CHECK(a != b);
    CHECK(beast::detail::acceptable_request_id(std::string(128, 'z')));
    CHECK_FALSE(beast::detail::acceptable_request_id(""));
}

TEST_CASE("the JSON access log: one object a line, route names, no secret", "[http][ops]") {
    TestServerOptions options;
    options.server.access_log_format = beast::AccessLogFormat::json;
    TestServer server(options);
    TestUser user = server.add_user("ada@example.com", "Acme");
    const std::string token = server.login(user);
    HttpClient client(server.port());
    Bot bot = create_bot(client, token);
    client.request("GET", "/api/v1/chatbots/" + bot.id, {}, {{"Authorization", "Bearer " + token}});
    client.request("GET", "/" + bot.key, {}, {{"X-Request-Id", "trace-1"}});
    server.stop();

    std::vector<boost::json::object> lines;
    for (const std::string& line : server.access_log()) {
        CAPTURE(line);
        CHECK(line.find(bot.key) == std::string::npos);
        CHECK(line.find(token) == std::string::npos);
        lines.push_back(boost::json::parse(line).as_object());
    }
    REQUIRE(lines.size() >= 4);
    for (const auto& o : lines)
        for (const char* field : {"time", "level", "method", "route", "path", "status",
                                  "duration_ms", "bytes", "request_id", "client"})
            CHECK(o.contains(field));
    // A line is written once its answer is out, so lines of different connections may come
    // in any order: each is found by what it says.
    const auto find = [&](const char* field, std::string_view value) {
        for (const auto& o : lines)
            if (o.contains(field) && o.at(field).is_string() && o.at(field).as_string() == value)
                return o;
        FAIL("no access-log line with " << field << " " << value);
        return boost::json::object();
    };
    const auto get = find("route", "chatbot");
    CHECK(get.at("method").as_string() == "GET");
    CHECK(get.at("status").as_int64() == 200);
    CHECK(get.at("client").as_string() == "127.0.0.1");
    CHECK(get.at("bytes").as_int64() > 0);
    const auto secret = find("request_id", "trace-1");
    CHECK(secret.at("route").as_string() == "unmatched");
    CHECK(secret.at("path").as_string() == "/[redacted]");
    CHECK(find("route", "login").at("status").as_int64() == 200);
}

TEST_CASE("a MetricsSink hears connections, requests, key checks and logins", "[http][ops]") {
    auto sink = std::make_shared<RecordingSink>();
    TestServerOptions options;
    options.server.metrics = sink;
    options.api.metrics = sink;
    TestServer server(options);
    TestUser user = server.add_user("ada@example.com", "Acme");
    {
        HttpClient client(server.port());
        CHECK(client
                  .request("POST", "/api/v1/auth/login",
                           R"({"email":"ada@example.com","password":"wrong"})")
                  .status == 401);
        const std::string token = server.login(user);
        Bot bot = create_bot(client, token);
        const std::string capture =
            R"({"conversationId":"c","messages":[{"role":"user","content":"x"}]})";
        CHECK(client
                  .request("POST", "/api/v1/capture", capture,
                           {{"Authorization", "Bearer " + bot.key}})
                  .status == 200);
        CHECK(client
                  .request("POST", "/api/v1/capture", capture,
                           {{"Authorization", "Bearer ob_live_" + std::string(32, '0')}})
                  .status == 401);
        // No credential at all is no verification.
        CHECK(client.request("POST", "/api/v1/capture", capture).status == 401);
        CHECK(client
                  .request("GET", "/api/v1/chatbots/" + bot.id, {},
                           {{"Authorization", "Bearer " + token}})
                  .status == 200);
    }
    server.stop();
    CHECK(sink->opened.load() >= 2);
    CHECK(sink->opened.load() == sink->closed.load());
    std::lock_guard lock(sink->mutex);
    CHECK(static_cast<std::size_t>(sink->started.load()) == sink->finished.size());
    CHECK(sink->keys == std::map<std::string, int>{{"invalid", 1}, {"valid", 1}});
    CHECK(sink->logins == std::map<std::string, int>{{"failure", 1}, {"success", 1}});
    const auto has = [&](const std::string& s) {
        return std::find(sink->finished.begin(), sink->finished.end(), s) != sink->finished.end();
    };
    CHECK(has("POST login 401"));
    CHECK(has("POST chatbots 200"));
    CHECK(has("POST capture 200"));
    CHECK(has("GET chatbot 200"));
}

TEST_CASE("key checks tell a previous key and an expired key apart, for the metrics only",
          "[http][ops]") {
    auto sink = std::make_shared<RecordingSink>();
    TestServerOptions options;
    options.api.metrics = sink;
    TestServer server(options);
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    const Headers json_body = with(bearer(token), {{"Content-Type", "application/json"}});
    const Bot bot = create_bot(client, token);
    auto rotated = client.request("POST", "/api/v1/chatbots/" + bot.id + "/rotate-key",
                                  R"({"grace_seconds":60})", json_body);
    REQUIRE(rotated.status == 200);
    auto expiring =
        client.request("POST", "/api/v1/chatbots",
                       R"({"name":"E","key_expires_at":"2024-01-15T10:00:30Z"})", json_body);
    REQUIRE(expiring.status == 200);
    const std::string capture =
        R"({"conversationId":"c","messages":[{"role":"user","content":"x"}]})";
    const auto status_with = [&](const std::string& key) {
        return client.request("POST", "/api/v1/capture", capture, bearer(key)).status;
    };
    CHECK(status_with(bot.key) == 200);  // the previous key, in its grace
    CHECK(status_with(std::string(rotated.json().at("apiKey").as_string())) == 200);
    server.clock->advance(std::chrono::seconds(60));
    CHECK(status_with(bot.key) == 401);  // its grace is over
    CHECK(status_with(std::string(expiring.json().at("apiKey").as_string())) == 401);
    std::lock_guard lock(sink->mutex);
    CHECK(sink->keys ==
          std::map<std::string, int>{{"previous_key", 1}, {"valid", 1}, {"expired", 2}});
}
