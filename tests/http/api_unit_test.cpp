// The Api without sockets (how a host mounts it, how fuzzers drive it), and the small
// parts under it: credential parsing and the failure limiter.
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sodium.h>
#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/beast/api.hpp"
#include "chatbotmgr/beast/session_check.hpp"
#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/sqlite/sqlite_store.hpp"
#include "chatbotmgr/testing/fakes.hpp"
#include "rate_limiter.hpp"
#include "temp_dir.hpp"

using namespace chatbotmgr;
namespace http = boost::beast::http;

namespace {

// A host's own session check: a fixed header names the organization.
class HeaderSessionCheck final : public beast::SessionCheck {
  public:
    std::optional<beast::Principal> check(const beast::RequestView& request) override {
        auto org = request.header("X-Test-Org");
        if (org.empty()) return std::nullopt;
        return beast::Principal{std::string(org), "tester", false};
    }
};

struct Host {
    std::shared_ptr<MemoryStore> store = std::make_shared<MemoryStore>();
    std::shared_ptr<ChatbotRegistry> registry = std::make_shared<ChatbotRegistry>(store);
    beast::Api api;
    explicit Host(beast::ApiOptions options = {})
        : api(registry, std::make_shared<HeaderSessionCheck>(), std::move(options)) {}
};

beast::Api::Request make(http::verb method, std::string target, std::string body = {},
                         std::string org = {}) {
    beast::Api::Request req{method, target, 11};
    if (!org.empty()) req.set("X-Test-Org", org);
    if (!body.empty()) {
        req.set(http::field::content_type, "application/json");
        req.body() = std::move(body);
        req.prepare_payload();
    }
    return req;
}

class MapView final : public beast::RequestView {
  public:
    std::vector<std::pair<std::string, std::string>> headers;
    std::string_view method() const noexcept override { return "GET"; }
    std::string_view target() const noexcept override { return "/"; }
    std::string_view header(std::string_view name) const noexcept override {
        for (const auto& [k, v] : headers)
            if (k == name) return v;
        return {};
    }
};

}  // namespace

