// API.md section 3 over real sockets: every chatbot endpoint, its success shape and its
// errors, organization isolation and concurrent patches.
#include <string>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::test;
namespace json = boost::json;

TEST_CASE("create answers the chatbot and its key once", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());

    auto res =
        client.request("POST", "/api/v1/chatbots", R"({"name":"  Support Bot  "})", bearer(token));
    REQUIRE(res.status == 200);
    check_json_headers(res);
    auto v = res.json();
    CHECK(v.as_object().size() == 3);
    CHECK(v.at("ok") == true);
    const std::string key(v.at("apiKey").as_string());
    CHECK(is_api_key_format(key));
    const auto& bot = v.at("chatbot");
    check_chatbot_shape(bot);
    CHECK(bot.at("name") == "Support Bot");
    CHECK(bot.at("api_key_prefix").as_string() == key.substr(0, 14) + "...");
    CHECK(bot.at("settings") == json::object{});
    CHECK(bot.at("created_at") == "2024-01-15T10:00:00Z");

    // GET one and the list show the same representation, never the key.
    const std::string id(bot.at("id").as_string());
    auto one = client.request("GET", "/api/v1/chatbots/" + id, {}, bearer(token));
    REQUIRE(one.status == 200);
    check_json_headers(one);
    CHECK(one.json() == bot);
    CHECK(one.body.find(key) == std::string::npos);
    auto list = client.request("GET", "/api/v1/chatbots", {}, bearer(token));
    REQUIRE(list.status == 200);
    check_json_headers(list);
    CHECK(list.json() == json::array{bot});
    CHECK(list.body.find(key) == std::string::npos);
}

TEST_CASE("create with settings, and list order newest first then id descending", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());

    auto res =
        client.request("POST", "/api/v1/chatbots",
                       R"({"name":"A","settings":{"onboarded":true,"n":[1,2]}})", bearer(token));
    REQUIRE(res.status == 200);
    CHECK(res.json().at("chatbot").at("settings") ==
          json::parse(R"({"onboarded":true,"n":[1,2]})"));

    // Two more in the same second, then one later.
    Bot b = create_bot(client, token, "B");
    Bot c = create_bot(client, token, "C");
    server.clock->advance(std::chrono::seconds(5));
    Bot d = create_bot(client, token, "D");

    auto list = client.request("GET", "/api/v1/chatbots", {}, bearer(token));
    REQUIRE(list.status == 200);
    const auto parsed = list.json();
    const auto& items = parsed.as_array();
    REQUIRE(items.size() == 4);
    for (const auto& item : items) check_chatbot_shape(item);
    CHECK(items[0].at("id").as_string() == d.id);
    CHECK(items[0].at("created_at") == "2024-01-15T10:00:05Z");
    // The three of 10:00:00 by id descending.
    std::vector<std::string> same_second;
    for (std::size_t i = 1; i < 4; ++i) same_second.emplace_back(items[i].at("id").as_string());
    CHECK(std::is_sorted(same_second.rbegin(), same_second.rend()));
}

TEST_CASE("an empty list is an empty array", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    auto list = client.request("GET", "/api/v1/chatbots", {}, bearer(token));
    CHECK(list.status == 200);
    CHECK(list.body == "[]");
    check_json_headers(list);
}

TEST_CASE("patch renames, deep-merges settings, and {} is a no-op", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    auto created =
        client.request("POST", "/api/v1/chatbots",
                       R"({"name":"Bot","settings":{"a":{"b":1,"c":2},"d":[1]}})", bearer(token));
    REQUIRE(created.status == 200);
    const std::string id(created.json().at("chatbot").at("id").as_string());
    const std::string path = "/api/v1/chatbots/" + id;

    // The example of API.md section 3.
    auto res = client.request("PATCH", path, R"({"settings":{"a":{"c":null,"e":3},"d":[2]}})",
                              bearer(token));
    REQUIRE(res.status == 200);
    check_json_headers(res);
    check_chatbot_shape(res.json());
    CHECK(res.json().at("settings") == json::parse(R"({"a":{"b":1,"e":3},"d":[2]})"));
    CHECK(res.json().at("name") == "Bot");

    res = client.request("PATCH", path, R"({"name":"Renamed"})", bearer(token));
    REQUIRE(res.status == 200);
    CHECK(res.json().at("name") == "Renamed");
    CHECK(res.json().at("settings") == json::parse(R"({"a":{"b":1,"e":3},"d":[2]})"));

    auto before = client.request("GET", path, {}, bearer(token));
    res = client.request("PATCH", path, "{}", bearer(token));
    REQUIRE(res.status == 200);
    CHECK(res.json() == before.json());
}

