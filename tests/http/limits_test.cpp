// API.md sections 6-8 at the connection level: body and header limits, media type, the
// order of checks, timeouts, the connection cap, keep-alive and pipelining.
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::test;

namespace {

constexpr std::size_t kChatbotLimit = 65'536;
constexpr std::size_t kCaptureLimit = 1'048'576;

// Valid JSON padded with trailing whitespace to exactly size bytes.
std::string padded(std::string json, std::size_t size) {
    REQUIRE(json.size() <= size);
    json.append(size - json.size(), ' ');
    return json;
}

std::string header_only(const std::string& method, const std::string& target, std::size_t length,
                        const Headers& headers, const std::string& type = "application/json") {
    std::string out = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
    out += "Content-Type: " + type + "\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
    return out;
}

bool serves(std::uint16_t port) {
    HttpClient client(port);
    return client.request("GET", "/healthz").status == 200;
}

}  // namespace

TEST_CASE("a body of exactly the limit is accepted, one byte more is 413", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());

    auto at = client.request("POST", "/api/v1/chatbots", padded(R"({"name":"x"})", kChatbotLimit),
                             bearer(token));
    CHECK(at.status == 200);
    HttpClient c2(server.port());
    auto over = c2.request("POST", "/api/v1/chatbots", padded(R"({"name":"x"})", kChatbotLimit + 1),
                           bearer(token));
    check_error(over, 413, "payload_too_large");
    CHECK(!over.keep_alive);

    HttpClient c3(server.port());
    Bot bot = create_bot(c3, token);
    const std::string capture =
        R"({"conversationId":"c","messages":[{"role":"user","content":"x"}]})";
    auto cap_at =
        c3.request("POST", "/api/v1/capture", padded(capture, kCaptureLimit), bearer(bot.key));
    CHECK(cap_at.status == 200);
    // The capture limit is not the chatbot limit.
    HttpClient c4(server.port());
    auto cap_over =
        c4.request("POST", "/api/v1/capture", padded(capture, kCaptureLimit + 1), bearer(bot.key));
    check_error(cap_over, 413, "payload_too_large");
    // PATCH has the chatbot limit.
    HttpClient c5(server.port());
    check_error(c5.request("PATCH", "/api/v1/chatbots/" + bot.id, padded("{}", kChatbotLimit + 1),
                           bearer(token)),
                413, "payload_too_large");
    CHECK(serves(server.port()));
}

TEST_CASE("413 is decided from Content-Length before the body is read", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    Bot bot;
    {
        HttpClient client(server.port());
        bot = create_bot(client, token);
    }
    // Only the header is sent: the answer cannot depend on the body.
    HttpClient a(server.port());
    a.write_raw(header_only("POST", "/api/v1/capture", 50'000'000, bearer(bot.key)));
    auto res = a.read_response();
    REQUIRE(res);
    check_error(*res, 413, "payload_too_large");
    CHECK(!res->keep_alive);
    CHECK(a.wait_closed());

    HttpClient b(server.port());
    b.write_raw(header_only("POST", "/api/v1/chatbots", kChatbotLimit + 1, bearer(token)));
    res = b.read_response();
    REQUIRE(res);
    check_error(*res, 413, "payload_too_large");
    CHECK(b.wait_closed());
    CHECK(serves(server.port()));
}

TEST_CASE("a chunked body over the limit is 413", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    auto chunked = [&, token = token](const std::string& body) {
        std::string out =
            "POST /api/v1/chatbots HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
            "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (std::size_t i = 0; i < body.size(); i += 8192) {
            std::string piece = body.substr(i, 8192);
            char size[32];
            std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
            out += size + piece + "\r\n";
        }
        return out + "0\r\n\r\n";
    };
    client.write_raw(chunked(padded(R"({"name":"chunked"})", kChatbotLimit)));
    auto ok = client.read_response();
    REQUIRE(ok);
    CHECK(ok->status == 200);

    client.write_raw(chunked(padded(R"({"name":"chunked"})", kChatbotLimit + 1)));
    auto res = client.read_response();
    REQUIRE(res);
    check_error(*res, 413, "payload_too_large");
    CHECK(client.wait_closed());
    CHECK(serves(server.port()));
}

