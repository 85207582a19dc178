// The limits of issue 11 below the HTTP layer (label "abuse"): the failure limiter's
// eviction policy and IPv6 grouping (item 7), who the client is behind a trusted proxy
// (item 6), the parsed-size limit of the JSON parser (item 4), and through the Api
// without sockets: per-account login limits and the bounded login queue (items 1, 6).
// The process-level attacks are in hardening_test.py.
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/beast/api.hpp"
#include "chatbotmgr/beast/session_check.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/registry.hpp"
#include "client_address.hpp"
#include "rate_limiter.hpp"
#include "slots.hpp"

using namespace chatbotmgr;
using beast::detail::address_group;
using beast::detail::FailureLimiter;
namespace http = boost::beast::http;
using std::chrono::seconds;

namespace {

class ManualClock final : public Clock {
  public:
    std::chrono::system_clock::time_point now() const override {
        std::lock_guard lock(mutex_);
        return now_;
    }
    void advance(std::chrono::system_clock::duration d) {
        std::lock_guard lock(mutex_);
        now_ += d;
    }

  private:
    mutable std::mutex mutex_;
    std::chrono::system_clock::time_point now_ =
        std::chrono::system_clock::time_point(std::chrono::hours(24 * 365 * 50));
};

beast::Api::Request request(http::verb method, std::string target, std::string body = {}) {
    beast::Api::Request req{method, target, 11};
    if (!body.empty()) {
        req.set(http::field::content_type, "application/json");
        req.body() = std::move(body);
        req.prepare_payload();
    }
    return req;
}

beast::RequestContext context_of(std::string client) {
    beast::RequestContext context;
    context.client_address = std::move(client);
    return context;
}

std::string client_of(const std::vector<std::string>& proxies, std::string_view peer,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      beast::ForwardedHeader header = beast::ForwardedHeader::x_forwarded_for) {
    beast::detail::TrustedProxies trusted(proxies);
    auto req = request(http::verb::get, "/");
    for (const auto& [name, value] : headers) req.insert(name, value);
    return beast::detail::client_address(trusted, header, peer, req);
}

bool refused_as_too_large(std::string_view text, std::size_t max_bytes) {
    JsonLimits limits;
    limits.max_parsed_bytes = max_bytes;
    try {
        (void)parse_json_strict(text, limits);
        return false;
    } catch (const Error& e) {
        return e.code() == ErrorCode::invalid_argument &&
               std::string_view(e.what()).find("too large once parsed") != std::string_view::npos;
    }
}

}  // namespace

// ---- item 7: the limiter cannot be flushed