TEST_CASE("delete answers ok, then the id is gone and its key is rejected", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    Bot bot = create_bot(client, token);
    const std::string capture =
        R"({"conversationId":"c1","messages":[{"role":"user","content":"hi"}]})";
    REQUIRE(client.request("POST", "/api/v1/capture", capture, bearer(bot.key)).status == 200);

    auto res = client.request("DELETE", "/api/v1/chatbots/" + bot.id, {}, bearer(token));
    REQUIRE(res.status == 200);
    check_json_headers(res);
    CHECK(res.body == R"({"ok":true})");

    check_error(client.request("GET", "/api/v1/chatbots/" + bot.id, {}, bearer(token)), 404,
                "not_found");
    check_error(client.request("DELETE", "/api/v1/chatbots/" + bot.id, {}, bearer(token)), 404,
                "not_found");
    check_error(client.request("POST", "/api/v1/capture", capture, bearer(bot.key)), 401,
                "unauthorized");
    CHECK(server.store->count_data(bot.id) == ChatbotDataCounts{});
}

TEST_CASE("delete and rotate-key accept an empty body or {} and nothing else", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    Bot a = create_bot(client, token);
    Bot b = create_bot(client, token);

    CHECK(client.request("POST", "/api/v1/chatbots/" + a.id + "/rotate-key", "", bearer(token))
              .status == 200);
    CHECK(client.request("POST", "/api/v1/chatbots/" + a.id + "/rotate-key", "{}", bearer(token))
              .status == 200);
    auto res = client.request("POST", "/api/v1/chatbots/" + a.id + "/rotate-key", R"({"name":"x"})",
                              bearer(token));
    check_error(res, 400, "invalid_request");
    CHECK(res.json().at("error").at("message").as_string().find("\"name\"") != std::string::npos);
    check_error(client.request("DELETE", "/api/v1/chatbots/" + a.id, "[]", bearer(token)), 400,
                "invalid_request");
    check_error(client.request("DELETE", "/api/v1/chatbots/" + a.id, "{", bearer(token)), 400,
                "invalid_request");
    CHECK(client.request("DELETE", "/api/v1/chatbots/" + a.id, "{}", bearer(token)).status == 200);
    CHECK(client.request("DELETE", "/api/v1/chatbots/" + b.id, "", bearer(token)).status == 200);
}

TEST_CASE("rotate-key answers a new key and the old one is rejected at once", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    Bot bot = create_bot(client, token);
    const std::string capture =
        R"({"conversationId":"c1","messages":[{"role":"user","content":"hi"}]})";
    REQUIRE(client.request("POST", "/api/v1/capture", capture, bearer(bot.key)).status == 200);

    auto res =
        client.request("POST", "/api/v1/chatbots/" + bot.id + "/rotate-key", {}, bearer(token));
    REQUIRE(res.status == 200);
    check_json_headers(res);
    auto v = res.json();
    CHECK(v.as_object().size() == 3);
    CHECK(v.at("ok") == true);
    check_chatbot_shape(v.at("chatbot"));
    const std::string new_key(v.at("apiKey").as_string());
    CHECK(is_api_key_format(new_key));
    CHECK(new_key != bot.key);
    CHECK(v.at("chatbot").at("api_key_prefix").as_string() == new_key.substr(0, 14) + "...");
    CHECK(v.at("chatbot").at("id").as_string() == bot.id);

    check_error(client.request("POST", "/api/v1/capture", capture, bearer(bot.key)), 401,
                "unauthorized");
    CHECK(client.request("POST", "/api/v1/capture", capture, bearer(new_key)).status == 200);
}