TEST_CASE("a host can mount the Api: handles() and body_limit()", "[http]") {
    Host host;
    CHECK(host.api.handles("/api/v1/chatbots"));
    CHECK(host.api.handles("/api/v1/chatbots?x=1"));
    CHECK(host.api.handles("/api/v1/whatever"));
    CHECK(host.api.handles("/healthz"));
    CHECK_FALSE(host.api.handles("/"));
    CHECK_FALSE(host.api.handles("/api/v10/chatbots"));
    CHECK_FALSE(host.api.handles("/app/dashboard"));
    CHECK(host.api.body_limit("/api/v1/capture") == 1'048'576);
    CHECK(host.api.body_limit("/api/v1/capture?x") == 1'048'576);
    CHECK(host.api.body_limit("/api/v1/chatbots") == 65'536);

    beast::ApiOptions options;
    options.health_routes = false;
    Host quiet(options);
    CHECK_FALSE(quiet.api.handles("/healthz"));
    CHECK(quiet.api.handle_sync(make(http::verb::get, "/healthz")).result_int() == 404);
}

TEST_CASE("handle_sync runs the whole contract without sockets", "[http]") {
    Host host;
    auto created = host.api.handle_sync(
        make(http::verb::post, "/api/v1/chatbots", R"({"name":"Mounted"})", "org-1"));
    REQUIRE(created.result_int() == 200);
    CHECK(created[http::field::content_type] == "application/json");
    CHECK(created[http::field::cache_control] == "no-store");
    CHECK(created["X-Content-Type-Options"] == "nosniff");
    auto v = boost::json::parse(created.body());
    const std::string id(v.at("chatbot").at("id").as_string());

    auto mine = host.api.handle_sync(make(http::verb::get, "/api/v1/chatbots/" + id, {}, "org-1"));
    CHECK(mine.result_int() == 200);
    auto theirs =
        host.api.handle_sync(make(http::verb::get, "/api/v1/chatbots/" + id, {}, "org-2"));
    CHECK(theirs.result_int() == 404);
    CHECK(host.api.handle_sync(make(http::verb::get, "/api/v1/chatbots")).result_int() == 401);
    // No accounts given: no login routes.
    CHECK(host.api.handle_sync(make(http::verb::post, "/api/v1/auth/login", "{}")).result_int() ==
          404);
    // A host's principal without csrf_applies is not checked for Origin.
    CHECK(host.api.handle_sync(make(http::verb::delete_, "/api/v1/chatbots/" + id, {}, "org-1"))
              .result_int() == 200);

    // Over-limit bodies the host did not read.
    auto req = make(http::verb::post, "/api/v1/chatbots", {}, "org-1");
    req.set(http::field::content_type, "application/json");
    auto res = host.api.handle_sync(std::move(req), beast::RequestContext{"1.2.3.4", true});
    CHECK(res.result_int() == 413);
    CHECK_FALSE(res.keep_alive());
}

TEST_CASE("handle() calls done exactly once, inline or from the pool", "[http]") {
    Host host;
    for (auto target : {"/healthz", "/nope", "/api/v1/chatbots"}) {
        INFO(target);
        std::promise<int> done;
        int calls = 0;
        host.api.handle(make(http::verb::get, target, {}, "org-1"), {},
                        [&](beast::Api::Response r) {
                            ++calls;
                            done.set_value(static_cast<int>(r.result_int()));
                        });
        auto status = done.get_future().get();
        CHECK(status == (std::string(target) == "/nope" ? 404 : 200));
        CHECK(calls == 1);
    }
    host.api.stop();
    std::promise<int> done;
    host.api.handle(
        make(http::verb::get, "/api/v1/chatbots", {}, "org-1"), {},
        [&](beast::Api::Response r) { done.set_value(static_cast<int>(r.result_int())); });
    CHECK(done.get_future().get() == 503);
}

TEST_CASE("bearer_token, cookie_value and find_session_token", "[http]") {
    using beast::bearer_token;
    using beast::cookie_value;
    CHECK(bearer_token("Bearer abc") == std::optional<std::string_view>("abc"));
    CHECK(bearer_token("bEaReR   abc  ") == std::optional<std::string_view>("abc"));
    CHECK_FALSE(bearer_token("Bearer"));
    CHECK_FALSE(bearer_token("Bearer "));
    CHECK_FALSE(bearer_token("Bearerabc"));
    CHECK_FALSE(bearer_token("Basic abc"));
    CHECK_FALSE(bearer_token("Bearer a b"));

    CHECK(cookie_value("ob_session=x", "ob_session") == std::optional<std::string_view>("x"));
    CHECK(cookie_value("a=1; ob_session=x; b=2", "ob_session") ==
          std::optional<std::string_view>("x"));
    CHECK(cookie_value("a=1;ob_session=\"x\"", "ob_session") ==
          std::optional<std::string_view>("x"));
    CHECK(cookie_value("xob_session=1; ob_session=2", "ob_session") ==
          std::optional<std::string_view>("2"));
    CHECK_FALSE(cookie_value("a=1; b=2", "ob_session"));
    CHECK_FALSE(cookie_value("", "ob_session"));

    MapView view;
    CHECK_FALSE(beast::find_session_token(view));
    view.headers = {{"Cookie", "ob_session=tok"}};
    auto t = beast::find_session_token(view);
    REQUIRE(t);
    CHECK(t->token == "tok");
    CHECK(t->from_cookie);
    view.headers.push_back({"Authorization", "Bearer other"});
    t = beast::find_session_token(view);
    REQUIRE(t);
    CHECK(t->token == "other");
    CHECK_FALSE(t->from_cookie);
    view.headers.back().second = "Basic xyz";  // Authorization wins even when unusable
    CHECK_FALSE(beast::find_session_token(view));
}

TEST_CASE("AccountsSessionCheck: sessions only, never API keys", "[http]") {
    auto store = std::make_shared<MemoryStore>();
    AccountsOptions options;
    options.pwhash_opslimit = crypto_pwhash_OPSLIMIT_MIN;
    options.pwhash_memlimit = crypto_pwhash_MEMLIMIT_MIN;
    auto accounts = std::make_shared<Accounts>(store, options);
    accounts->add_user("ada@example.com", "Acme", "correct horse battery staple");
    auto login = accounts->login("ada@example.com", "correct horse battery staple");
    beast::AccountsSessionCheck check(accounts);

    MapView view;
    CHECK_FALSE(check.has_credential(view));
    CHECK_FALSE(check.check(view));
    view.headers = {{"Cookie", "theme=dark"}};
    CHECK_FALSE(check.has_credential(view));  // an unrelated cookie is no credential
    view.headers = {{"Cookie", "ob_session=" + login.token}};
    CHECK(check.has_credential(view));
    auto p = check.check(view);
    REQUIRE(p);
    CHECK(p->org_id == login.organization.id);
    CHECK(p->subject == login.user.id);
    CHECK(p->csrf_applies);
    view.headers = {{"Authorization", "Bearer " + login.token}};
    p = check.check(view);
    REQUIRE(p);
    CHECK_FALSE(p->csrf_applies);
    view.headers = {{"Authorization", "Bearer ob_live_0123456789abcdef0123456789abcdef"}};
    CHECK(check.has_credential(view));
    CHECK_FALSE(check.check(view));
}

TEST_CASE("FailureLimiter: fixed windows, bounded memory", "[http]") {
    auto clock = std::make_shared<testing::FakeClock>();
    beast::detail::FailureLimiter limiter(3, std::chrono::seconds(60), 2, clock);
    CHECK_FALSE(limiter.blocked("a"));
    limiter.record_failure("a");
    limiter.record_failure("a");
    CHECK_FALSE(limiter.blocked("a"));
    limiter.record_failure("a");
    REQUIRE(limiter.blocked("a"));
    CHECK(*limiter.blocked("a") == std::chrono::seconds(60));
    CHECK_FALSE(limiter.blocked("b"));
    clock->advance(std::chrono::seconds(45));
    CHECK(*limiter.blocked("a") == std::chrono::seconds(15));
    clock->advance(std::chrono::seconds(15));
    CHECK_FALSE(limiter.blocked("a"));
    // A failure after the window opens a new one.
    limiter.record_failure("a");
    CHECK_FALSE(limiter.blocked("a"));

    // Never more than max_clients entries.
    for (int i = 0; i < 100; ++i) limiter.record_failure("client-" + std::to_string(i));
    CHECK(limiter.tracked_clients() <= 2);
}

TEST_CASE(
    "grouped writes on SQLite: each answer follows its commit, rotation and deletion "
    "hold at once, concurrent patches lose nothing",
    "[http][group]") {
    test::TempDir dir;
    sqlite::SqliteOptions store_options;
    store_options.path = dir.file("grouped.db");
    std::atomic<std::size_t> committed_writes{0};
    store_options.on_commit = [&](std::chrono::nanoseconds, std::size_t writes) {
        committed_writes += writes;
    };
    auto store = std::make_shared<sqlite::SqliteStore>(store_options);
    auto registry = std::make_shared<ChatbotRegistry>(store);
    beast::ApiOptions options;
    options.group_commit = store;
    options.write_threads = 1;
    beast::Api api(registry, std::make_shared<HeaderSessionCheck>(), options);

    // Sends each request at once (handle() returns before the answer), then waits for all.
    auto send_all = [&](std::vector<beast::Api::Request> requests) {
        std::vector<std::promise<beast::Api::Response>> answers(requests.size());
        for (std::size_t i = 0; i < requests.size(); ++i)
            api.handle(std::move(requests[i]), {}, [&answers, i](beast::Api::Response r) {
                answers[i].set_value(std::move(r));
            });
        std::vector<beast::Api::Response> out;
        for (auto& a : answers) out.push_back(a.get_future().get());
        return out;
    };
    auto send = [&](beast::Api::Request request) {
        std::vector<beast::Api::Request> one;
        one.push_back(std::move(request));
        return std::move(send_all(std::move(one)).front());
    };
    auto capture = [&](const std::string& key) {
        auto req = make(http::verb::post, "/api/v1/capture",
                        R"({"conversationId":"c","messages":[{"role":"user","content":"hi"}]})");
        req.set(http::field::authorization, "Bearer " + key);
        return static_cast<int>(send(std::move(req)).result_int());
    };

    const auto created = send(make(http::verb::post, "/api/v1/chatbots",
                                   R"({"name":"grouped","settings":{"a":{"b":1}}})", "org-1"));
    REQUIRE(created.result_int() == 200);
    const auto created_json = boost::json::parse(created.body()).as_object();
    const std::string id(created_json.at("chatbot").at("id").as_string());
    const std::string first_key(created_json.at("apiKey").as_string());
    // Acknowledged means committed.
    CHECK(committed_writes >= 1);
    CHECK(capture(first_key) == 200);

    const auto rotated =
        send(make(http::verb::post, "/api/v1/chatbots/" + id + "/rotate-key", {}, "org-1"));
    REQUIRE(rotated.result_int() == 200);
    const std::string second_key(boost::json::parse(rotated.body()).at("apiKey").as_string());
    CHECK(capture(first_key) == 401);  // the old key died with the rotate's answer
    CHECK(capture(second_key) == 200);

    constexpr int kPatches = 40;
    std::vector<beast::Api::Request> patches;
    for (int i = 0; i < kPatches; ++i)
        patches.push_back(make(http::verb::patch, "/api/v1/chatbots/" + id,
                               R"({"settings":{"a":{"k)" + std::to_string(i) + R"(":true}}})",
                               "org-1"));
    for (const auto& answer : send_all(std::move(patches))) CHECK(answer.result_int() == 200);
    const auto got = send(make(http::verb::get, "/api/v1/chatbots/" + id, {}, "org-1"));
    const auto a = boost::json::parse(got.body()).at("settings").at("a").as_object();
    CHECK(a.size() == kPatches + 1);  // "b" and every patch's member

    CHECK(send(make(http::verb::delete_, "/api/v1/chatbots/" + id, {}, "org-1")).result_int() ==
          200);
    CHECK(capture(second_key) == 401);  // gone with the delete's answer

    // Everything acknowledged is in the file, as a fresh store over it reads it.
    api.stop();
    registry.reset();
    store.reset();
    sqlite::SqliteOptions reopen;
    reopen.path = store_options.path;
    sqlite::SqliteStore reopened(reopen);
    CHECK_FALSE(reopened.get("org-1", id));
}

TEST_CASE(
    "cached reads are answered on the calling thread, exactly as the pool answers them, and a "
    "write or a logout sends the next read to the pool",
    "[http][inline]") {
    auto store = std::make_shared<MemoryStore>();
    auto registry = std::make_shared<ChatbotRegistry>(store);
    AccountsOptions account_options;
    account_options.pwhash_opslimit = crypto_pwhash_OPSLIMIT_MIN;
    account_options.pwhash_memlimit = crypto_pwhash_MEMLIMIT_MIN;
    auto accounts = std::make_shared<Accounts>(store, account_options);
    accounts->add_user("ada@example.com", "Acme", "correct horse battery staple");
    const auto login = accounts->login("ada@example.com", "correct horse battery staple");
    auto session_check = std::make_shared<beast::AccountsSessionCheck>(accounts);

    // The answer, and whether it came on this thread (inline) or from the pool.
    struct Answer {
        beast::Api::Response response;
        bool inline_;
    };
    auto send = [&](beast::Api& api, http::verb method, const std::string& target,
                    std::string body = {}) {
        auto req = make(method, target, std::move(body));
        req.set(http::field::authorization, "Bearer " + login.token);
        std::promise<Answer> answer;
        const auto caller = std::this_thread::get_id();
        api.handle(std::move(req), {}, [&](beast::Api::Response r) {
            answer.set_value({std::move(r), std::this_thread::get_id() == caller});
        });
        return answer.get_future().get();
    };
    auto same = [](const beast::Api::Response& a, const beast::Api::Response& b) {
        CHECK(a.result_int() == b.result_int());
        CHECK(a.body() == b.body());
        CHECK(a[http::field::link] == b[http::field::link]);
        CHECK(a[http::field::content_type] == b[http::field::content_type]);
        CHECK(a[http::field::content_length] == b[http::field::content_length]);
    };

    beast::Api api(registry, session_check, {}, accounts);
    auto created = send(api, http::verb::post, "/api/v1/chatbots", R"({"name":"One"})");
    REQUIRE(created.response.result_int() == 200);
    send(api, http::verb::post, "/api/v1/chatbots", R"({"name":"Two"})");
    const std::string id(
        boost::json::parse(created.response.body()).at("chatbot").at("id").as_string());
    const std::string one = "/api/v1/chatbots/" + id;

    for (const std::string& target :
         {one, std::string("/api/v1/chatbots"), std::string("/api/v1/chatbots?limit=1")}) {
        INFO(target);
        // The whole list fills the cache that pages are answered from.
        send(api, http::verb::get, "/api/v1/chatbots");
        const auto first = send(api, http::verb::get, target);
        const auto second = send(api, http::verb::get, target);
        CHECK(second.inline_);
        same(first.response, second.response);
        CHECK(second.response.result_int() == 200);
    }
    // HEAD: the GET answer without its body, inline too.
    auto head = send(api, http::verb::head, one);
    CHECK(head.inline_);
    CHECK(head.response.result_int() == 200);
    CHECK(head.response.body().empty());

    // A write: the next read goes to the pool and sees it; the one after is inline again.
    REQUIRE(send(api, http::verb::patch, one, R"({"name":"Renamed"})").response.result_int() ==
            200);
    auto after_write = send(api, http::verb::get, one);
    CHECK_FALSE(after_write.inline_);
    CHECK(boost::json::parse(after_write.response.body()).at("name") == "Renamed");
    CHECK(send(api, http::verb::get, one).inline_);
    // A bad query is refused inline exactly as on the pool.
    auto bad = send(api, http::verb::get, "/api/v1/chatbots?limit=0");
    CHECK(bad.response.result_int() == 400);

    // Without the option every read takes the pool.
    beast::ApiOptions off;
    off.cached_reads_inline = false;
    beast::Api pooled(registry, session_check, off, accounts);
    CHECK_FALSE(send(pooled, http::verb::get, one).inline_);
    CHECK_FALSE(send(pooled, http::verb::get, one).inline_);

    // A logout ends the session for cached reads at once.
    REQUIRE(send(api, http::verb::post, "/api/v1/auth/logout").response.result_int() == 200);
    auto after_logout = send(api, http::verb::get, one);
    CHECK_FALSE(after_logout.inline_);
    CHECK(after_logout.response.result_int() == 401);
}

TEST_CASE("a host's session check without check_cached keeps every read on the pool",
          "[http][inline]") {
    Host host;
    auto created = host.api.handle_sync(
        make(http::verb::post, "/api/v1/chatbots", R"({"name":"Hosted"})", "org-1"));
    const std::string id(boost::json::parse(created.body()).at("chatbot").at("id").as_string());
    for (int i = 0; i < 2; ++i) {
        std::promise<std::pair<unsigned, bool>> answer;  // status, on the calling thread
        const auto caller = std::this_thread::get_id();
        host.api.handle(
            make(http::verb::get, "/api/v1/chatbots/" + id, {}, "org-1"), {},
            [&](beast::Api::Response r) {
                answer.set_value({r.result_int(), std::this_thread::get_id() == caller});
            });
        const auto [status, on_caller] = answer.get_future().get();
        CHECK(status == 200);
        CHECK_FALSE(on_caller);
    }
}
