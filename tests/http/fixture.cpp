#include "fixture.hpp"

#include <regex>

#include <sodium.h>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/secrets.hpp"

namespace chatbotmgr::test {

void FlakyStore::check() const {
    if (failing) throw Error(ErrorCode::unavailable, "database is locked");
}

TestServer::TestServer(TestServerOptions options) {
    if (options.prepare) options.prepare(*store);
    RegistryOptions registry_options = options.registry;
    registry_options.clock = clock;
    registry = std::make_shared<ChatbotRegistry>(store, registry_options);

    AccountsOptions account_options;
    account_options.clock = clock;
    // The cheapest Argon2id settings: the tests are about HTTP, not about hashing cost.
    account_options.pwhash_opslimit = crypto_pwhash_OPSLIMIT_MIN;
    account_options.pwhash_memlimit = crypto_pwhash_MEMLIMIT_MIN;
    accounts = std::make_shared<Accounts>(store, account_options);

    beast::ServerOptions server_options = std::move(options.server);
    server_options.address = "127.0.0.1";
    server_options.port = 0;
    if (server_options.io_threads == 0) server_options.io_threads = 2;
    server_options.access_log = true;
    server_options.access_log_sink = [this](std::string_view line) {
        std::lock_guard lock(log_mutex_);
        log_.emplace_back(line);
    };
    server_ = std::make_unique<beast::Server>(server_options);
    port_ = server_->port();

    beast::ApiOptions api_options = std::move(options.api);
    if (!api_options.clock) api_options.clock = clock;
    if (options.with_audit_log && !api_options.audit_log) {
        AuditLogOptions audit_options;
        audit_options.clock = clock;
        audit_log = std::make_shared<AuditLog>(store, audit_options);
        api_options.audit_log = audit_log;
    }
    api = std::make_shared<beast::Api>(registry,
                                       std::make_shared<beast::AccountsSessionCheck>(accounts),
                                       api_options, options.with_accounts ? accounts : nullptr);
    server_->start(api);
    origin = api->options().public_origin;
    thread_ = std::thread([this] { server_->run(); });
}

TestServer::~TestServer() {
    stop();
}

void TestServer::stop() {
    if (stopped_) return;
    stopped_ = true;
    server_->stop();
    thread_.join();
    api->stop();
}

TestUser TestServer::add_user(const std::string& email, const std::string& org,
                              const std::string& password) {
    auto [user, organization] = accounts->add_user(email, org, password);
    return TestUser{email, password, user.id, organization.id};
}

std::string TestServer::login(const TestUser& user) {
    HttpClient client(port_);
    boost::json::object body{{"email", user.email}, {"password", user.password}};
    auto res = client.request("POST", "/api/v1/auth/login", boost::json::serialize(body));
    REQUIRE(res.status == 200);
    return std::string(res.json().at("token").as_string());
}

std::pair<TestUser, std::string> TestServer::user_with_session(const std::string& email,
                                                               const std::string& org) {
    TestUser user = add_user(email, org);
    return {user, login(user)};
}

std::vector<std::string> TestServer::access_log() const {
    std::lock_guard lock(log_mutex_);
    return log_;
}

Headers bearer(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
}

Headers with(Headers a, const Headers& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

Bot create_bot(HttpClient& client, const std::string& token, const std::string& name) {
    boost::json::object body{{"name", name}};
    auto res =
        client.request("POST", "/api/v1/chatbots", boost::json::serialize(body), bearer(token));
    REQUIRE(res.status == 200);
    auto v = res.json();
    return Bot{std::string(v.at("chatbot").at("id").as_string()),
               std::string(v.at("apiKey").as_string())};
}

void check_json_headers(const HttpResponse& res) {
    INFO("status " << res.status << " body " << res.body);
    CHECK(res.header("Content-Type") == "application/json");
    CHECK(res.header("Cache-Control") == "no-store");
    CHECK(res.header("X-Content-Type-Options") == "nosniff");
}

void check_error(const HttpResponse& res, int status, const std::string& code) {
    INFO("body: " << res.body);
    CHECK(res.status == status);
    check_json_headers(res);
    auto v = res.json();
    REQUIRE(v.is_object());
    CHECK(v.as_object().size() == 2);
    CHECK(v.at("ok") == false);
    const auto& error = v.at("error").as_object();
    CHECK(error.size() == 2);
    CHECK(error.at("code").as_string() == code);
    CHECK(error.at("message").is_string());
    CHECK(!error.at("message").as_string().empty());
}

void check_chatbot_shape(const boost::json::value& v) {
    INFO(boost::json::serialize(v));
    REQUIRE(v.is_object());
    const auto& o = v.as_object();
    CHECK(o.size() == 5);
    REQUIRE(o.contains("id"));
    CHECK(is_canonical_uuid(o.at("id").as_string()));
    CHECK(o.at("name").is_string());
    static const std::regex prefix("ob_live_[0-9a-f]{6}\\.\\.\\.");
    CHECK(std::regex_match(std::string(o.at("api_key_prefix").as_string()), prefix));
    CHECK(o.at("settings").is_object());
    static const std::regex time("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ");
    CHECK(std::regex_match(std::string(o.at("created_at").as_string()), time));
}

}  // namespace chatbotmgr::test
