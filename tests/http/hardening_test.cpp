// Issue 11, items 2, 3, 8 and 9 below the process level: the access log's redaction, the
// strict reading of request heads, the per-address and body limits -- as functions, then
// through a real Server. The attacks themselves run against the real binary in
// tests/reliability/ (connection_limits, preauth_memory, desync, log_redaction).
#include <chrono>
#include <string>
#include <thread>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/message.hpp>
#include <catch2/catch.hpp>

#include "access_log.hpp"
#include "connection_limits.hpp"
#include "fixture.hpp"
#include "request_head.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::test;
namespace http = boost::beast::http;
using beast::detail::append_loggable_path;
using beast::detail::BodyBudget;
using beast::detail::ConnectionLimiter;
using beast::detail::framing_error;
using beast::detail::has_obs_fold;
using beast::detail::header_block_length;
using beast::detail::loggable_method;
using beast::detail::origin_form;

namespace {

const std::string kKey = "ob_live_0123456789abcdef0123456789abcdef";

std::string logged(std::string_view target) {
    std::string out;
    append_loggable_path(out, target);
    return out;
}

http::request_header<> head(unsigned version,
                            std::initializer_list<std::pair<const char*, const char*>> fields) {
    http::request_header<> h;
    h.version(version);
    h.method(http::verb::post);
    h.target("/api/v1/capture");
    for (const auto& [k, v] : fields) h.insert(k, v);
    return h;
}

ConnectionLimiter::Key key(const char* address) {
    return ConnectionLimiter::key_of(boost::asio::ip::make_address(address));
}

std::string header_only(const std::string& method, const std::string& target, std::size_t length,
                        const Headers& headers) {
    std::string out = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
    out +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
    return out;
}

// A capture body of exactly size bytes.
std::string capture_body(std::size_t size) {
    std::string body = R"({"conversationId":"c","messages":[{"role":"user","content":"x"}]})";
    body.append(size - body.size(), ' ');
    return body;
}

}  // namespace

TEST_CASE("access log: methods other than the standard ones are OTHER", "[http][log]") {
    CHECK(loggable_method(http::verb::get, "GET") == "GET");
    CHECK(loggable_method(http::verb::patch, "PATCH") == "PATCH");
    CHECK(loggable_method(http::verb::delete_, "DELETE") == "DELETE");
    CHECK(loggable_method(http::verb::unknown, kKey) == "OTHER");
    CHECK(loggable_method(http::verb::propfind, "PROPFIND") == "OTHER");
    CHECK(loggable_method(http::verb::unknown, "") == "-");
}

TEST_CASE("access log: a key in the path is redacted as sent, encoded or in capitals",
          "[http][log]") {
    CHECK(logged("/api/v1/chatbots?token=" + kKey) == "/api/v1/chatbots");
    CHECK(logged("/x/" + kKey + "/y") == "/x/[redacted]/y");
    CHECK(logged("/%6F" + kKey.substr(1)) == "/[redacted]");
    CHECK(logged("/%6f%62" + kKey.substr(2)) == "/[redacted]");
    CHECK(logged("/ob%5Flive%5F" + kKey.substr(8)) == "/[redacted]");
    CHECK(logged("/%256F" + kKey.substr(1)) == "/[redacted]");    // encoded twice
    CHECK(logged("/%25256F" + kKey.substr(1)) == "/[redacted]");  // three times
    CHECK(logged("/OB_SESS_ABC") == "/[redacted]");
    CHECK(logged("http://127.0.0.1:8080/%6F" + kKey.substr(1) + "/x") == "/[redacted]/x");
    // What is not a secret stays, with the bytes that could forge a line encoded.
    CHECK(logged("/api/v1/chatbots/abc") == "/api/v1/chatbots/abc");
    CHECK(logged("/a%20b") == "/a%2520b");
    CHECK(logged("/a\nb") == "/a%0Ab");
    CHECK(logged("http://user:pw@host/x") == "-");
    CHECK(logged("") == "-");
}

TEST_CASE("access log line: never the method or an encoded key as sent", "[http][log]") {
    const std::string line = beast::detail::access_log_line(http::verb::unknown, kKey,
                                                            "/%6F" + kKey.substr(1), 405, 0.5);
    CHECK(line == "http: OTHER /[redacted] 405 0.500ms");
}

