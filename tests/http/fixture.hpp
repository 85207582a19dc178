// A real Server on a loopback port over an in-memory store, plus helpers, for the HTTP
// tests.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/audit.hpp"
#include "chatbotmgr/beast/api.hpp"
#include "chatbotmgr/beast/server.hpp"
#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/testing/fakes.hpp"
#include "http_client.hpp"

namespace chatbotmgr::test {

// MemoryStore behind a switch that makes every call fail with Error(unavailable), and a
// hook that runs inside list() (to hold a request in flight).
class FlakyStore final : public ChatbotStore,
                         public StoreInspection,
                         public AccountStore,
                         public JournalStore {
  public:
    std::atomic<bool> failing{false};
    std::function<void()> on_list;  // set before the server runs

    using ChatbotStore::insert;
    bool insert(const Chatbot& c, const NewKey& k, std::size_t max_in_org,
                JournalEntry entry) override {
        check();
        return inner_.insert(c, k, max_in_org, std::move(entry));
    }
    std::vector<Chatbot> list(std::string_view org) override {
        check();
        if (on_list) on_list();
        return inner_.list(org);
    }
    std::optional<Chatbot> get(std::string_view org, std::string_view id) override {
        check();
        return inner_.get(org, id);
    }
    std::optional<Chatbot> update(std::string_view org, std::string_view id,
                                  const std::function<void(Chatbot&)>& mutate,
                                  JournalEntry entry) override {
        check();
        return inner_.update(org, id, mutate, std::move(entry));
    }
    bool remove(std::string_view org, std::string_view id, JournalEntry entry) override {
        check();
        return inner_.remove(org, id, std::move(entry));
    }
    std::optional<Chatbot> replace_key(std::string_view org, std::string_view id, const NewKey& k,
                                       std::optional<std::chrono::sys_seconds> until,
                                       JournalEntry entry) override {
        check();
        return inner_.replace_key(org, id, k, until, std::move(entry));
    }
    std::optional<bool> drop_previous_key(std::string_view org, std::string_view id,
                                          std::chrono::sys_seconds now,
                                          JournalEntry entry) override {
        check();
        return inner_.drop_previous_key(org, id, now, std::move(entry));
    }
    std::optional<ChatbotKeys> keys(std::string_view org, std::string_view id) override {
        check();
        return inner_.keys(org, id);
    }
    std::optional<KeyOwner> find_by_key_digest(const Digest& d) override {
        check();
        return inner_.find_by_key_digest(d);
    }
    void record_key_usage(std::span<const KeyUsage> usage) override {
        check();
        inner_.record_key_usage(usage);
    }
    std::optional<CaptureResult> append_capture(std::string_view chatbot_id,
                                                const CaptureBatch& batch) override {
        check();
        return inner_.append_capture(chatbot_id, batch);
    }
    bool record_analysis(std::string_view a, std::string_view b, std::string_view c,
                         std::string_view d) override {
        check();
        return inner_.record_analysis(a, b, c, d);
    }
    ChatbotDataCounts count_data(std::string_view chatbot_id) override {
        return inner_.count_data(chatbot_id);
    }
    std::optional<IdempotencyRecord> find_idempotency_record(
        const Digest& scope, std::chrono::sys_seconds now) override {
        check();
        return inner_.find_idempotency_record(scope, now);
    }
    void ping() override { check(); }
    std::vector<AuditEvent> list_audit_events(std::string_view org, const AuditQuery& query,
                                              const std::optional<PagePosition>& after,
                                              std::size_t limit) override {
        check();
        return inner_.list_audit_events(org, query, after, limit);
    }
    std::size_t prune_audit_events(std::chrono::sys_seconds cutoff, std::size_t max) override {
        check();
        return inner_.prune_audit_events(cutoff, max);
    }
    std::size_t prune_idempotency_records(std::chrono::sys_seconds now, std::size_t max) override {
        check();
        return inner_.prune_idempotency_records(now, max);
    }

    Organization find_or_create_organization(std::string_view name,
                                             std::string_view new_id) override {
        check();
        return inner_.find_or_create_organization(name, new_id);
    }
    std::optional<Organization> find_organization(std::string_view id) override {
        check();
        return inner_.find_organization(id);
    }
    std::vector<Organization> list_organizations() override {
        check();
        return inner_.list_organizations();
    }
    void insert_user(const User& user, std::string_view email_lower, std::string_view hash,
                     JournalEntry entry) override {
        check();
        inner_.insert_user(user, email_lower, hash, std::move(entry));
    }
    std::optional<std::pair<User, std::string>> find_user_by_email(std::string_view e) override {
        check();
        return inner_.find_user_by_email(e);
    }
    std::size_t count_users() override {
        check();
        return inner_.count_users();
    }
    void insert_session(const SessionRecord& s, JournalEntry entry) override {
        check();
        inner_.insert_session(s, std::move(entry));
    }
    std::optional<SessionRecord> find_session(const Digest& d) override {
        check();
        return inner_.find_session(d);
    }
    bool delete_session(const Digest& d, JournalEntry entry) override {
        check();
        return inner_.delete_session(d, std::move(entry));
    }
    std::size_t delete_expired_sessions(std::chrono::sys_seconds now) override {
        check();
        return inner_.delete_expired_sessions(now);
    }
    std::vector<User> list_users(std::string_view org) override {
        check();
        return inner_.list_users(org);
    }
    std::optional<User> find_user(std::string_view org, std::string_view id) override {
        check();
        return inner_.find_user(org, id);
    }
    MemberChange set_role(std::string_view org, std::string_view id, Role role,
                          JournalEntry entry) override {
        check();
        return inner_.set_role(org, id, role, std::move(entry));
    }
    MemberChange remove_user(std::string_view org, std::string_view id,
                             JournalEntry entry) override {
        check();
        return inner_.remove_user(org, id, std::move(entry));
    }
    void insert_invitation(const Invitation& inv, std::string_view email_lower, const Digest& d,
                           JournalEntry entry) override {
        check();
        inner_.insert_invitation(inv, email_lower, d, std::move(entry));
    }
    std::vector<Invitation> list_invitations(std::string_view org,
                                             std::chrono::sys_seconds now) override {
        check();
        return inner_.list_invitations(org, now);
    }
    bool revoke_invitation(std::string_view org, std::string_view id, std::chrono::sys_seconds now,
                           JournalEntry entry) override {
        check();
        return inner_.revoke_invitation(org, id, now, std::move(entry));
    }
    std::pair<InvitationAcceptance, std::optional<User>> accept_invitation(
        const Digest& d, std::chrono::sys_seconds now, std::string_view new_user_id,
        std::string_view hash, JournalEntry entry) override {
        check();
        return inner_.accept_invitation(d, now, new_user_id, hash, std::move(entry));
    }
    std::optional<std::uint64_t> key_generation() const noexcept override {
        return inner_.key_generation();
    }
    std::optional<std::uint64_t> chatbot_generation(std::string_view org) const noexcept override {
        return inner_.chatbot_generation(org);
    }
    std::optional<std::uint64_t> session_generation() const noexcept override {
        return inner_.session_generation();
    }

  private:
    void check() const;
    MemoryStore inner_;
};

struct TestServerOptions {
    // clock: the fixture's FakeClock unless set; public_origin: the Server's bound origin
    // unless set.
    beast::ApiOptions api;
    beast::ServerOptions server;  // address/port/access log are set by the fixture
    bool with_accounts = true;
    bool with_audit_log = true;  // GET /api/v1/audit-events over the fixture's store
    RegistryOptions registry;    // its clock is the fixture's
    // Runs before the server starts (e.g. to install FlakyStore::on_list).
    std::function<void(FlakyStore&)> prepare;
};

struct TestUser {
    std::string email;
    std::string password;
    std::string user_id;
    std::string org_id;
};

struct Bot {
    std::string id;
    std::string key;
};

class TestServer {
  public:
    explicit TestServer(TestServerOptions options = {});
    ~TestServer();
    TestServer(const TestServer&) = delete;
    TestServer& operator=(const TestServer&) = delete;

