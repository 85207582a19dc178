// chatbotmgr::dashboard without a browser: what each path answers, with which headers
// (API.md section 17), ETag and If-None-Match, HEAD; and ServerOptions::fallback on a real
// socket -- the dashboard beside the Api, the Api's own paths unchanged.
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>

#include <catch2/catch.hpp>

#include "chatbotmgr/dashboard/dashboard.hpp"
#include "fixture.hpp"

namespace {

using chatbotmgr::beast::Api;
namespace http = boost::beast::http;

Api::Request get(std::string target, http::verb method = http::verb::get) {
    Api::Request req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    return req;
}

template <class Message>
void require_dashboard_headers(const Message& res) {
    CHECK(res["Content-Security-Policy"] == chatbotmgr::dashboard::kContentSecurityPolicy);
    CHECK(res["X-Content-Type-Options"] == "nosniff");
    CHECK(res["Referrer-Policy"] == "no-referrer");
}

// The first asset index.html names: "/assets/<16 hex>/app.css".
std::string first_asset(const std::string& html) {
    std::smatch m;
    REQUIRE(
        std::regex_search(html, m, std::regex(R"re("(/assets/[0-9a-f]{16}/[a-z]+\.(js|css))")re")));
    return m[1];
}

}  // namespace

TEST_CASE("dashboard: the page at / is no-store, with the headers of API.md section 17") {
    auto res = chatbotmgr::dashboard::answer(get("/"));
    REQUIRE(res);
    CHECK(res->result() == http::status::ok);
    require_dashboard_headers(*res);
    CHECK(res->at(http::field::cache_control) == "no-store");
    CHECK(res->at(http::field::content_type) == "text/html; charset=utf-8");
    CHECK(res->body().find("<script type=\"module\" src=\"/assets/") != std::string::npos);
    // No inline script or style: the CSP would block it.
    CHECK(res->body().find("<script>") == std::string::npos);
    CHECK(res->body().find("<style") == std::string::npos);
    CHECK(res->body().find("style=") == std::string::npos);
    CHECK(res->body().find("@ASSETS@") == std::string::npos);
    // The query does not matter.
    auto with_query = chatbotmgr::dashboard::answer(get("/?x=1"));
    REQUIRE(with_query);
    CHECK(with_query->body() == res->body());
}

TEST_CASE("dashboard: hashed assets are immutable, with a strong ETag and 304") {
    const std::string page = chatbotmgr::dashboard::answer(get("/"))->body();
    const std::string asset = first_asset(page);
    auto res = chatbotmgr::dashboard::answer(get(asset));
    REQUIRE(res);
    CHECK(res->result() == http::status::ok);
    require_dashboard_headers(*res);
    CHECK(res->at(http::field::cache_control) == "public, max-age=31536000, immutable");
    const std::string etag(res->at(http::field::etag));
    CHECK(std::regex_match(etag, std::regex(R"("[0-9a-f]{32}")")));

    for (const std::string& condition :
         {etag, std::string("W/").append(etag), std::string("\"nope\", ").append(etag),
          std::string("*")}) {
        Api::Request req = get(asset);
        req.set(http::field::if_none_match, condition);
        auto not_modified = chatbotmgr::dashboard::answer(req);
        REQUIRE(not_modified);
        CHECK(not_modified->result() == http::status::not_modified);
        CHECK(not_modified->body().empty());
        CHECK(not_modified->at(http::field::etag) == etag);
        require_dashboard_headers(*not_modified);
    }
    Api::Request other = get(asset);
    other.set(http::field::if_none_match, "\"0000\"");
    CHECK(chatbotmgr::dashboard::answer(other)->result() == http::status::ok);

    auto head = chatbotmgr::dashboard::answer(get(asset, http::verb::head));
    REQUIRE(head);
    CHECK(head->body().empty());
    CHECK(head->at(http::field::content_length) == std::to_string(res->body().size()));
}

TEST_CASE("dashboard: other paths and methods are left to the caller") {
    using chatbotmgr::dashboard::answer;
    using chatbotmgr::dashboard::handles;
    CHECK(handles("/"));
    CHECK(handles("/assets/x"));
    CHECK_FALSE(handles("/api/v1/chatbots"));
    CHECK_FALSE(handles("/healthz"));
    CHECK_FALSE(handles("/index.html"));
    CHECK_FALSE(answer(get("/api/v1/chatbots")));
    CHECK_FALSE(answer(get("/nope")));
    CHECK_FALSE(answer(get("/", http::verb::post)));
    CHECK_FALSE(answer(get("/", http::verb::delete_)));
    // An unknown asset is the dashboard's 404, with its headers.
    auto missing = answer(get("/assets/0000000000000000/app.js"));
    REQUIRE(missing);
    CHECK(missing->result() == http::status::not_found);
    require_dashboard_headers(*missing);
    CHECK(missing->at(http::field::cache_control) == "no-store");
}

TEST_CASE("dashboard: mounted on a Server through ServerOptions::fallback") {
    using namespace chatbotmgr::test;
    TestServerOptions options;
    options.server.fallback = chatbotmgr::dashboard::handler();
    TestServer server(std::move(options));
    HttpClient client(server.port());

    auto page = client.request("GET", "/");
    CHECK(page.status == 200);
    CHECK(page.header("Content-Security-Policy") == chatbotmgr::dashboard::kContentSecurityPolicy);
    CHECK(page.header("Referrer-Policy") == "no-referrer");
    // Keep-alive: the asset and the API on the same connection.
    auto asset = client.request("GET", first_asset(page.body));
    CHECK(asset.status == 200);
    CHECK(asset.header("Cache-Control") == "public, max-age=31536000, immutable");

    // The Api's paths answer as without the dashboard (v1), without its headers.
    auto api = client.request("GET", "/api/v1/chatbots");
    CHECK(api.status == 401);
    CHECK_FALSE(api.has_header("Content-Security-Policy"));
    auto unknown = client.request("GET", "/api/v1/nope");
    CHECK(unknown.status == 404);
    CHECK(unknown.header("Content-Type") == "application/json");
    auto health = client.request("GET", "/healthz");
    CHECK(health.status == 200);
    // Outside both, and methods the dashboard does not answer: the Api's 404.
    for (const char* method : {"GET", "POST"}) {
        auto other = client.request(method, std::string(method) == "GET" ? "/elsewhere" : "/");
        CHECK(other.status == 404);
        CHECK(other.header("Content-Type") == "application/json");
        CHECK(other.json().at("error").at("code") == "not_found");
    }
}

TEST_CASE("dashboard: without the fallback, / is the v1 404") {
    using namespace chatbotmgr::test;
    TestServer server;
    HttpClient client(server.port());
    auto res = client.request("GET", "/");
    CHECK(res.status == 404);
    CHECK(res.header("Content-Type") == "application/json");
    CHECK_FALSE(res.has_header("Content-Security-Policy"));
}

TEST_CASE("dashboard: a fallback that throws is a 500, and the connection goes on") {
    using namespace chatbotmgr::test;
    TestServerOptions options;
    options.server.fallback = [](const Api::Request&) -> std::optional<Api::Response> {
        throw std::runtime_error("broken host handler");
    };
    TestServer server(std::move(options));
    HttpClient client(server.port());
    auto res = client.request("GET", "/");
    CHECK(res.status == 500);
    CHECK(res.json().at("error").at("code") == "internal");
    CHECK(client.request("GET", "/healthz").status == 200);
}
