// Health, readiness, storage failures (503), the JSON headers on every answer, the access
// log and graceful stop.
#include <condition_variable>
#include <future>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::test;

TEST_CASE("healthz answers 200 always, readyz only while storage answers", "[http]") {
    TestServer server;
    HttpClient client(server.port());
    auto health = client.request("GET", "/healthz");
    CHECK(health.status == 200);
    CHECK(health.body == R"({"ok":true})");
    check_json_headers(health);
    auto ready = client.request("GET", "/readyz");
    CHECK(ready.status == 200);
    CHECK(ready.body == R"({"ok":true})");
    check_json_headers(ready);

    server.store->failing = true;
    CHECK(client.request("GET", "/healthz").status == 200);
    auto down = client.request("GET", "/readyz");
    check_error(down, 503, "unavailable");
    CHECK(std::stoi(down.header("Retry-After")) >= 1);

    server.store->failing = false;
    CHECK(client.request("GET", "/readyz").status == 200);
}

TEST_CASE("storage failures are 503 with Retry-After and reveal nothing", "[http]") {
    TestServer server;
    TestUser user = server.add_user("ada@example.com", "Acme");
    const std::string token = server.login(user);
    HttpClient client(server.port());
    Bot bot = create_bot(client, token);

    server.store->failing = true;
    const std::string capture =
        R"({"conversationId":"c","messages":[{"role":"user","content":"x"}]})";
    const std::vector<std::tuple<std::string, std::string, std::string, Headers>> calls = {
        {"GET", "/api/v1/chatbots", "", bearer(token)},
        {"POST", "/api/v1/chatbots", R"({"name":"x"})", bearer(token)},
        {"GET", "/api/v1/chatbots/" + bot.id, "", bearer(token)},
        {"PATCH", "/api/v1/chatbots/" + bot.id, R"({"name":"y"})", bearer(token)},
        {"POST", "/api/v1/chatbots/" + bot.id + "/rotate-key", "", bearer(token)},
        {"DELETE", "/api/v1/chatbots/" + bot.id, "", bearer(token)},
        {"POST", "/api/v1/capture", capture, bearer(bot.key)},
        {"POST", "/api/v1/auth/login", R"({"email":"ada@example.com","password":"x"})", {}},
    };
    for (const auto& [method, target, body, headers] : calls) {
        INFO(method << " " << target);
        auto res = client.request(method, target, body, headers);
        check_error(res, 503, "unavailable");
        CHECK(std::stoi(res.header("Retry-After")) >= 1);
        CHECK(res.body.find("locked") == std::string::npos);  // the store's own words stay inside
    }
    server.store->failing = false;
    CHECK(client.request("GET", "/api/v1/chatbots/" + bot.id, {}, bearer(token)).status == 200);
}