    std::uint16_t port() const { return port_; }
    // Graceful stop; returns once Server::run() has returned.
    void stop();

    TestUser add_user(const std::string& email, const std::string& org,
                      const std::string& password = "correct horse battery staple");
    // Logs in over HTTP and returns the session token.
    std::string login(const TestUser& user);
    // A user of a fresh organization, logged in.
    std::pair<TestUser, std::string> user_with_session(const std::string& email,
                                                       const std::string& org);

    std::vector<std::string> access_log() const;

    std::shared_ptr<testing::FakeClock> clock = std::make_shared<testing::FakeClock>();
    std::shared_ptr<FlakyStore> store = std::make_shared<FlakyStore>();
    std::shared_ptr<ChatbotRegistry> registry;
    std::shared_ptr<Accounts> accounts;
    std::shared_ptr<AuditLog> audit_log;  // null when with_audit_log is false
    std::shared_ptr<beast::Api> api;
    std::string origin;

  private:
    std::unique_ptr<beast::Server> server_;
    std::thread thread_;
    std::uint16_t port_ = 0;
    bool stopped_ = false;
    mutable std::mutex log_mutex_;
    std::vector<std::string> log_;
};

Headers bearer(const std::string& token);
Headers with(Headers a, const Headers& b);
// Creates a chatbot over HTTP (Bearer) and returns its id and key.
Bot create_bot(HttpClient& client, const std::string& token, const std::string& name = "Bot");

// Content-Type, Cache-Control and X-Content-Type-Options as every JSON answer has them.
void check_json_headers(const HttpResponse& res);
// Status, headers and the exact error shape {"ok":false,"error":{"code","message"}}.
void check_error(const HttpResponse& res, int status, const std::string& code);
// The five fields of a chatbot and nothing else, in their formats.
void check_chatbot_shape(const boost::json::value& v);

// The capture body of API.md section 4.
inline const std::string kCaptureExample = R"({
  "conversationId": "conv_123",
  "messages": [
    {"role": "user", "content": "How do I cancel?", "id": "msg_001", "sentAt": "2024-01-15T10:00:00Z"},
    {"role": "assistant", "content": "Go to Settings...", "id": "msg_002"}
  ],
  "user": {"id": "user_456", "name": "Ada"},
  "custom": {"plan": "pro"}
})";

// A canonical v4 UUID that no test creates.
inline const std::string kUnknownId = "5b0a3f9e-2c1d-4e8f-9a7b-1c2d3e4f5a6b";

}  // namespace chatbotmgr::test
