// API.md section 5 over real sockets: login, logout, cookies, CSRF, expiry and the rate
// limits of section 8.
#include <string>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::test;
namespace json = boost::json;

namespace {

std::string login_body(const std::string& email, const std::string& password) {
    return json::serialize(json::object{{"email", email}, {"password", password}});
}

Headers cookie(const std::string& token) {
    return {{"Cookie", "ob_session=" + token}};
}

}  // namespace

TEST_CASE("login answers token, user and organization, and sets the session cookie", "[http]") {
    TestServer server;
    TestUser user = server.add_user("Ada@Example.com", "Acme");
    HttpClient client(server.port());

    auto res = client.request("POST", "/api/v1/auth/login", login_body(user.email, user.password));
    REQUIRE(res.status == 200);
    check_json_headers(res);
    auto v = res.json();
    CHECK(v.as_object().size() == 4);
    CHECK(v.at("ok") == true);
    const std::string token(v.at("token").as_string());
    CHECK(is_session_token_format(token));
    CHECK(token.rfind("ob_live_", 0) != 0);
    CHECK(v.at("user").as_object().size() == 2);
    CHECK(v.at("user").at("id").as_string() == user.user_id);
    CHECK(v.at("user").at("email").is_string());
    CHECK(v.at("organization") == json::value(json::object{{"id", user.org_id}, {"name", "Acme"}}));
    CHECK(res.header("Set-Cookie") == "ob_session=" + token + "; Path=/; HttpOnly; SameSite=Lax");

    // The email is compared case-insensitively.
    CHECK(client.request("POST", "/api/v1/auth/login", login_body("ada@EXAMPLE.COM", user.password))
              .status == 200);

    // The token works as Bearer and as cookie.
    CHECK(client.request("GET", "/api/v1/chatbots", {}, bearer(token)).status == 200);
    CHECK(client.request("GET", "/api/v1/chatbots", {}, cookie(token)).status == 200);
}

TEST_CASE("the session cookie is Secure behind an https public origin", "[http]") {
    TestServerOptions options;
    options.api.public_origin = "https://bots.example.com";
    TestServer server(options);
    TestUser user = server.add_user("ada@example.com", "Acme");
    HttpClient client(server.port());
    auto res = client.request("POST", "/api/v1/auth/login", login_body(user.email, user.password));
    REQUIRE(res.status == 200);
    const std::string token(res.json().at("token").as_string());
    CHECK(res.header("Set-Cookie") ==
          "ob_session=" + token + "; Path=/; HttpOnly; SameSite=Lax; Secure");
    // Cookie-authenticated writes must then come from that origin.
    check_error(client.request("POST", "/api/v1/chatbots", R"({"name":"x"})",
                               with(cookie(token), {{"Origin", "http://bots.example.com"}})),
                403, "csrf_rejected");
    CHECK(client
              .request("POST", "/api/v1/chatbots", R"({"name":"x"})",
                       with(cookie(token), {{"Origin", "https://bots.example.com"}}))
              .status == 200);
}

TEST_CASE("wrong password and unknown email get the same 401", "[http]") {
    TestServer server;
    TestUser user = server.add_user("ada@example.com", "Acme");
    HttpClient client(server.port());
    auto wrong =
        client.request("POST", "/api/v1/auth/login", login_body(user.email, "nope nope nope"));
    auto unknown =
        client.request("POST", "/api/v1/auth/login", login_body("who@example.com", user.password));
    check_error(wrong, 401, "unauthorized");
    check_error(unknown, 401, "unauthorized");
    CHECK(wrong.body == unknown.body);
    CHECK(!wrong.has_header("Set-Cookie"));
    // The password is never echoed.
    CHECK(unknown.body.find(user.password) == std::string::npos);
}

TEST_CASE("invalid login bodies are 400", "[http]") {
    TestServer server;
    HttpClient client(server.port());
    const std::string secret_field =
        "ob_sess_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{", ""},
        {"[]", ""},
        {R"({"email":"a@example.com"})", "password"},
        {R"({"password":"x"})", "email"},
        {R"({"email":null,"password":"x"})", "email"},
        {R"({"email":"a@example.com","password":5})", "password"},
        {R"({"email":"a@example.com","password":"x","pasword":"y"})", "pasword"},
        {R"({"email":"a@example.com","email":"b@example.com","password":"x"})", ""},
        {R"({"email":"a@example.com","password":"x",")" + secret_field + R"(":1})", ""},
    };
    for (const auto& [body, part] : cases) {
        INFO(body);
        auto res = client.request("POST", "/api/v1/auth/login", body);
        check_error(res, 400, "invalid_request");
        CHECK(res.body.find("ob_sess_") == std::string::npos);
        if (!part.empty())
            CHECK(res.json().at("error").at("message").as_string().find(part) != std::string::npos);
    }
}