TEST_CASE("invalid chatbot bodies are 400 invalid_request", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    Bot bot = create_bot(client, token);
    const std::string secret_field = "ob_live_0123456789abcdef0123456789abcdef";
    const std::string session_field =
        "ob_sess_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    struct Case {
        const char* what;
        std::string body;
        std::string message_part;  // the message must contain this (when not empty)
    };
    const std::vector<Case> cases = {
        {"empty body", "", ""},
        {"invalid JSON", R"({"name": )", ""},
        {"not an object", R"(["name"])", ""},
        {"a string", R"("Bot")", ""},
        {"wrong type", R"({"name": 5})", "name"},
        {"null name", R"({"name": null})", "name"},
        {"null settings", R"({"name": "x", "settings": null})", "settings"},
        {"settings not an object", R"({"name": "x", "settings": [1]})", "settings"},
        {"unknown field is named", R"({"nmae": "Bot"})", "nmae"},
        {"duplicate keys", R"({"name": "a", "name": "b"})", ""},
        {"trailing comma", R"({"name": "a",})", ""},
        {"comment", R"({"name": "a"} // hi)", ""},
        {"trailing garbage", R"({"name": "a"} x)", ""},
        {"NaN", R"({"name": "a", "settings": {"x": NaN}})", ""},
        {"Infinity", R"({"name": "a", "settings": {"x": Infinity}})", ""},
        {"lone surrogate", R"({"name": "\ud800"})", ""},
        {"invalid UTF-8", "{\"name\": \"\xff\xfe\"}", ""},
        {"name missing", R"({"settings": {}})", "name"},
        {"empty name", R"({"name": "   "})", "name"},
        {"name too long", "{\"name\": \"" + std::string(101, 'x') + "\"}", "name"},
        {"control character", R"({"name": "a\u0007b"})", "name"},
        {"DEL character",
         "{\"name\": \"a\x7f"
         "b\"}",
         "name"},
        {"settings too deep",
         R"({"name": "a", "settings": )" + std::string(32, '[') + std::string(32, ']') + "}",
         "settings"},
    };
    for (const auto& c : cases) {
        INFO("create: " << c.what);
        auto res = client.request("POST", "/api/v1/chatbots", c.body, bearer(token));
        check_error(res, 400, "invalid_request");
        if (!c.message_part.empty())
            CHECK(res.json().at("error").at("message").as_string().find(c.message_part) !=
                  std::string::npos);
    }
    // 100 code points after trimming is fine, also when they are multi-byte.
    std::string hundred;
    for (int i = 0; i < 100; ++i) hundred += "\xc3\xa9";
    CHECK(
        client
            .request("POST", "/api/v1/chatbots", "{\"name\": \" " + hundred + " \"}", bearer(token))
            .status == 200);

    // PATCH: the same rules, fields optional by absence only.
    const std::vector<Case> patch_cases = {
        {"null name", R"({"name": null})", "name"},
        {"null settings", R"({"settings": null})", "settings"},
        {"unknown field", R"({"settigns": {}})", "settigns"},
        {"empty body", "", ""},
        {"array", "[]", ""},
        {"duplicate keys", R"({"settings": {"a": 1, "a": 2}})", ""},
    };
    for (const auto& c : patch_cases) {
        INFO("patch: " << c.what);
        auto res = client.request("PATCH", "/api/v1/chatbots/" + bot.id, c.body, bearer(token));
        check_error(res, 400, "invalid_request");
        if (!c.message_part.empty())
            CHECK(res.json().at("error").at("message").as_string().find(c.message_part) !=
                  std::string::npos);
    }

    // An unknown field that looks like a credential is reported without its name.
    for (const auto& field : {secret_field, session_field}) {
        auto res = client.request("POST", "/api/v1/chatbots",
                                  "{\"name\": \"x\", \"" + field + "\": 1}", bearer(token));
        check_error(res, 400, "invalid_request");
        CHECK(res.body.find("ob_live_") == std::string::npos);
        CHECK(res.body.find("ob_sess_") == std::string::npos);
        CHECK(res.json().at("error").at("message").as_string().find("unknown field") !=
              std::string::npos);
    }
    // Nothing was changed by the failed patches.
    auto after = client.request("GET", "/api/v1/chatbots/" + bot.id, {}, bearer(token));
    CHECK(after.json().at("name") == "Bot");
}

TEST_CASE("unknown routes, ids and id forms are 404", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    Bot bot = create_bot(client, token);
    std::string upper = bot.id;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));

    const std::vector<std::pair<std::string, std::string>> cases = {
        {"GET", "/"},
        {"GET", "/api/v1"},
        {"GET", "/api/v1/"},
        {"GET", "/api/v1/nope"},
        {"GET", "/api/v2/chatbots"},
        {"GET", "/api/v1/chatbots/"},                 // trailing slash
        {"GET", "/api/v1/chatbots/" + bot.id + "/"},  // trailing slash
        {"GET", "/api/v1/chatbots/" + kUnknownId},    // never created
        {"GET", "/api/v1/chatbots/not-a-uuid"},
        {"GET", "/api/v1/chatbots/" + upper},  // only lowercase matches
        {"GET", "/api/v1/chatbots/{" + bot.id + "}"},
        {"PATCH", "/api/v1/chatbots/" + kUnknownId},
        {"DELETE", "/api/v1/chatbots/" + kUnknownId},
        {"POST", "/api/v1/chatbots/" + kUnknownId + "/rotate-key"},
        {"POST", "/api/v1/chatbots/not-a-uuid/rotate-key"},
        {"POST", "/api/v1/chatbots/" + bot.id + "/rotate-key/"},
        {"POST", "/api/v1/chatbots/" + bot.id + "/other"},
        {"GET", "/healthz/"},
        {"PUT", "/api/v1/chatbots/not-a-uuid"},  // route (404) before method (405)
    };
    for (const auto& [method, target] : cases) {
        INFO(method << " " << target);
        auto res = client.request(method, target, method == "PATCH" ? "{}" : "", bearer(token));
        check_error(res, 404, "not_found");
    }
    // Also without credentials: the route is checked first.
    check_error(client.request("GET", "/api/v1/nope"), 404, "not_found");
}