TEST_CASE("every answer carries the JSON headers", "[http]") {
    TestServerOptions options;
    options.api.login_max_failures = 1;
    TestServer server(options);
    TestUser user = server.add_user("ada@example.com", "Acme");
    const std::string token = server.login(user);
    HttpClient client(server.port());
    Bot bot = create_bot(client, token);

    std::vector<HttpResponse> answers;
    answers.push_back(client.request("GET", "/healthz"));
    answers.push_back(client.request("GET", "/api/v1/chatbots", {}, bearer(token)));
    answers.push_back(client.request("POST", "/api/v1/chatbots", "{", bearer(token)));
    answers.push_back(client.request("GET", "/api/v1/chatbots"));
    answers.push_back(client.request("DELETE", "/api/v1/chatbots/" + bot.id, {},
                                     {{"Cookie", "ob_session=" + token}}));
    answers.push_back(client.request("GET", "/nope"));
    answers.push_back(client.request("PUT", "/api/v1/chatbots"));
    answers.push_back(client.request("POST", "/api/v1/chatbots", "x",
                                     with(bearer(token), {{"Content-Type", "text/plain"}})));
    answers.push_back(
        client.request("POST", "/api/v1/auth/login", R"({"email":"a@b.c","password":"x"})"));
    answers.push_back(
        client.request("POST", "/api/v1/auth/login", R"({"email":"a@b.c","password":"x"})"));
    server.store->failing = true;
    answers.push_back(client.request("GET", "/readyz"));
    server.store->failing = false;
    {
        HttpClient big(server.port());
        answers.push_back(
            big.request("POST", "/api/v1/chatbots", std::string(70'000, ' '), bearer(token)));
    }
    {
        HttpClient huge(server.port());
        huge.write_raw("GET /healthz HTTP/1.1\r\nX: " + std::string(20'000, 'a') + "\r\n\r\n");
        answers.push_back(*huge.read_response());
    }
    std::set<int> statuses;
    for (const auto& res : answers) {
        statuses.insert(res.status);
        check_json_headers(res);
        CHECK(res.header("Content-Length") == std::to_string(res.body.size()));
    }
    CHECK(statuses == std::set<int>{200, 400, 401, 403, 404, 405, 413, 415, 429, 431, 503});
}

TEST_CASE("the access log has one line per request and no secrets", "[http]") {
    TestServer server;
    TestUser user = server.add_user("ada@example.com", "Acme");
    HttpClient client(server.port());
    auto login =
        client.request("POST", "/api/v1/auth/login",
                       R"({"email":"ada@example.com","password":")" + user.password + R"("})");
    const std::string token(login.json().at("token").as_string());
    Bot bot = create_bot(client, token);
    client.request("GET", "/api/v1/chatbots?token=" + token + "&x=1", {}, bearer(token));
    client.request("GET", "/api/v1/chatbots/" + bot.key, {}, bearer(token));
    client.request("GET", "/api/v1/" + token + "/x%0aforged", {}, bearer(token));
    client.request("POST", "/api/v1/capture",
                   R"({"conversationId":"c","messages":[{"role":"user","content":"x"}]})",
                   bearer(bot.key));
    constexpr std::size_t kRequests = 6;

    std::vector<std::string> lines;
    for (int i = 0; i < 500 && lines.size() < kRequests; ++i) {
        lines = server.access_log();
        if (lines.size() < kRequests) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    REQUIRE(lines.size() == kRequests);
    static const std::regex format(R"(http: [A-Z]+ /\S* \d{3} \d+\.\d{3}ms)");
    for (const auto& line : lines) {
        INFO(line);
        CHECK(std::regex_match(line, format));
        CHECK(line.find("ob_sess_") == std::string::npos);
        CHECK(line.find("ob_live_") == std::string::npos);
        CHECK(line.find(user.password) == std::string::npos);
        CHECK(line.find('?') == std::string::npos);
        CHECK(line.find("Bearer") == std::string::npos);
        CHECK(line.find('\n') == std::string::npos);
    }
    CHECK(lines[0].rfind("http: POST /api/v1/auth/login 200 ", 0) == 0);
    CHECK(lines[2].rfind("http: GET /api/v1/chatbots 200 ", 0) == 0);
    CHECK(lines[3].rfind("http: GET /api/v1/chatbots/[redacted] 404 ", 0) == 0);
    CHECK(lines[5].rfind("http: POST /api/v1/capture 200 ", 0) == 0);
}

TEST_CASE("stop finishes the request in flight, closes idle connections, accepts no more",
          "[http]") {
    std::mutex m;
    std::condition_variable cv;
    bool entered = false, release = false;
    TestServerOptions options;
    options.prepare = [&](FlakyStore& store) {
        store.on_list = [&] {
            std::unique_lock lock(m);
            entered = true;
            cv.notify_all();
            cv.wait(lock, [&] { return release; });
        };
    };
    TestServer server(options);
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient idle(server.port());
    REQUIRE(idle.request("GET", "/healthz").status == 200);

    auto in_flight = std::async(std::launch::async, [&, token = token] {
        HttpClient client(server.port());
        return client.request("GET", "/api/v1/chatbots", {}, bearer(token));
    });
    {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return entered; });
    }
    auto stopping = std::async(std::launch::async, [&] { server.stop(); });
    CHECK(idle.wait_closed());
    {
        std::lock_guard lock(m);
        release = true;
    }
    cv.notify_all();
    auto res = in_flight.get();
    CHECK(res.status == 200);
    CHECK(res.body == "[]");
    CHECK(!res.keep_alive);
    stopping.get();
    CHECK_THROWS(HttpClient(server.port()));
}

TEST_CASE("without accounts the login routes do not exist", "[http]") {
    TestServerOptions options;
    options.with_accounts = false;
    TestServer server(options);
    HttpClient client(server.port());
    check_error(client.request("POST", "/api/v1/auth/login", R"({"email":"a@b.c","password":"x"})"),
                404, "not_found");
    check_error(client.request("POST", "/api/v1/auth/logout"), 404, "not_found");
}