TEST_CASE("credentials: what is a 401", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    Bot bot = create_bot(client, token);

    const std::vector<Headers> rejected = {
        {},                                                    // none
        {{"Authorization", "Bearer"}},                         // empty
        {{"Authorization", "Bearer ob_sess_nope"}},            // malformed
        {{"Authorization", "Bearer " + token.substr(0, 40)}},  // truncated
        {{"Authorization", "Basic YWRhOnB3"}},                 // another scheme
        {{"Authorization", "Bearer " + bot.key}},              // an API key is no session
        {{"Cookie", "ob_session=" + bot.key}},                 // not as cookie either
        {{"Cookie", "other=" + token}},                        // wrong cookie name
        {{"Cookie", "ob_session=ob_sess_0000"}},
        // Authorization wins over a valid cookie.
        {{"Authorization", "Bearer ob_sess_nope"}, {"Cookie", "ob_session=" + token}},
    };
    for (const auto& headers : rejected) {
        INFO((headers.empty() ? std::string("no headers") : headers[0].second));
        auto res = client.request("GET", "/api/v1/chatbots", {}, headers);
        check_error(res, 401, "unauthorized");
        CHECK(res.body.find("ob_live_") == std::string::npos);
        CHECK(res.body.find("ob_sess_") == std::string::npos);
    }
    // A valid Bearer wins over a bad cookie.
    CHECK(client
              .request("GET", "/api/v1/chatbots", {},
                       {{"Authorization", "Bearer " + token}, {"Cookie", "ob_session=junk"}})
              .status == 200);
    // The cookie among others, quoted or not.
    CHECK(client
              .request("GET", "/api/v1/chatbots", {},
                       {{"Cookie", "a=b; ob_session=\"" + token + "\"; c=d"}})
              .status == 200);
    // The scheme is case-insensitive.
    CHECK(client.request("GET", "/api/v1/chatbots", {}, {{"Authorization", "bearer " + token}})
              .status == 200);
    // 401 comes before body checks.
    check_error(
        client.request("POST", "/api/v1/chatbots", "not json", {{"Content-Type", "text/plain"}}),
        401, "unauthorized");
}

TEST_CASE("sessions expire after their time to live", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    CHECK(client.request("GET", "/api/v1/chatbots", {}, bearer(token)).status == 200);
    server.clock->advance(std::chrono::hours(12) - std::chrono::seconds(1));
    CHECK(client.request("GET", "/api/v1/chatbots", {}, bearer(token)).status == 200);
    server.clock->advance(std::chrono::seconds(2));
    check_error(client.request("GET", "/api/v1/chatbots", {}, bearer(token)), 401, "unauthorized");
    check_error(client.request("GET", "/api/v1/chatbots", {}, cookie(token)), 401, "unauthorized");
}

TEST_CASE("logout revokes the session and clears the cookie", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    const std::string other = server.login(user);
    HttpClient client(server.port());

    auto res = client.request("POST", "/api/v1/auth/logout", {}, bearer(token));
    REQUIRE(res.status == 200);
    check_json_headers(res);
    CHECK(res.body == R"({"ok":true})");
    const std::string set_cookie = res.header("Set-Cookie");
    CHECK(set_cookie.rfind("ob_session=;", 0) == 0);
    CHECK(set_cookie.find("Max-Age=0") != std::string::npos);
    CHECK(set_cookie.find("Path=/") != std::string::npos);
    CHECK(set_cookie.find("HttpOnly") != std::string::npos);

    check_error(client.request("GET", "/api/v1/chatbots", {}, bearer(token)), 401, "unauthorized");
    // Logout without a valid session is a 401 (and still clears the cookie).
    auto again = client.request("POST", "/api/v1/auth/logout", {}, bearer(token));
    check_error(again, 401, "unauthorized");
    CHECK(again.header("Set-Cookie").rfind("ob_session=;", 0) == 0);
    check_error(client.request("POST", "/api/v1/auth/logout"), 401, "unauthorized");
    // Only that session ended.
    CHECK(client.request("GET", "/api/v1/chatbots", {}, bearer(other)).status == 200);

    // Cookie logout is a cookie-authenticated POST: it needs the Origin.
    check_error(client.request("POST", "/api/v1/auth/logout", {}, cookie(other)), 403,
                "csrf_rejected");
    CHECK(client
              .request("POST", "/api/v1/auth/logout", {},
                       with(cookie(other), {{"Origin", server.origin}}))
              .status == 200);
    check_error(client.request("GET", "/api/v1/chatbots", {}, cookie(other)), 401, "unauthorized");
}