TEST_CASE("FailureLimiter: a blocked client stays blocked while others fill the table", "[abuse]") {
    auto clock = std::make_shared<ManualClock>();
    FailureLimiter limiter(3, seconds(60), 100, clock);
    for (int i = 0; i < 3; ++i) CHECK(limiter.record_failure("x"));
    REQUIRE(limiter.blocked("x"));

    // 10,000 other clients fail once each: only 99 fit, the rest are not counted, and
    // nothing -- least of all x -- is evicted.
    std::size_t counted = 0;
    for (int i = 0; i < 10'000; ++i)
        counted += limiter.record_failure(std::string("c").append(std::to_string(i)));
    CHECK(counted == 99);
    CHECK(limiter.refused_failures() == 10'000 - 99);
    CHECK(limiter.tracked_clients() == 100);
    REQUIRE(limiter.blocked("x"));
    CHECK(*limiter.blocked("x") == seconds(60));
    // A client that was not counted is not limited (fail open: see SECURITY.md).
    CHECK_FALSE(limiter.blocked("c9999"));

    // Once the windows have passed, room frees up again and x is let in.
    clock->advance(seconds(60));
    CHECK_FALSE(limiter.blocked("x"));
    CHECK(limiter.record_failure("newcomer"));
    CHECK(limiter.tracked_clients() == 1);
}

TEST_CASE("FailureLimiter: only entries whose window has passed make room", "[abuse]") {
    auto clock = std::make_shared<ManualClock>();
    FailureLimiter limiter(2, seconds(60), 3, clock);
    CHECK(limiter.record_failure("a"));
    clock->advance(seconds(30));
    CHECK(limiter.record_failure("b"));
    CHECK(limiter.record_failure("b"));  // b blocked until t=90
    CHECK(limiter.record_failure("c"));
    CHECK_FALSE(limiter.record_failure("d"));  // full of live windows
    clock->advance(seconds(30));               // t=60: a's window has passed
    CHECK(limiter.record_failure("d"));        // ... so d takes its place
    CHECK(limiter.tracked_clients() == 3);
    REQUIRE(limiter.blocked("b"));
    CHECK(*limiter.blocked("b") == seconds(30));
    // A failure after a window has passed opens a new one, which lasts its full length.
    clock->advance(seconds(40));  // t=100: b's and c's windows have passed
    CHECK_FALSE(limiter.blocked("b"));
    CHECK(limiter.record_failure("b"));
    CHECK(limiter.record_failure("b"));
    REQUIRE(limiter.blocked("b"));
    CHECK(*limiter.blocked("b") == seconds(60));
    CHECK(limiter.record_failure("e"));  // c's old window made room
}

TEST_CASE("address_group: IPv6 by /64, IPv4 as it is", "[abuse]") {
    CHECK(address_group("192.0.2.7") == "192.0.2.7");
    CHECK(address_group("::ffff:192.0.2.7") == "192.0.2.7");
    CHECK(address_group("2001:db8:1:2::1") == "2001:db8:1:2::/64");
    CHECK(address_group("2001:db8:1:2:ffff:eeee:dddd:cccc") == "2001:db8:1:2::/64");
    CHECK(address_group("2001:DB8:1:2::abcd") == "2001:db8:1:2::/64");
    CHECK(address_group("2001:db8:1:3::1") == "2001:db8:1:3::/64");
    CHECK(address_group("::1") == "::/64");
    CHECK(address_group("") == "");
    CHECK(address_group("client-7") == "client-7");

    // Every address of one /64 counts as one client.
    auto clock = std::make_shared<ManualClock>();
    FailureLimiter limiter(10, seconds(60), 100, clock);
    for (int i = 0; i < 10; ++i)
        limiter.record_failure(address_group("2001:db8:1:2::" + std::to_string(i + 1)));
    CHECK(limiter.blocked(address_group("2001:db8:1:2:dead:beef::1")));
    CHECK_FALSE(limiter.blocked(address_group("2001:db8:1:3::1")));
    CHECK(limiter.tracked_clients() == 1);
}

// ---- item 6: the client behind a trusted proxy

TEST_CASE("TrustedProxies: addresses and CIDR blocks, checked", "[abuse]") {
    beast::detail::TrustedProxies proxies({"10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "::1"});
    auto bytes_of = [](std::string text) {
        auto a = boost::asio::ip::make_address(text);
        return a.is_v4() ? boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, a.to_v4())
                               .to_bytes()
                         : a.to_v6().to_bytes();
    };
    CHECK(proxies.contains(bytes_of("10.255.0.1")));
    CHECK_FALSE(proxies.contains(bytes_of("11.0.0.1")));
    CHECK(proxies.contains(bytes_of("192.0.2.1")));
    CHECK_FALSE(proxies.contains(bytes_of("192.0.2.2")));
    CHECK(proxies.contains(bytes_of("2001:db8:ffff::1")));
    CHECK_FALSE(proxies.contains(bytes_of("2001:db9::1")));
    CHECK(proxies.contains(bytes_of("::1")));
    // Host bits past the prefix are ignored.
    CHECK(beast::detail::TrustedProxies({"10.1.2.3/8"}).contains(bytes_of("10.9.9.9")));
    for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "nonsense", "10.0.0.0/8x", ""})
        CHECK_THROWS_AS(beast::detail::TrustedProxies({bad}), Error);
}

TEST_CASE("client_address: X-Forwarded-For only from a trusted proxy, right-most untrusted hop",
          "[abuse]") {
    using Headers = std::vector<std::pair<std::string, std::string>>;
    const std::vector<std::string> proxies = {"10.0.0.0/8"};
    const Headers xff = {{"X-Forwarded-For", "203.0.113.9, 198.51.100.1"}};
    // No trusted proxy, or a peer that is not one: the header is ignored.
    CHECK(client_of({}, "10.0.0.1", xff) == "10.0.0.1");
    CHECK(client_of(proxies, "192.0.2.1", xff) == "192.0.2.1");
    // From the proxy: the right-most hop that is not a trusted proxy.
    CHECK(client_of(proxies, "10.0.0.1", xff) == "198.51.100.1");
    CHECK(client_of(proxies, "10.0.0.1", {{"X-Forwarded-For", "198.51.100.1, 10.2.3.4"}}) ==
          "198.51.100.1");
    // Several lines are one list, in order.
    CHECK(client_of(proxies, "10.0.0.1",
                    {{"X-Forwarded-For", "203.0.113.9"}, {"X-Forwarded-For", "10.9.9.9"}}) ==
          "203.0.113.9");
    // Every hop trusted: the left-most. No header: the proxy itself.
    CHECK(client_of(proxies, "10.0.0.1", {{"X-Forwarded-For", "10.3.3.3, 10.2.2.2"}}) ==
          "10.3.3.3");
    CHECK(client_of(proxies, "10.0.0.1", {}) == "10.0.0.1");
    // A hop that cannot be read: the last trusted hop is all we know.
    CHECK(client_of(proxies, "10.0.0.1", {{"X-Forwarded-For", "198.51.100.1, garbage"}}) ==
          "10.0.0.1");
    CHECK(client_of(proxies, "10.0.0.1", {{"X-Forwarded-For", "unknown, 10.2.2.2"}}) == "10.2.2.2");
    // Ports and brackets as proxies write them; IPv4-mapped peers.
    CHECK(client_of(proxies, "10.0.0.1", {{"X-Forwarded-For", "198.51.100.1:4711"}}) ==
          "198.51.100.1");
    CHECK(client_of(proxies, "10.0.0.1", {{"X-Forwarded-For", "[2001:db8::7]:80"}}) ==
          "2001:db8::7");
    CHECK(client_of(proxies, "::ffff:10.0.0.1", xff) == "198.51.100.1");
    CHECK(client_of({}, "::ffff:192.0.2.5", {}) == "192.0.2.5");
    // A peer that is not an IP literal (a host's own name) is used as it is.
    CHECK(client_of(proxies, "conn-7", xff) == "conn-7");
    // X-Forwarded-For is not read when the proxy is configured to set Forwarded.
    CHECK(client_of(proxies, "10.0.0.1", xff, beast::ForwardedHeader::forwarded) == "10.0.0.1");
}

TEST_CASE("client_address: Forwarded (RFC 7239) from a trusted proxy", "[abuse]") {
    const std::vector<std::string> proxies = {"10.0.0.0/8"};
    const auto forwarded = beast::ForwardedHeader::forwarded;
    CHECK(client_of(proxies, "10.0.0.1",
                    {{"Forwarded", "for=203.0.113.9;proto=http, for=198.51.100.1;by=10.0.0.1"}},
                    forwarded) == "198.51.100.1");
    CHECK(client_of(proxies, "10.0.0.1", {{"Forwarded", R"(For="[2001:db8:cafe::17]:4711")"}},
                    forwarded) == "2001:db8:cafe::17");
    CHECK(client_of(proxies, "10.0.0.1",
                    {{"Forwarded", R"(for="198.51.100.1";host="a,b", for=10.1.1.1)"}},
                    forwarded) == "198.51.100.1");
    CHECK(client_of(proxies, "10.0.0.1", {{"Forwarded", "for=_hidden, for=10.1.1.1"}}, forwarded) ==
          "10.1.1.1");
    CHECK(client_of(proxies, "10.0.0.1", {{"Forwarded", "proto=https"}}, forwarded) == "10.0.0.1");
    // Forwarded is not read when the proxy sets X-Forwarded-For.
    CHECK(client_of(proxies, "10.0.0.1", {{"Forwarded", "for=198.51.100.1"}}) == "10.0.0.1");
}

// ---- item 4: parsed size

TEST_CASE("parse_json_strict: max_parsed_bytes stops expansion, not ordinary bodies", "[abuse]") {
    // 1 MiB of "[0,0,...]" is 12 MiB of values once parsed (24 bytes each).
    std::string zeros = "[0";
    while (zeros.size() < 1'048'000) zeros += ",0";
    zeros += "]";
    CHECK(refused_as_too_large(zeros, 4 * 1024 * 1024));
    CHECK_NOTHROW(parse_json_strict(zeros, JsonLimits{64, 13 * 1024 * 1024}));

    // An ordinary capture body of about 1 MiB (mostly text) takes about its size.
    std::string text(30'000, 'x');
    std::string capture = R"({"conversationId":"c","messages":[)";
    for (int i = 0; i < 33; ++i)
        capture += std::string(i ? "," : "") + R"({"role":"user","content":")" + text + R"("})";
    capture += R"(],"user":{"id":"u","tags":[)";
    for (int i = 0; i < 1000; ++i) capture += std::string(i ? "," : "") + "\"t\"";
    capture += "]}}";
    CHECK(capture.size() > 990'000);
    CHECK_FALSE(refused_as_too_large(capture, 2 * capture.size()));

    // Members, names and strings count too; the limit is exact enough to be testable.
    constexpr std::size_t value = sizeof(boost::json::value);
    constexpr std::size_t member = sizeof(boost::json::key_value_pair) + 4;
    CHECK_FALSE(refused_as_too_large("{}", value));
    CHECK(refused_as_too_large("{}", value - 1));
    CHECK_FALSE(refused_as_too_large(R"({"a":{"bb":[1,2]}})", value + 2 * member + 3 + 2 * value));
    CHECK(refused_as_too_large(R"({"a":{"bb":[1,2]}})", value + 2 * member + 3 + 2 * value - 1));
    const std::string long_string = R"(")" + std::string(1000, 'y') + R"(")";
    CHECK(refused_as_too_large(long_string, 1000 + value - 1));
    CHECK_FALSE(refused_as_too_large(long_string, 1000 + value));
    // Without a limit nothing changes.
    CHECK_NOTHROW(parse_json_strict(zeros));
}

TEST_CASE("Slots: at most capacity at once, given back on destruction", "[abuse]") {
    static std::atomic<int> idle{0};
    beast::detail::Slots slots(2, [] { ++idle; });
    {
        auto a = slots.try_acquire();
        auto b = slots.try_acquire();
        REQUIRE(a);
        REQUIRE(b);
        CHECK_FALSE(slots.try_acquire());
        CHECK(slots.in_use() == 2);
        auto moved = std::move(*a);
        a.reset();  // the moved-from slot gives nothing back
        CHECK(slots.in_use() == 2);
    }
    CHECK(slots.in_use() == 0);
    CHECK(idle == 1);
    CHECK(slots.try_acquire());
}

// ---- items 1 and 6 through the Api

namespace {

struct LoginHost {
    std::shared_ptr<MemoryStore> store = std::make_shared<MemoryStore>();
    std::shared_ptr<Accounts> accounts;
    std::shared_ptr<beast::Api> api;

    explicit LoginHost(beast::ApiOptions options, bool fast_hash = true) {
        AccountsOptions account_options;
        if (fast_hash) {
            account_options.pwhash_opslimit = 1;     // crypto_pwhash_OPSLIMIT_MIN
            account_options.pwhash_memlimit = 8192;  // crypto_pwhash_MEMLIMIT_MIN
        }
        accounts = std::make_shared<Accounts>(store, account_options);
        accounts->add_user("a@example.com", "Org", "password-a");
        accounts->add_user("b@example.com", "Org", "password-b");
        api = std::make_shared<beast::Api>(std::make_shared<ChatbotRegistry>(store),
                                           std::make_shared<beast::AccountsSessionCheck>(accounts),
                                           std::move(options), accounts);
    }

    unsigned login(const std::string& email, const std::string& password,
                   const std::string& client = "192.0.2.1") {
        auto req = request(http::verb::post, "/api/v1/auth/login",
                           R"({"email":")" + email + R"(","password":")" + password + R"("})");
        return api->handle_sync(std::move(req), context_of(client)).result_int();
    }
};

}  // namespace

TEST_CASE("login limits: per client and account, plus a looser one per client", "[abuse]") {
    beast::ApiOptions options;
    options.login_max_failures = 3;
    options.login_max_failures_per_address = 5;
    LoginHost host(options);
    for (int i = 0; i < 3; ++i) CHECK(host.login("a@example.com", "wrong") == 401);
    CHECK(host.login("a@example.com", "password-a") == 429);
    CHECK(host.login("A@Example.COM", "password-a") == 429);  // emails compare case-blind
    CHECK(host.login("b@example.com", "password-b") == 200);  // another account: not locked
    CHECK(host.login("a@example.com", "password-a", "192.0.2.2") == 200);  // another client
    // Two more failures on other accounts reach the per-client limit: everything refused.
    CHECK(host.login("nobody@example.com", "x") == 401);
    CHECK(host.login("b@example.com", "wrong") == 401);
    CHECK(host.login("b@example.com", "password-b") == 429);
    CHECK(host.login("a@example.com", "password-a", "192.0.2.2") == 200);
    // IPv6 clients of one /64 are one client.
    for (int i = 0; i < 3; ++i)
        CHECK(host.login("a@example.com", "wrong", "2001:db8::" + std::to_string(i + 1)) == 401);
    CHECK(host.login("a@example.com", "password-a", "2001:db8::ffff") == 429);
    CHECK(host.login("a@example.com", "password-a", "2001:db8:0:1::1") == 200);
}

TEST_CASE("login limits: a trusted proxy's clients are limited one by one", "[abuse]") {
    beast::ApiOptions options;
    options.login_max_failures = 2;
    options.trusted_proxies = {"10.0.0.0/8"};
    LoginHost host(options);
    auto via_proxy = [&](const std::string& forwarded_for, const std::string& password) {
        auto req = request(http::verb::post, "/api/v1/auth/login",
                           R"({"email":"a@example.com","password":")" + password + R"("})");
        req.set("X-Forwarded-For", forwarded_for);
        return host.api->handle_sync(std::move(req), context_of("10.0.0.1")).result_int();
    };
    CHECK(via_proxy("198.51.100.1", "wrong") == 401);
    CHECK(via_proxy("198.51.100.1", "wrong") == 401);
    CHECK(via_proxy("198.51.100.1", "password-a") == 429);
    CHECK(via_proxy("198.51.100.2", "password-a") == 200);
    CHECK(via_proxy("203.0.113.5, 198.51.100.1", "password-a") == 429);
    // Not from the proxy: the header is ignored.
    auto direct = request(http::verb::post, "/api/v1/auth/login",
                          R"({"email":"a@example.com","password":"password-a"})");
    direct.set("X-Forwarded-For", "198.51.100.1");
    CHECK(host.api->handle_sync(std::move(direct), context_of("192.0.2.9")).result_int() == 200);
}

TEST_CASE("logins wait in a bounded queue of their own, past it 503 with Retry-After", "[abuse]") {
    beast::ApiOptions options;
    options.blocking_threads = 1;
    options.login_threads = 1;
    options.login_queue = 1;
    LoginHost host(options, /*fast_hash=*/false);  // real Argon2id: tens of ms each
    auto send = [&](beast::Api::Request req, std::string client) {
        auto p = std::make_shared<std::promise<beast::Api::Response>>();
        auto f = p->get_future();
        host.api->handle(std::move(req), context_of(std::move(client)),
                         [p](beast::Api::Response res) { p->set_value(std::move(res)); });
        return f;
    };
    std::vector<std::future<beast::Api::Response>> logins;
    for (int i = 0; i < 5; ++i)
        logins.push_back(send(request(http::verb::post, "/api/v1/auth/login",
                                      R"({"email":"a@example.com","password":"wrong"})"),
                              "192.0.2." + std::to_string(i + 1)));
    // A read (a session check on the one read thread) is answered while the logins hash.
    auto read = send(request(http::verb::get, "/api/v1/chatbots"), "192.0.2.50");
    REQUIRE(read.wait_for(seconds(10)) == std::future_status::ready);
    CHECK(read.get().result_int() == 401);
    CHECK(logins[1].wait_for(seconds(0)) == std::future_status::timeout);  // still queued

    int unauthorized = 0, busy = 0;
    for (auto& f : logins) {
        auto res = f.get();
        if (res.result_int() == 401) ++unauthorized;
        if (res.result_int() == 503) {
            ++busy;
            CHECK(res[http::field::retry_after] == "1");
        }
    }
    // One running and one queued; the three others were refused at once.
    CHECK(unauthorized == 2);
    CHECK(busy == 3);
}

TEST_CASE("a capture whose JSON would expand past max_parsed_json_bytes is 400", "[abuse]") {
    beast::ApiOptions options;
    options.max_parsed_json_bytes = 1024 * 1024;
    LoginHost host(options);
    auto token = host.accounts->login("a@example.com", "password-a").token;
    auto create = request(http::verb::post, "/api/v1/chatbots", R"({"name":"bot"})");
    create.set(http::field::authorization, "Bearer " + token);
    auto created = host.api->handle_sync(std::move(create));
    REQUIRE(created.result_int() == 200);
    const std::string key(boost::json::parse(created.body()).at("apiKey").as_string());

    auto capture = [&](std::string body) {
        auto req = request(http::verb::post, "/api/v1/capture", std::move(body));
        req.set(http::field::authorization, "Bearer " + key);
        return host.api->handle_sync(std::move(req));
    };
    std::string zeros = "0";
    while (zeros.size() < 200'000) zeros += ",0";
    auto refused = capture(R"({"conversationId":"c","messages":[{"role":"user","content":"x"}],)"
                           R"("user":{"a":[)" +
                           zeros + "]}}");
    CHECK(refused.result_int() == 400);
    CHECK(refused.body().find("too large once parsed") != std::string::npos);
    std::string messages;
    for (int i = 0; i < 30; ++i)
        messages += std::string(i ? "," : "") + R"({"role":"user","content":")" +
                    std::string(30'000, 'x') + R"("})";
    auto ok =
        capture(R"({"conversationId":"c","messages":[)" + messages + R"(],"user":{"a":[0,0,0]}})");
    CHECK(ok.result_int() == 200);
}