TEST_CASE("a known path with a wrong method is 405 with Allow", "[http]") {
    TestServer server;
    HttpClient client(server.port());
    const std::string item = "/api/v1/chatbots/" + kUnknownId;
    const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
        {"PUT", "/api/v1/chatbots", "GET, HEAD, POST"},
        {"DELETE", "/api/v1/chatbots", "GET, HEAD, POST"},
        {"POST", item, "GET, HEAD, PATCH, DELETE"},
        {"PUT", item, "GET, HEAD, PATCH, DELETE"},
        {"GET", item + "/rotate-key", "POST"},
        {"GET", "/api/v1/capture", "POST"},
        {"GET", "/api/v1/auth/login", "POST"},
        {"GET", "/api/v1/auth/logout", "POST"},
        {"POST", "/healthz", "GET, HEAD"},
        {"DELETE", "/readyz", "GET, HEAD"},
        {"OPTIONS", "/api/v1/chatbots", "GET, HEAD, POST"},
    };
    for (const auto& [method, target, allow] : cases) {
        INFO(method << " " << target);
        // No credentials: the method is checked before them.
        auto res = client.request(method, target);
        check_error(res, 405, "method_not_allowed");
        CHECK(res.header("Allow") == allow);
    }
}

TEST_CASE("another organization's chatbot does not exist for the caller", "[http]") {
    TestServer server;
    auto [alice, alice_token] = server.user_with_session("alice@example.com", "Org A");
    auto [bob, bob_token] = server.user_with_session("bob@example.com", "Org B");
    HttpClient client(server.port());
    Bot bot = create_bot(client, alice_token, "Alice's");

    auto bobs_list = client.request("GET", "/api/v1/chatbots", {}, bearer(bob_token));
    CHECK(bobs_list.body == "[]");

    // Every endpoint answers exactly as for an id that was never created, whatever the body.
    const std::vector<std::tuple<std::string, std::string, std::string>> calls = {
        {"GET", "", ""},
        {"PATCH", "", R"({"name":"mine now"})"},
        {"PATCH", "", R"({"settings":{"x":1}})"},
        {"PATCH", "", "{}"},
        {"DELETE", "", ""},
        {"POST", "/rotate-key", ""},
        {"POST", "/rotate-key", "{}"},
    };
    for (const auto& [method, suffix, body] : calls) {
        INFO(method << " " << suffix << " " << body);
        auto theirs =
            client.request(method, "/api/v1/chatbots/" + bot.id + suffix, body, bearer(bob_token));
        auto random = client.request(method, "/api/v1/chatbots/" + kUnknownId + suffix, body,
                                     bearer(bob_token));
        check_error(theirs, 404, "not_found");
        CHECK(theirs.status == random.status);
        CHECK(theirs.body == random.body);
    }
    // And nothing happened to it.
    auto mine = client.request("GET", "/api/v1/chatbots/" + bot.id, {}, bearer(alice_token));
    REQUIRE(mine.status == 200);
    CHECK(mine.json().at("name") == "Alice's");
    CHECK(mine.json().at("settings") == json::object{});
    const std::string capture =
        R"({"conversationId":"c","messages":[{"role":"user","content":"x"}]})";
    CHECK(client.request("POST", "/api/v1/capture", capture, bearer(bot.key)).status == 200);
}

TEST_CASE("concurrent patches of different members all survive", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    Bot bot;
    {
        HttpClient client(server.port());
        bot = create_bot(client, token);
    }
    constexpr int kThreads = 8, kPerThread = 10;
    std::vector<std::vector<int>> statuses(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t, token = token] {
            HttpClient client(server.port());
            for (int i = 0; i < kPerThread; ++i) {
                const std::string body = R"({"settings":{"t)" + std::to_string(t) + "_" +
                                         std::to_string(i) + R"(":true}})";
                try {
                    statuses[t].push_back(
                        client.request("PATCH", "/api/v1/chatbots/" + bot.id, body, bearer(token))
                            .status);
                } catch (const std::exception&) {
                    statuses[t].push_back(-1);
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    for (const auto& s : statuses)
        for (int status : s) CHECK(status == 200);

    HttpClient client(server.port());
    auto res = client.request("GET", "/api/v1/chatbots/" + bot.id, {}, bearer(token));
    const auto parsed = res.json();
    const auto& settings = parsed.at("settings").as_object();
    CHECK(settings.size() == kThreads * kPerThread);
    for (int t = 0; t < kThreads; ++t)
        for (int i = 0; i < kPerThread; ++i)
            CHECK(settings.contains(
                std::string("t").append(std::to_string(t)).append("_").append(std::to_string(i))));
}