TEST_CASE("cookie-authenticated writes need the public Origin but Bearer ones do not", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    Bot bot = create_bot(client, token);
    const std::string item = "/api/v1/chatbots/" + bot.id;
    const Headers good_origin{{"Origin", server.origin}};

    struct Call {
        std::string method, target, body;
    };
    const std::vector<Call> writes = {
        {"POST", "/api/v1/chatbots", R"({"name":"x"})"},
        {"PATCH", item, R"({"name":"y"})"},
        {"POST", item + "/rotate-key", ""},
        {"DELETE", item, ""},
    };
    for (const auto& w : writes) {
        INFO(w.method << " " << w.target);
        check_error(client.request(w.method, w.target, w.body, cookie(token)), 403,
                    "csrf_rejected");
        check_error(client.request(w.method, w.target, w.body,
                                   with(cookie(token), {{"Origin", "http://evil.example"}})),
                    403, "csrf_rejected");
        check_error(
            client.request(w.method, w.target, w.body, with(cookie(token), {{"Origin", "null"}})),
            403, "csrf_rejected");
    }
    // CSRF comes before size, media type and JSON checks...
    check_error(client.request("POST", "/api/v1/chatbots", "{bad", cookie(token)), 403,
                "csrf_rejected");
    check_error(client.request("POST", "/api/v1/chatbots", "x",
                               with(cookie(token), {{"Content-Type", "text/plain"}})),
                403, "csrf_rejected");
    // ...and after credentials.
    check_error(
        client.request("POST", "/api/v1/chatbots", R"({"name":"x"})", cookie("ob_sess_bad")), 401,
        "unauthorized");
    // Reads need no Origin.
    CHECK(client.request("GET", item, {}, cookie(token)).status == 200);
    CHECK(client.request("GET", "/api/v1/chatbots", {}, cookie(token)).status == 200);
    // With the right Origin every write goes through.
    for (const auto& w : writes) {
        INFO(w.method << " " << w.target);
        CHECK(client.request(w.method, w.target, w.body, with(cookie(token), good_origin)).status ==
              200);
    }
    // Bearer-authenticated writes are not subject to the check, with or without Origin.
    Bot other = create_bot(client, token);
    CHECK(client
              .request("PATCH", "/api/v1/chatbots/" + other.id, R"({"name":"z"})",
                       with(bearer(token), {{"Origin", "http://evil.example"}}))
              .status == 200);
    CHECK(client.request("DELETE", "/api/v1/chatbots/" + other.id, {}, bearer(token)).status ==
          200);
}

TEST_CASE("login is refused after 10 failures until the window has passed", "[http]") {
    TestServer server;
    TestUser user = server.add_user("ada@example.com", "Acme");
    HttpClient client(server.port());
    for (int i = 0; i < 10; ++i) {
        INFO("failure " << i);
        check_error(client.request("POST", "/api/v1/auth/login", login_body(user.email, "wrong")),
                    401, "unauthorized");
    }
    // Now even the right password is refused.
    auto res = client.request("POST", "/api/v1/auth/login", login_body(user.email, user.password));
    check_error(res, 429, "rate_limited");
    const int retry_after = std::stoi(res.header("Retry-After"));
    CHECK(retry_after >= 1);
    CHECK(retry_after <= 300);
    CHECK(!res.has_header("Set-Cookie"));

    server.clock->advance(std::chrono::minutes(4));
    check_error(client.request("POST", "/api/v1/auth/login", login_body(user.email, user.password)),
                429, "rate_limited");
    server.clock->advance(std::chrono::minutes(1));
    CHECK(client.request("POST", "/api/v1/auth/login", login_body(user.email, user.password))
              .status == 200);
}

TEST_CASE("failed session checks are limited, valid ones never", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());

    // A missing credential does not count.
    for (int i = 0; i < 150; ++i) {
        auto res = client.request("GET", "/api/v1/chatbots");
        if (res.status != 401) FAIL("request " << i << " got " << res.status);
    }
    for (int i = 0; i < 100; ++i) {
        auto res = client.request("GET", "/api/v1/chatbots", {},
                                  bearer("ob_sess_wrong" + std::to_string(i)));
        if (res.status != 401) FAIL("failure " << i << " got " << res.status);
    }
    auto res = client.request("GET", "/api/v1/chatbots", {}, bearer("ob_sess_wrong"));
    check_error(res, 429, "rate_limited");
    const int retry_after = std::stoi(res.header("Retry-After"));
    CHECK(retry_after >= 1);
    CHECK(retry_after <= 60);
    // A valid credential is never refused.
    CHECK(client.request("GET", "/api/v1/chatbots", {}, bearer(token)).status == 200);
    CHECK(client.request("GET", "/api/v1/chatbots", {}, cookie(token)).status == 200);

    server.clock->advance(std::chrono::minutes(1));
    check_error(client.request("GET", "/api/v1/chatbots", {}, bearer("ob_sess_wrong")), 401,
                "unauthorized");
}