TEST_CASE("order of checks: route, method, credentials, CSRF, size, media type, JSON, fields, id",
          "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    auto req = [&](const std::string& raw) {
        HttpClient client(server.port());
        client.write_raw(raw);
        auto res = client.read_response();
        REQUIRE(res);
        return *res;
    };
    const std::size_t big = kChatbotLimit + 1;
    // 404 before everything, 405 next.
    check_error(req(header_only("POST", "/api/v1/nope", big, {}, "text/plain")), 404, "not_found");
    check_error(req(header_only("PUT", "/api/v1/chatbots", big, {}, "text/plain")), 405,
                "method_not_allowed");
    // 401 before 413 and 415.
    check_error(req(header_only("POST", "/api/v1/chatbots", big, {}, "text/plain")), 401,
                "unauthorized");
    // 403 before 413.
    check_error(
        req(header_only("POST", "/api/v1/chatbots", big, {{"Cookie", "ob_session=" + token}})), 403,
        "csrf_rejected");
    // 413 before 415.
    check_error(req(header_only("POST", "/api/v1/chatbots", big, bearer(token), "text/plain")), 413,
                "payload_too_large");
    // 415 before JSON syntax.
    HttpClient client(server.port());
    check_error(client.request("POST", "/api/v1/chatbots", "{bad",
                               with(bearer(token), {{"Content-Type", "text/plain"}})),
                415, "unsupported_media_type");
    // JSON syntax, then fields, then existence of the id.
    check_error(client.request("PATCH", "/api/v1/chatbots/" + kUnknownId, "{bad", bearer(token)),
                400, "invalid_request");
    check_error(client.request("PATCH", "/api/v1/chatbots/" + kUnknownId, R"({"name":null})",
                               bearer(token)),
                400, "invalid_request");
    check_error(client.request("PATCH", "/api/v1/chatbots/" + kUnknownId, R"({"name":"ok"})",
                               bearer(token)),
                404, "not_found");
}

TEST_CASE("a body that is not application/json is 415", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    for (const std::string type : {"text/plain", "application/jsonx", "text/json",
                                   "application/x-www-form-urlencoded", "multipart/form-data"}) {
        INFO(type);
        check_error(client.request("POST", "/api/v1/chatbots", R"({"name":"x"})",
                                   with(bearer(token), {{"Content-Type", type}})),
                    415, "unsupported_media_type");
    }
    // No Content-Type at all.
    client.write_raw("POST /api/v1/chatbots HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
                     "\r\nContent-Length: 12\r\n\r\n{\"name\":\"x\"}");
    auto res = client.read_response();
    REQUIRE(res);
    check_error(*res, 415, "unsupported_media_type");
    // Parameters and case do not matter.
    for (const std::string type : {"application/json; charset=utf-8", "Application/JSON",
                                   "application/json ;charset=UTF-8"}) {
        INFO(type);
        CHECK(client
                  .request("POST", "/api/v1/chatbots", R"({"name":"x"})",
                           with(bearer(token), {{"Content-Type", type}}))
                  .status == 200);
    }
    // Capture too.
    Bot bot = create_bot(client, token);
    check_error(
        client.request("POST", "/api/v1/capture",
                       R"({"conversationId":"c","messages":[{"role":"user","content":"x"}]})",
                       with(bearer(bot.key), {{"Content-Type", "text/plain"}})),
        415, "unsupported_media_type");
    // Without a body there is nothing to type.
    CHECK(client
              .request("POST", "/api/v1/chatbots/" + bot.id + "/rotate-key", "",
                       with(bearer(token), {{"Content-Type", "text/plain"}}))
              .status == 200);
}

