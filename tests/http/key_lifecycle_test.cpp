// API.md sections 11, 12 and 18 over real sockets, with the server's fake clock: rotation
// with a grace period to the second, ending a grace, expiring keys, GET .../key and last
// use; and that a v1 client sees exactly v1.
#include <chrono>
#include <string>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "chatbotmgr/chatbot.hpp"
#include "fixture.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::test;
namespace json = boost::json;
using std::chrono::seconds;

namespace {

constexpr const char* kOneMessage =
    R"({"conversationId":"c1","messages":[{"role":"user","content":"hi"}]})";

// A fresh server, an admin session and one chatbot; the fake clock starts at
// 2024-01-15T10:00:00Z.
struct Fixture {
    TestServer server;
    std::string token;
    HttpClient client;
    Bot bot;

    Fixture()
        : token(server.user_with_session("ada@example.com", "Acme").second),
          client(server.port()),
          bot(create_bot(client, token)) {}

    std::string bot_path(const std::string& tail = {}) const {
        return "/api/v1/chatbots/" + bot.id + tail;
    }
    HttpResponse rotate(const std::string& body) {
        Headers h = bearer(token);
        if (!body.empty()) h.emplace_back("Content-Type", "application/json");
        return client.request("POST", bot_path("/rotate-key"), body, h);
    }
    // Status of a capture with this key (a fresh connection, as a chatbot would use).
    int capture_with(const std::string& key) {
        HttpClient c(server.port());
        return c
            .request("POST", "/api/v1/capture", kOneMessage,
                     with(bearer(key), {{"Content-Type", "application/json"}}))
            .status;
    }
    json::value key_info() {
        auto res = client.request("GET", bot_path("/key"), {}, bearer(token));
        REQUIRE(res.status == 200);
        check_json_headers(res);
        return res.json();
    }
    void at(std::int64_t seconds_after_start) {
        server.clock->set(std::chrono::sys_seconds{seconds{1'705'312'800 + seconds_after_start}});
    }
};

std::string key_of(const HttpResponse& res) {
    REQUIRE(res.status == 200);
    return std::string(res.json().at("apiKey").as_string());
}

}  // namespace

TEST_CASE("rotate without a grace is exactly v1: no body, empty body or {}", "[http][keys]") {
    Fixture f;
    for (const std::string body : {"", "{}"}) {
        const std::string before = f.bot.key;
        auto res = f.rotate(body);
        REQUIRE(res.status == 200);
        check_json_headers(res);
        const auto v = res.json();
        CHECK(v.as_object().size() == 3);  // ok, chatbot, apiKey: no previousKeyExpiresAt
        check_chatbot_shape(v.at("chatbot"));
        f.bot.key = key_of(res);
        CHECK(f.capture_with(before) == 401);
        CHECK(f.capture_with(f.bot.key) == 200);
        CHECK(f.key_info().at("previous").is_null());
    }
}

TEST_CASE("a previous key is accepted until the second its grace ends, then 401", "[http][keys]") {
    Fixture f;
    const std::string old_key = f.bot.key;
    f.at(10);
    auto res = f.rotate(R"({"grace_seconds":60})");
    REQUIRE(res.status == 200);
    const auto v = res.json();
    CHECK(v.as_object().size() == 4);
    CHECK(v.at("previousKeyExpiresAt") == "2024-01-15T10:01:10Z");
    const std::string new_key = key_of(res);

    CHECK(f.capture_with(old_key) == 200);
    CHECK(f.capture_with(new_key) == 200);
    auto info = f.key_info();
    CHECK(info.at("created_at") == "2024-01-15T10:00:10Z");  // when the current key was issued
    CHECK(info.at("api_key_prefix").as_string() == new_key.substr(0, 14) + "...");
    const auto& previous = info.at("previous").as_object();
    CHECK(previous.size() == 3);
    CHECK(previous.at("api_key_prefix").as_string() == old_key.substr(0, 14) + "...");
    CHECK(previous.at("expires_at") == "2024-01-15T10:01:10Z");

    f.at(69);
    CHECK(f.capture_with(old_key) == 200);
    f.at(70);
    CHECK(f.capture_with(old_key) == 401);
    CHECK(f.key_info().at("previous").is_null());
    CHECK(f.capture_with(new_key) == 200);
}

TEST_CASE("ending a grace kills the previous key at once, and says whether it did",
          "[http][keys]") {
    Fixture f;
    const std::string old_key = f.bot.key;
    const std::string new_key = key_of(f.rotate(R"({"grace_seconds":3600})"));
    CHECK(f.capture_with(old_key) == 200);
    auto res = f.client.request("DELETE", f.bot_path("/previous-key"), {}, bearer(f.token));
    REQUIRE(res.status == 200);
    check_json_headers(res);
    CHECK(res.body == R"({"ok":true,"revoked":true})");
    CHECK(f.capture_with(old_key) == 401);
    CHECK(f.capture_with(new_key) == 200);
    res = f.client.request("DELETE", f.bot_path("/previous-key"), {}, bearer(f.token));
    CHECK(res.body == R"({"ok":true,"revoked":false})");

    // Unknown and other organizations' chatbots are 404, like every chatbot route.
    auto [other, other_token] = f.server.user_with_session("bob@example.com", "Other");
    check_error(f.client.request("DELETE", f.bot_path("/previous-key"), {}, bearer(other_token)),
                404, "not_found");
    check_error(f.client.request("GET", f.bot_path("/key"), {}, bearer(other_token)), 404,
                "not_found");
    check_error(f.client.request(
                    "DELETE", "/api/v1/chatbots/00000000-0000-4000-8000-000000000000/previous-key",
                    {}, bearer(f.token)),
                404, "not_found");
}

TEST_CASE("a second rotation during a grace kills the previous key at once", "[http][keys]") {
    Fixture f;
    const std::string first = f.bot.key;
    const std::string second = key_of(f.rotate(R"({"grace_seconds":3600})"));
    const std::string third = key_of(f.rotate(R"({"grace_seconds":3600})"));
    CHECK(f.capture_with(first) == 401);
    CHECK(f.capture_with(second) == 200);
    CHECK(f.capture_with(third) == 200);
    const std::string fourth = key_of(f.rotate(""));  // any rotation, grace 0 included
    CHECK(f.capture_with(second) == 401);
    CHECK(f.capture_with(third) == 401);
    CHECK(f.capture_with(fourth) == 200);
}

TEST_CASE("deleting a chatbot kills both of its keys", "[http][keys]") {
    Fixture f;
    const std::string old_key = f.bot.key;
    const std::string new_key = key_of(f.rotate(R"({"grace_seconds":3600})"));
    REQUIRE(f.client.request("DELETE", f.bot_path(), {}, bearer(f.token)).status == 200);
    CHECK(f.capture_with(old_key) == 401);
    CHECK(f.capture_with(new_key) == 401);
}

TEST_CASE("grace_seconds is an integer from 0 to 604800", "[http][keys]") {
    Fixture f;
    for (const char* body :
         {R"({"grace_seconds":-1})", R"({"grace_seconds":604801})", R"({"grace_seconds":1.5})",
          R"({"grace_seconds":"60"})", R"({"grace_seconds":null})",
          R"({"grace_seconds":99999999999999999999})"}) {
        INFO(body);
        auto res = f.rotate(body);
        check_error(res, 400, "invalid_request");
        CHECK(res.body.find("grace_seconds") != std::string::npos);
    }
    CHECK(f.capture_with(f.bot.key) == 200);  // nothing was rotated
    check_error(f.rotate(R"({"grace":60})"), 400, "invalid_request");
    auto res = f.rotate(R"({"grace_seconds":604800})");
    REQUIRE(res.status == 200);
    CHECK(res.json().at("previousKeyExpiresAt") == "2024-01-22T10:00:00Z");
}

TEST_CASE("key_expires_at: in the future, at most 366 days ahead, and 401 from then on",
          "[http][keys]") {
    Fixture f;
    const Headers json_body = with(bearer(f.token), {{"Content-Type", "application/json"}});
    for (const char* when : {"2024-01-15T10:00:00Z", "2023-01-01T00:00:00Z", "2025-01-15T10:00:01Z",
                             "tomorrow", "2024-02-30T00:00:00Z"}) {
        INFO(when);
        auto res = f.client.request("POST", "/api/v1/chatbots",
                                    std::string(R"({"name":"E","key_expires_at":")") + when + "\"}",
                                    json_body);
        check_error(res, 400, "invalid_request");
        CHECK(res.body.find("key_expires_at") != std::string::npos);
    }
    // 366 days ahead exactly is allowed (2024 is a leap year: 2025-01-15 is 366 days on).
    auto res =
        f.client.request("POST", "/api/v1/chatbots",
                         R"({"name":"E","key_expires_at":"2025-01-15T10:00:00Z"})", json_body);
    REQUIRE(res.status == 200);
    CHECK(res.json().as_object().size() == 3);  // the v1 shape
    res = f.client.request("POST", "/api/v1/chatbots",
                           R"({"name":"E","key_expires_at":"2024-01-15T11:00:00Z"})", json_body);
    const std::string key = key_of(res);
    const std::string id(res.json().at("chatbot").at("id").as_string());
    auto info = f.client.request("GET", "/api/v1/chatbots/" + id + "/key", {}, bearer(f.token));
    CHECK(info.json().at("expires_at") == "2024-01-15T11:00:00Z");
    f.at(3'599);
    CHECK(f.capture_with(key) == 200);
    f.at(3'600);
    CHECK(f.capture_with(key) == 401);

    // A rotation may set one too; without, the new key never expires.
    auto rotated = f.rotate(R"({"key_expires_at":"2024-01-15T12:00:00Z"})");
    REQUIRE(rotated.status == 200);
    CHECK(f.key_info().at("expires_at") == "2024-01-15T12:00:00Z");
    f.rotate("");
    CHECK(f.key_info().at("expires_at").is_null());
    check_error(f.rotate(R"({"key_expires_at":"2024-01-15T10:00:00Z"})"), 400, "invalid_request");
}

TEST_CASE("capture's 401 never says why a key was refused", "[http][keys]") {
    Fixture f;
    const std::string rotated_away = f.bot.key;
    const std::string in_grace = key_of(f.rotate(""));
    f.rotate(R"({"grace_seconds":10})");
    auto expired = f.client.request("POST", "/api/v1/chatbots",
                                    R"({"name":"E","key_expires_at":"2024-01-15T10:00:05Z"})",
                                    with(bearer(f.token), {{"Content-Type", "application/json"}}));
    const std::string expiring = key_of(expired);
    f.at(10);  // the grace is over, the key has expired
    const std::string unknown = "ob_live_00000000000000000000000000000000";
    std::string first_body;
    for (const std::string& key : {unknown, rotated_away, in_grace, expiring}) {
        HttpClient c(f.server.port());
        auto res = c.request("POST", "/api/v1/capture", kOneMessage,
                             with(bearer(key), {{"Content-Type", "application/json"}}));
        check_error(res, 401, "unauthorized");
        if (first_body.empty()) first_body = res.body;
        CHECK(res.body == first_body);
        CHECK(res.body.find(key) == std::string::npos);
    }
}

TEST_CASE("last_used_at is the time of the latest capture with each key, written in batches",
          "[http][keys]") {
    Fixture f;
    auto info = f.key_info();
    CHECK(info.at("last_used_at").is_null());
    CHECK(info.at("expires_at").is_null());
    f.at(5);
    REQUIRE(f.capture_with(f.bot.key) == 200);
    f.at(7);
    REQUIRE(f.capture_with("ob_live_00000000000000000000000000000000") == 401);  // not a use
    f.server.registry->flush_key_usage();
    CHECK(f.key_info().at("last_used_at") == "2024-01-15T10:00:05Z");

    const std::string old_key = f.bot.key;
    const std::string new_key = key_of(f.rotate(R"({"grace_seconds":600})"));
    f.at(20);
    REQUIRE(f.capture_with(old_key) == 200);
    f.at(21);
    REQUIRE(f.capture_with(new_key) == 200);
    f.server.registry->flush_key_usage();
    info = f.key_info();
    CHECK(info.at("last_used_at") == "2024-01-15T10:00:21Z");
    CHECK(info.at("previous").at("last_used_at") == "2024-01-15T10:00:20Z");
}