TEST_CASE("request head: the header block ends at the first empty line", "[http][framing]") {
    CHECK(!header_block_length("GET / HTTP/1.1\r\nHost: a\r\n", 0));
    CHECK(header_block_length("GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", 0) == 27u);
    // Searching again from where the last search stopped still finds an end split
    // across reads.
    CHECK(header_block_length("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 26) == 27u);
    CHECK(!has_obs_fold("GET / HTTP/1.1\r\nHost: a\r\nX: b c\r\n\r\n"));
    CHECK(has_obs_fold("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n"));
    CHECK(has_obs_fold("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n"));
    CHECK(has_obs_fold("GET / HTTP/1.1\r\n Host: a\r\n\r\n"));
    // Not HTTP from its first bytes: refused before the block is complete.
    CHECK(beast::detail::hopeless_header_start(std::string("\x16\x03\x01\x02\x00", 5)));
    CHECK(beast::detail::hopeless_header_start("GET / HTTP/9.9\r\n"));
    CHECK(!beast::detail::hopeless_header_start("GE"));
    CHECK(!beast::detail::hopeless_header_start("GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n"));
    CHECK(!beast::detail::hopeless_header_start("GET /healthz HTTP/1.1\r\nX: " +
                                                std::string(20'000, 'a')));
}

TEST_CASE("request head: Transfer-Encoding is exactly chunked, alone, in HTTP/1.1",
          "[http][framing]") {
    CHECK(framing_error(head(11, {{"Host", "a"}, {"Transfer-Encoding", "chunked"}})).empty());
    CHECK(framing_error(head(11, {{"Host", "a"}, {"Transfer-Encoding", "Chunked "}})).empty());
    CHECK(framing_error(head(11, {{"Host", "a"}, {"Content-Length", "5"}})).empty());
    for (const char* te : {"chunked, identity", "identity, chunked", "identity", "gzip", "",
                           "xchunked", "chunked, chunked", "chunked;x=1"}) {
        INFO(te);
        CHECK(!framing_error(head(11, {{"Host", "a"}, {"Transfer-Encoding", te}})).empty());
    }
    CHECK(!framing_error(
               head(11, {{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}}))
               .empty());
    CHECK(!framing_error(
               head(11, {{"Host", "a"}, {"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}))
               .empty());
    CHECK(!framing_error(head(11, {{"Host", "a"},
                                   {"Transfer-Encoding", "gzip"},
                                   {"Transfer-Encoding", "chunked"}}))
               .empty());
    CHECK(!framing_error(head(10, {{"Transfer-Encoding", "chunked"}})).empty());
}

TEST_CASE("request head: one valid Host, required in HTTP/1.1", "[http][framing]") {
    CHECK(!framing_error(head(11, {})).empty());
    CHECK(framing_error(head(10, {})).empty());
    CHECK(framing_error(head(11, {{"Host", ""}})).empty());
    CHECK(framing_error(head(11, {{"Host", "[::1]:8080"}})).empty());
    CHECK(framing_error(head(11, {{"Host", "bots.example.com"}})).empty());
    CHECK(!framing_error(head(11, {{"Host", "a"}, {"Host", "a"}})).empty());
    CHECK(!framing_error(head(10, {{"Host", "a"}, {"Host", "b"}})).empty());
    CHECK(!framing_error(head(11, {{"Host", "a/b"}})).empty());
    CHECK(!framing_error(head(11, {{"Host", "u@a"}})).empty());
    CHECK(!framing_error(head(11, {{"Host", "a b"}})).empty());
}

TEST_CASE("request head: absolute-form targets are served as their path", "[http][framing]") {
    CHECK(origin_form("/healthz?x=1") == "/healthz?x=1");
    CHECK(origin_form("http://127.0.0.1:8080/healthz") == "/healthz");
    CHECK(origin_form("HTTPS://Bots.Example.com/api/v1/chatbots?a=b") == "/api/v1/chatbots?a=b");
    CHECK(origin_form("http://host") == "/");
    CHECK(origin_form("http://host?q") == "/");
    CHECK(origin_form("*") == "*");
    CHECK(origin_form("ftp://host/x") == "ftp://host/x");  // no route: 404
    CHECK(!origin_form("http://user:pw@host/x"));
    CHECK(!origin_form("http:///x"));
}

TEST_CASE("connection limiter: per address, IPv6 by its /64, IPv4-mapped as IPv4",
          "[http][limits]") {
    ConnectionLimiter limiter(2);
    CHECK(limiter.try_acquire(key("127.0.0.1")));
    CHECK(limiter.try_acquire(key("::ffff:127.0.0.1")));  // the same client
    CHECK(!limiter.try_acquire(key("127.0.0.1")));
    CHECK(limiter.try_acquire(key("127.0.0.2")));
    CHECK(limiter.try_acquire(key("2001:db8:1:2::1")));
    CHECK(limiter.try_acquire(key("2001:db8:1:2:ffff::9")));  // same /64
    CHECK(!limiter.try_acquire(key("2001:db8:1:2::3")));
    CHECK(limiter.try_acquire(key("2001:db8:1:3::1")));  // another /64
    limiter.release(key("127.0.0.1"));
    CHECK(limiter.count(key("127.0.0.1")) == 1);
    CHECK(limiter.try_acquire(key("127.0.0.1")));
    limiter.release(key("127.0.0.2"));
    CHECK(limiter.count(key("127.0.0.2")) == 0);

    ConnectionLimiter unlimited(0);
    for (int i = 0; i < 1000; ++i) CHECK(unlimited.try_acquire(key("127.0.0.1")));
}

TEST_CASE("body budget: bounded, a body larger than all of it only alone", "[http][limits]") {
    BodyBudget budget(100);
    CHECK(budget.try_reserve(60));
    CHECK(budget.try_reserve(40));
    CHECK(!budget.try_reserve(1));
    budget.release(40);
    CHECK(!budget.try_reserve(41));
    CHECK(budget.try_reserve(40));
    budget.release(100);
    CHECK(budget.used() == 0);
    CHECK(budget.try_reserve(500));  // alone
    CHECK(!budget.try_reserve(1));
    budget.release(500);
    BodyBudget unlimited(0);
    CHECK(unlimited.try_reserve(1ULL << 40));
}

TEST_CASE("a request without a valid credential is refused before its body is read",
          "[http][admission]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    // Only the head is sent, with the largest body the route allows: the 401 cannot wait
    // for the body, and the connection closes (the body is never read).
    for (const Headers& auth :
         {Headers{}, bearer("ob_live_00000000000000000000000000000000"), bearer(token)}) {
        HttpClient client(server.port());
        client.write_raw(header_only("POST", "/api/v1/capture", 1'048'576, auth));
        auto res = client.read_response(std::chrono::seconds(5));
        REQUIRE(res);
        check_error(*res, 401, "unauthorized");
        CHECK(res->header("WWW-Authenticate") == "Bearer");
        CHECK(!res->keep_alive);
        CHECK(client.wait_closed());
    }
    HttpClient client(server.port());
    client.write_raw(header_only("POST", "/api/v1/chatbots", 60'000, bearer("ob_sess_nope")));
    auto res = client.read_response(std::chrono::seconds(5));
    REQUIRE(res);
    check_error(*res, 401, "unauthorized");
    CHECK(client.wait_closed());
    // Unknown routes and methods are answered from the head too.
    HttpClient other(server.port());
    other.write_raw(header_only("PUT", "/api/v1/chatbots", 60'000, bearer(token)));
    res = other.read_response(std::chrono::seconds(5));
    REQUIRE(res);
    check_error(*res, 405, "method_not_allowed");
}

TEST_CASE("a body that comes after its head is admitted once and then served",
          "[http][admission]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    Bot bot;
    {
        HttpClient client(server.port());
        bot = create_bot(client, token);
    }
    HttpClient client(server.port());
    const std::string body = capture_body(200'000);
    client.write_raw(header_only("POST", "/api/v1/capture", body.size(), bearer(bot.key)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    client.write_raw(body);
    auto res = client.read_response();
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->keep_alive);
    // A session route the same way, then keep-alive goes on.
    const std::string patch = R"({"name":"later"})";
    client.write_raw(
        header_only("PATCH", "/api/v1/chatbots/" + bot.id, patch.size(), bearer(token)));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    client.write_raw(patch);
    res = client.read_response();
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->json().at("name") == "later");
    CHECK(client.request("GET", "/healthz").status == 200);
}

TEST_CASE("past max_buffered_body_bytes a body gets 503 with Retry-After, unread",
          "[http][admission]") {
    TestServerOptions options;
    options.server.max_buffered_body_bytes = 300'000;
    TestServer server(options);
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    Bot bot;
    {
        HttpClient client(server.port());
        bot = create_bot(client, token);
    }
    const std::string body = capture_body(200'000);
    HttpClient first(server.port());
    first.write_raw(header_only("POST", "/api/v1/capture", body.size(), bearer(bot.key)));
    // Admitted on the pool: give it the time to take its share of the budget.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    HttpClient second(server.port());
    second.write_raw(header_only("POST", "/api/v1/capture", body.size(), bearer(bot.key)));
    auto res = second.read_response(std::chrono::seconds(5));
    REQUIRE(res);
    check_error(*res, 503, "unavailable");
    CHECK(res->header("Retry-After") == "1");
    CHECK(second.wait_closed());
    // A body of 64 KiB or less needs no room, even when it comes after its head.
    {
        HttpClient small(server.port());
        CHECK(small.request("POST", "/api/v1/capture", capture_body(200), bearer(bot.key)).status ==
              200);
        const std::string medium = capture_body(60'000);
        small.write_raw(header_only("POST", "/api/v1/capture", medium.size(), bearer(bot.key)));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        small.write_raw(medium);
        auto ok = small.read_response();
        REQUIRE(ok);
        CHECK(ok->status == 200);
    }
    // The first one finishes, and gives its room back.
    first.write_raw(body);
    res = first.read_response();
    REQUIRE(res);
    CHECK(res->status == 200);
    HttpClient third(server.port());
    third.write_raw(header_only("POST", "/api/v1/capture", body.size(), bearer(bot.key)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    third.write_raw(body);
    res = third.read_response();
    REQUIRE(res);
    CHECK(res->status == 200);
}

TEST_CASE("per-address connection limit and requests per connection", "[http][limits]") {
    TestServerOptions options;
    options.server.max_connections_per_address = 2;
    options.server.max_requests_per_connection = 3;
    TestServer server(options);
    HttpClient a(server.port()), b(server.port());
    CHECK(a.request("GET", "/healthz").status == 200);
    CHECK(b.request("GET", "/healthz").status == 200);
    {
        HttpClient c(server.port());
        c.write_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        auto res = c.read_response(std::chrono::seconds(5));
        if (res) {
            check_error(*res, 503, "unavailable");
            CHECK(res->header("Retry-After") == "1");
        }
        CHECK(c.wait_closed());
    }
    // a's third request is its last.
    CHECK(a.request("GET", "/healthz").keep_alive);
    auto last = a.request("GET", "/healthz");
    CHECK(last.status == 200);
    CHECK(!last.keep_alive);
    CHECK(a.wait_closed());
    // Its slot is free again.
    bool served = false;
    for (int i = 0; i < 100 && !served; ++i) {
        HttpClient d(server.port());
        d.write_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        auto res = d.read_response(std::chrono::seconds(5));
        served = res && res->status == 200;
        if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(served);
}

TEST_CASE("strict framing: bad Transfer-Encoding, Host or obs-fold is 400 and closes",
          "[http][framing]") {
    TestServer server;
    for (const std::string head :
         {"POST /api/v1/capture HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n"
          "Content-Length: 5\r\n\r\n0\r\n\r\n",
          "POST /api/v1/capture HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
          "GET /healthz HTTP/1.1\r\n\r\n", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
          "GET /healthz HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n"}) {
        INFO(head);
        HttpClient client(server.port());
        client.write_raw(head + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        auto res = client.read_response();
        REQUIRE(res);
        check_error(*res, 400, "invalid_request");
        CHECK(!res->keep_alive);
        CHECK(client.wait_closed());
    }
    HttpClient client(server.port());
    client.write_raw("GET http://127.0.0.1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    auto res = client.read_response();
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->keep_alive);
    const auto log = server.access_log();
    for (const auto& line : log) CHECK(line.find("http://") == std::string::npos);
}

TEST_CASE("connections from a trusted proxy are not limited per address", "[http][limits]") {
    TestServerOptions options;
    options.server.max_connections_per_address = 1;
    options.api.trusted_proxies = {"127.0.0.0/8"};
    TestServer server(options);
    HttpClient a(server.port()), b(server.port()), c(server.port());
    CHECK(a.request("GET", "/healthz").status == 200);
    CHECK(b.request("GET", "/healthz").status == 200);
    CHECK(c.request("GET", "/healthz").status == 200);
}