TEST_CASE("a header block over 16 KiB is 431 while exactly 16 KiB is fine", "[http]") {
    TestServer server;
    auto block = [](std::size_t total) {
        const std::string head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ";
        const std::string tail = "\r\n\r\n";
        return head + std::string(total - head.size() - tail.size(), 'a') + tail;
    };
    HttpClient ok(server.port());
    ok.write_raw(block(16'384));
    auto res = ok.read_response();
    REQUIRE(res);
    CHECK(res->status == 200);

    HttpClient over(server.port());
    over.write_raw(block(16'385));
    res = over.read_response();
    REQUIRE(res);
    check_error(*res, 431, "header_too_large");
    CHECK(over.wait_closed());

    HttpClient huge(server.port());
    huge.write_raw(block(200'000));
    res = huge.read_response();
    REQUIRE(res);
    check_error(*res, 431, "header_too_large");
    CHECK(huge.wait_closed());
    CHECK(serves(server.port()));
}

TEST_CASE("bytes that are not HTTP get 400 and a closed connection while others are served",
          "[http]") {
    TestServer server;
    for (const std::string& garbage :
         {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),  // a TLS hello
          std::string("HELLO\r\n\r\n"), std::string("GET / HTTP/9.9\r\n\r\n"),
          std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
          std::string("GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n")}) {
        HttpClient client(server.port());
        client.write_raw(garbage);
        auto res = client.read_response();
        if (res) check_error(*res, 400, "invalid_request");
        CHECK(client.wait_closed());
        CHECK(serves(server.port()));
    }
}

TEST_CASE("a slow client is cut off by the header timeout while others are served", "[http]") {
    TestServerOptions options;
    options.server.header_timeout = std::chrono::milliseconds(300);
    TestServer server(options);
    HttpClient slow(server.port());
    slow.write_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n");  // never finished
    HttpClient other(server.port());
    for (int i = 0; i < 20; ++i) CHECK(other.request("GET", "/healthz").status == 200);
    CHECK(slow.wait_closed());
    // A connection that never sends anything is cut off too.
    HttpClient silent(server.port());
    CHECK(silent.wait_closed());
    CHECK(other.request("GET", "/healthz").status == 200);
}

TEST_CASE("an idle keep-alive connection is closed after the idle timeout", "[http]") {
    TestServerOptions options;
    options.server.idle_timeout = std::chrono::milliseconds(300);
    TestServer server(options);
    HttpClient client(server.port());
    CHECK(client.request("GET", "/healthz").status == 200);
    CHECK(client.wait_closed());
}

TEST_CASE("past max_connections a new connection gets 503 or is closed", "[http]") {
    TestServerOptions options;
    options.server.max_connections = 2;
    TestServer server(options);
    auto first = std::make_unique<HttpClient>(server.port());
    HttpClient second(server.port());
    REQUIRE(first->request("GET", "/healthz").status == 200);
    REQUIRE(second.request("GET", "/healthz").status == 200);

    HttpClient third(server.port());
    third.write_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    auto res = third.read_response();
    if (res) {
        check_error(*res, 503, "unavailable");
        CHECK(res->has_header("Retry-After"));
    }
    CHECK(third.wait_closed());
    // The open ones go on.
    CHECK(second.request("GET", "/healthz").status == 200);

    // Once one closes, a new one gets in.
    first.reset();
    bool served = false;
    for (int attempt = 0; attempt < 200 && !served; ++attempt) {
        try {
            HttpClient again(server.port());
            again.write_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
            auto r = again.read_response();
            served = r && r->status == 200;
        } catch (const std::exception&) {
        }
        if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(served);
}

TEST_CASE("keep-alive: many requests on one connection", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    Bot bot = create_bot(client, token);
    for (int i = 0; i < 300; ++i) {
        HttpResponse res;
        switch (i % 3) {
            case 0:
                res = client.request("GET", "/api/v1/chatbots/" + bot.id, {}, bearer(token));
                break;
            case 1:
                res = client.request("GET", "/api/v1/chatbots", {}, bearer(token));
                break;
            default:
                res = client.request(
                    "POST", "/api/v1/capture",
                    R"({"conversationId":"c","messages":[{"role":"user","content":"x"}]})",
                    bearer(bot.key));
        }
        if (res.status != 200 || !res.keep_alive) FAIL("request " << i << ": " << res.status);
    }
    // Errors keep the connection too (the body was read).
    check_error(client.request("POST", "/api/v1/chatbots", "{bad", bearer(token)), 400,
                "invalid_request");
    CHECK(client.request("GET", "/healthz").status == 200);
}

TEST_CASE("pipelined requests are answered in order", "[http]") {
    TestServer server;
    HttpClient client(server.port());
    client.write_raw(serialize_request("GET", "/healthz", {}, {}) +
                     serialize_request("GET", "/api/v1/nope", {}, {}) +
                     serialize_request("POST", "/healthz", {}, {}) +
                     serialize_request("GET", "/readyz", {}, {}));
    std::vector<int> statuses;
    for (int i = 0; i < 4; ++i) {
        auto res = client.read_response();
        REQUIRE(res);
        statuses.push_back(res->status);
    }
    CHECK(statuses == std::vector<int>{200, 404, 405, 200});
}

TEST_CASE("HTTP/1.0 and Connection: close end the connection after the answer", "[http]") {
    TestServer server;
    HttpClient old(server.port());
    old.write_raw("GET /healthz HTTP/1.0\r\n\r\n");
    auto res = old.read_response();
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(old.wait_closed());

    HttpClient closing(server.port());
    auto r = closing.request("GET", "/healthz", {}, {{"Connection", "close"}});
    CHECK(r.status == 200);
    CHECK(!r.keep_alive);
    CHECK(closing.wait_closed());
}

TEST_CASE("Expect: 100-continue gets a 100 before the body", "[http]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    const std::string body = R"({"name":"continued"})";
    client.write_raw(header_only("POST", "/api/v1/chatbots", body.size(),
                                 with(bearer(token), {{"Expect", "100-continue"}})));
    auto interim = client.read_response();
    REQUIRE(interim);
    CHECK(interim->status == 100);
    client.write_raw(body);
    auto res = client.read_response();
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->json().at("chatbot").at("name") == "continued");
}

TEST_CASE("an answer to HEAD has no body and the connection goes on", "[http]") {
    TestServer server;
    HttpClient client(server.port());
    client.write_raw(
        "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    auto head = client.read_response(kIoTimeout, true);
    REQUIRE(head);
    CHECK(head->status == 200);
    CHECK(head->header("Content-Length") == "11");
    CHECK(head->body.empty());
    auto get = client.read_response();
    REQUIRE(get);
    CHECK(get->status == 200);
    CHECK(get->body == R"({"ok":true})");
}
