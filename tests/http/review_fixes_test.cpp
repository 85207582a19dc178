// The bugs of the code-shape review (issue 10) and the HTTP side of issue 18, one test
// each; every test here failed before its fix.
#include <chrono>
#include <csignal>
#include <future>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/array.hpp>
#include <catch2/catch.hpp>

#include "chatbotmgr/beast/api.hpp"
#include "chatbotmgr/beast/server.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "fixture.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::test;
using chatbotmgr::testing::code_of;
using chatbotmgr::testing::error_of;
using chatbotmgr::testing::field_of;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

namespace {

// A host's own session check: X-Test-Org names the organization. With a gate, every check
// waits until the gate opens (to hold a request on a pool thread).
class HostSessionCheck final : public beast::SessionCheck {
  public:
    std::promise<void> entered;
    std::shared_future<void> gate;
    std::function<void()> on_check;  // runs inside check(), on a pool thread
    std::promise<void>* destroyed = nullptr;

    ~HostSessionCheck() override {
        if (destroyed) destroyed->set_value();
    }
    std::optional<beast::Principal> check(const beast::RequestView& request) override {
        if (gate.valid()) {
            entered.set_value();
            gate.wait();
        }
        if (on_check) on_check();
        const auto org = request.header("X-Test-Org");
        if (org.empty()) return std::nullopt;
        return beast::Principal{std::string(org), "host-user", false};
    }
};

std::shared_ptr<ChatbotRegistry> memory_registry() {
    return std::make_shared<ChatbotRegistry>(std::make_shared<MemoryStore>());
}

beast::Api::Request get_request(std::string target, std::string org = "org-1") {
    beast::Api::Request req{http::verb::get, target, 11};
    req.set("X-Test-Org", org);
    return req;
}

bool can_connect(std::uint16_t port) {
    try {
        HttpClient client(port);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

beast::ServerOptions quiet_server_options() {
    beast::ServerOptions options;
    options.port = 0;
    options.io_threads = 1;
    options.access_log = false;
    return options;
}

HttpResponse head(HttpClient& client, const std::string& target, const Headers& headers) {
    client.write_raw(serialize_request("HEAD", target, {}, headers));
    auto res = client.read_response(kIoTimeout, true);
    REQUIRE(res);
    return *res;
}

// The settings member of a chatbot's JSON, as the bytes the server wrote.
std::string raw_settings(const std::string& body) {
    const auto begin = body.find(R"("settings":)");
    const auto end = body.find(R"(,"created_at")");
    REQUIRE(begin != std::string::npos);
    REQUIRE(end != std::string::npos);
    return body.substr(begin + 11, end - begin - 11);
}

}  // namespace

TEST_CASE("HEAD answers like GET without the body, and Allow lists it", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    Bot bot = create_bot(client, token);
    for (const std::string& target : std::vector<std::string>{
             "/healthz", "/readyz", "/api/v1/chatbots", "/api/v1/chatbots/" + bot.id,
             "/api/v1/chatbots/" + kUnknownId, "/api/v1/nope"}) {
        INFO(target);
        const auto get = client.request("GET", target, {}, bearer(token));
        const auto res = head(client, target, bearer(token));
        CHECK(res.status == get.status);
        CHECK(res.body.empty());
        CHECK(res.header("Content-Length") == std::to_string(get.body.size()));
        for (const auto* name : {"Content-Type", "Cache-Control", "X-Content-Type-Options"})
            CHECK(res.header(name) == get.header(name));
    }
    // Without credentials: the 401 of GET.
    const auto refused = head(client, "/api/v1/chatbots", {});
    CHECK(refused.status == 401);
    CHECK(refused.body.empty());
    // HEAD is not a way around a route's methods.
    const auto post_only = head(client, "/api/v1/capture", {});
    CHECK(post_only.status == 405);
    CHECK(post_only.header("Allow") == "POST");
    CHECK(client.request("PUT", "/api/v1/chatbots").header("Allow") == "GET, HEAD, POST");
    CHECK(client.request("PUT", "/api/v1/chatbots/" + bot.id).header("Allow") ==
          "GET, HEAD, PATCH, DELETE");
    CHECK(client.request("POST", "/healthz").header("Allow") == "GET, HEAD");
    // The connection is still in step.
    CHECK(client.request("GET", "/healthz").body == R"({"ok":true})");
}

TEST_CASE("a route that takes no body accepts none or {} and checks anything else alike",
          "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    Bot bot = create_bot(client, token);
    const std::string item = "/api/v1/chatbots/" + bot.id;
    const std::vector<std::pair<std::string, std::string>> routes = {
        {"GET", "/healthz"},
        {"GET", "/readyz"},
        {"GET", "/api/v1/chatbots"},
        {"GET", item},
        {"DELETE", item},
        {"POST", item + "/rotate-key"},
        {"POST", "/api/v1/auth/logout"},
    };
    for (const auto& [method, target] : routes) {
        INFO(method << " " << target);
        check_error(client.request(method, target, "{bad", bearer(token)), 400, "invalid_request");
        check_error(client.request(method, target, "[]", bearer(token)), 400, "invalid_request");
        const auto named = client.request(method, target, R"({"x":1})", bearer(token));
        check_error(named, 400, "invalid_request");
        CHECK(named.json().at("error").at("message") == R"(unknown field "x")");
        check_error(client.request(method, target, "{}",
                                   with(bearer(token), {{"Content-Type", "text/plain"}})),
                    415, "unsupported_media_type");
    }
    // Nothing of the above changed anything; {} is as good as no body.
    CHECK(client.request("GET", item, "{}", bearer(token)).status == 200);
    CHECK(client.request("GET", "/healthz", "{}").status == 200);
    CHECK(client.request("DELETE", item, "{}", bearer(token)).status == 200);
    CHECK(client.request("POST", "/api/v1/auth/logout", "{}", bearer(token)).status == 200);
}

TEST_CASE("settings numbers come back as JSON.stringify writes them, {} merges keep the bytes",
          "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    const auto created = client.request(
        "POST", "/api/v1/chatbots",
        R"({"name":"n","settings":{"a":1.5,"e":0.1,"c":-0.0,"one":1.0,"w":1E2,"x":1e21,"y":5e-7,)"
        R"("big":18446744073709551615,"min":-9223372036854775808,"n":[2.5e-8,{"k":-1.25}]}})",
        bearer(token));
    REQUIRE(created.status == 200);
    const std::string expected =
        R"({"a":1.5,"e":0.1,"c":-0,"one":1,"w":100,"x":1e+21,"y":5e-7,)"
        R"("big":18446744073709551615,"min":-9223372036854775808,"n":[2.5e-8,{"k":-1.25}]})";
    CHECK(raw_settings(created.body) == expected);
    const std::string id(created.json().at("chatbot").at("id").as_string());
    const auto before = client.request("GET", "/api/v1/chatbots/" + id, {}, bearer(token));
    CHECK(raw_settings(before.body) == expected);
    CHECK(raw_settings(client.request("GET", "/api/v1/chatbots", {}, bearer(token)).body) ==
          expected);
    for (int i = 0; i < 3; ++i) {
        const auto merged =
            client.request("PATCH", "/api/v1/chatbots/" + id, R"({"settings":{}})", bearer(token));
        CHECK(merged.body == before.body);
    }
    CHECK(client.request("GET", "/api/v1/chatbots/" + id, {}, bearer(token)).body == before.body);
}

TEST_CASE("every 401 carries WWW-Authenticate: Bearer", "[http]") {
    TestServer server;
    TestUser user = server.add_user("ada@example.com", "Acme");
    HttpClient client(server.port());
    const std::string capture =
        R"({"conversationId":"c","messages":[{"role":"user","content":"x"}]})";
    const std::vector<HttpResponse> refusals = {
        client.request("GET", "/api/v1/chatbots"),
        client.request("GET", "/api/v1/chatbots", {}, bearer("ob_sess_nope")),
        client.request("POST", "/api/v1/capture", capture),
        client.request("POST", "/api/v1/capture", capture,
                       bearer("ob_live_0123456789abcdef0123456789abcdef")),
        client.request("POST", "/api/v1/auth/login",
                       R"({"email":"ada@example.com","password":"wrong"})"),
        client.request("POST", "/api/v1/auth/logout"),
    };
    for (const auto& res : refusals) {
        INFO(res.body);
        check_error(res, 401, "unauthorized");
        CHECK(res.header("WWW-Authenticate") == "Bearer");
    }
    CHECK_FALSE(client.request("GET", "/api/v1/nope").has_header("WWW-Authenticate"));
}

TEST_CASE("capture warnings: the first 20, a count of the rest, names cut at 64 bytes", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    Bot bot = create_bot(client, token);
    std::string message = R"({"role":"user","content":"x")";
    for (int i = 0; i < 10; ++i) message += ",\"m" + std::to_string(i) + "\":1";
    // 63 ASCII bytes and a 2-byte character: the cut falls inside it, so it goes.
    const std::string long_name = std::string(63, 'a') + "\xc3\xa9" + std::string(100, 'b');
    std::string body =
        R"({"conversationId":"c","messages":[)" + message + "}],\"" + long_name + "\":1";
    for (int i = 0; i < 24; ++i) body += ",\"t" + std::to_string(i) + "\":1";
    body += "}";

    const auto res = client.request("POST", "/api/v1/capture", body, bearer(bot.key));
    REQUIRE(res.status == 200);
    const auto parsed = res.json();
    const auto& warnings = parsed.at("warnings").as_array();
    REQUIRE(warnings.size() == 21);
    CHECK(warnings[0] == R"(messages[0]: unknown field "m0" ignored)");
    CHECK(warnings[10].as_string() == "unknown field \"" + std::string(63, 'a') + "\" ignored");
    CHECK(warnings[19] == R"(unknown field "t8" ignored)");
    CHECK(warnings[20] == "and 15 more unknown fields ignored");
    CHECK(parsed.at("messagesStored") == 1);
}

TEST_CASE("Api and Server report misuse through chatbotmgr::Error", "[http]") {
    auto registry = memory_registry();
    auto sessions = std::make_shared<HostSessionCheck>();
    CHECK(field_of([&] { beast::Api(nullptr, sessions); }) == "registry");
    CHECK(field_of([&] { beast::Api(registry, nullptr); }) == "sessions");
    beast::ApiOptions options;
    options.public_origin = "ftp://bots.example.com";
    CHECK(field_of([&] { beast::Api(registry, sessions, options); }) == "public_origin");
    options.public_origin = "https://bots.example.com/app";
    CHECK(field_of([&] { beast::Api(registry, sessions, options); }) == "public_origin");

    beast::ServerOptions bad = quiet_server_options();
    bad.address = "localhost";  // not an IP literal
    CHECK(field_of([&] { beast::Server server(bad); }) == "address");

    beast::Server server(quiet_server_options());
    beast::ServerOptions taken = quiet_server_options();
    taken.port = server.port();
    CHECK(code_of([&] { beast::Server again(taken); }) == ErrorCode::unavailable);
    CHECK(code_of([&] { server.run(); }) == ErrorCode::invalid_argument);
    CHECK(field_of([&] { server.start(nullptr); }) == "api");
    auto api = std::make_shared<beast::Api>(registry, sessions);
    server.start(api);
    CHECK(code_of([&] { server.start(api); }) == ErrorCode::invalid_argument);
    server.stop();
    server.run();
}

TEST_CASE("the last owner of an Api may let go of it on one of the Api's own threads", "[http]") {
    // A host whose `done` callback owns the Api (through its connection object, say) and
    // drops everything else while a request is in flight: the Api is destroyed on the
    // pool thread that runs that request.
    std::promise<void> destroyed;
    std::promise<void> open_gate;
    auto sessions = std::make_shared<HostSessionCheck>();
    sessions->gate = open_gate.get_future().share();
    sessions->destroyed = &destroyed;
    auto entered = sessions->entered.get_future();
    std::promise<int> answered;
    {
        auto api = std::make_shared<beast::Api>(memory_registry(), std::move(sessions));
        api->handle(get_request("/api/v1/chatbots"), {},
                    [api, &answered](beast::Api::Response res) {
                        answered.set_value(static_cast<int>(res.result_int()));
                    });
    }
    REQUIRE(entered.wait_for(10s) == std::future_status::ready);
    open_gate.set_value();
    auto status = answered.get_future();
    REQUIRE(status.wait_for(10s) == std::future_status::ready);
    CHECK(status.get() == 200);
    // The Api -- and the session check it owned -- is gone, without waiting for itself.
    CHECK(destroyed.get_future().wait_for(10s) == std::future_status::ready);
}

TEST_CASE("Api::stop from one of the Api's own threads refuses new work without waiting",
          "[http]") {
    auto sessions = std::make_shared<HostSessionCheck>();
    auto api = std::make_shared<beast::Api>(memory_registry(), sessions);
    std::weak_ptr<beast::Api> weak = api;
    sessions->on_check = [weak] {
        if (auto self = weak.lock()) self->stop();
    };
    std::promise<int> answered;
    api->handle(get_request("/api/v1/chatbots"), {}, [&answered](beast::Api::Response res) {
        answered.set_value(static_cast<int>(res.result_int()));
    });
    auto status = answered.get_future();
    REQUIRE(status.wait_for(10s) == std::future_status::ready);
    CHECK(status.get() == 200);
    CHECK(api->handle_sync(get_request("/api/v1/chatbots")).result_int() == 200);
    std::promise<int> later;
    api->handle(get_request("/api/v1/chatbots"), {}, [&later](beast::Api::Response res) {
        later.set_value(static_cast<int>(res.result_int()));
    });
    CHECK(later.get_future().get() == 503);
}

TEST_CASE("destroying a Server leaves the listener to the host's I/O thread", "[http]") {
    // The host runs the io_context; the accept loop lives there. Destroying the Server
    // must not close the listener from the destroying thread while that loop may run:
    // the stop goes through the server's executor.
    boost::asio::io_context io;
    auto api =
        std::make_shared<beast::Api>(memory_registry(), std::make_shared<HostSessionCheck>());
    auto server = std::make_unique<beast::Server>(io, quiet_server_options());
    server->start(api);
    const std::uint16_t port = server->port();
    std::thread io_thread([&] { io.run(); });
    CHECK(HttpClient(port).request("GET", "/healthz").status == 200);

    std::promise<void> busy, release;
    boost::asio::post(io, [&busy, gate = release.get_future().share()] {
        busy.set_value();
        gate.wait();
    });
    busy.get_future().wait();
    server.reset();            // while the I/O thread is busy elsewhere
    CHECK(can_connect(port));  // the listener was not touched from here...
    release.set_value();
    io_thread.join();  // ...the I/O thread stopped it, then ran out of work
    CHECK_FALSE(can_connect(port));
    api->stop();
}

TEST_CASE("Servers come and go while the host's I/O threads accept connections", "[http]") {
    // The race of the old ~Server (the listener closed from this thread while an I/O thread
    // ran the accept loop) is what ThreadSanitizer reports here (the tsan preset).
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    std::vector<std::thread> io_threads;
    for (int i = 0; i < 2; ++i) io_threads.emplace_back([&] { io.run(); });
    auto api =
        std::make_shared<beast::Api>(memory_registry(), std::make_shared<HostSessionCheck>());
    for (int round = 0; round < 30; ++round) {
        auto server = std::make_unique<beast::Server>(io, quiet_server_options());
        server->start(api);
        const std::uint16_t port = server->port();
        std::thread client([port] {
            for (int i = 0; i < 3; ++i) static_cast<void>(can_connect(port));
        });
        server.reset();
        client.join();
    }
    work.reset();
    for (auto& t : io_threads) t.join();  // every server finished its stop and let go
    api->stop();
}

TEST_CASE("stop_on_signals: SIGTERM stops the server and run() returns", "[http]") {
    auto api =
        std::make_shared<beast::Api>(memory_registry(), std::make_shared<HostSessionCheck>());
    beast::Server server(quiet_server_options());
    server.start(api);
    server.stop_on_signals();
    CHECK(code_of([&] { server.stop_on_signals(); }) == ErrorCode::invalid_argument);
    auto running = std::async(std::launch::async, [&] { server.run(); });
    REQUIRE(HttpClient(server.port()).request("GET", "/healthz").status == 200);
    std::raise(SIGTERM);
    REQUIRE(running.wait_for(10s) == std::future_status::ready);
    running.get();
    CHECK_FALSE(can_connect(server.port()));
    api->stop();
}

TEST_CASE("an Api without a public origin gets the Server's bound origin", "[http]") {
    auto api =
        std::make_shared<beast::Api>(memory_registry(), std::make_shared<HostSessionCheck>());
    beast::Server server(quiet_server_options());
    const std::string expected = "http://127.0.0.1:" + std::to_string(server.port());
    CHECK(server.bound_origin() == expected);
    server.start(api);
    CHECK(api->options().public_origin == expected);
    // Once it has answered, the origin is fixed.
    CHECK(api->handle_sync(get_request("/healthz")).result_int() == 200);
    CHECK(field_of([&] { api->set_public_origin("https://bots.example.com"); }) == "public_origin");
    server.stop();
    server.run();

    // IPv6 addresses are bracketed (where the host has IPv6 at all).
    beast::ServerOptions v6 = quiet_server_options();
    v6.address = "::1";
    std::unique_ptr<beast::Server> server6;
    try {
        server6 = std::make_unique<beast::Server>(v6);
    } catch (const Error&) {
        WARN("no IPv6 loopback here; skipped");
    }
    if (server6)
        CHECK(server6->bound_origin() == "http://[::1]:" + std::to_string(server6->port()));

    // A given origin stays (normalized).
    beast::ApiOptions options;
    options.public_origin = "HTTPS://Bots.Example.com/";
    auto fixed = std::make_shared<beast::Api>(memory_registry(),
                                              std::make_shared<HostSessionCheck>(), options);
    beast::Server other(quiet_server_options());
    other.start(fixed);
    CHECK(fixed->options().public_origin == "https://bots.example.com");
    other.stop();
    other.run();
}
