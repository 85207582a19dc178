#include <catch2/catch.hpp>

#include <sodium.h>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "chatbotmgr/testing/fakes.hpp"

using namespace chatbotmgr;

namespace {

struct Fixture {
    std::shared_ptr<testing::FakeClock> clock = std::make_shared<testing::FakeClock>();
    std::shared_ptr<MemoryStore> store = std::make_shared<MemoryStore>();
    Accounts accounts{store,
                      {.session_ttl = std::chrono::hours(12),
                       .pwhash_opslimit = crypto_pwhash_OPSLIMIT_MIN,
                       .pwhash_memlimit = crypto_pwhash_MEMLIMIT_MIN,
                       .clock = clock,
                       .random = {}}};
};

}  // namespace

TEST_CASE_METHOD(Fixture, "add_user creates the organization once and logs in") {
    CHECK_FALSE(accounts.has_users());
    const auto [ada, org] = accounts.add_user("Ada@Example.com", "Acme", "correct horse");
    const auto [bob, org2] = accounts.add_user("bob@example.com", "Acme", "battery staple");
    CHECK(org == org2);
    CHECK(accounts.has_users());

    const LoginResult login = accounts.login("ada@EXAMPLE.com", "correct horse");
    CHECK(login.user == ada);
    CHECK(login.organization == org);
    CHECK(is_session_token_format(login.token));
    const auto principal = accounts.check_session(login.token);
    REQUIRE(principal);
    CHECK(principal->org_id == org.id);
    CHECK(principal->user_id == ada.id);
}

TEST_CASE_METHOD(Fixture, "add_user validates its input and refuses duplicate emails") {
    accounts.add_user("a@example.com", "Acme", "password1");
    CHECK(testing::error_of([&] {
              accounts.add_user("A@EXAMPLE.COM", "Acme", "password1");
          })->code() == ErrorCode::conflict);
    CHECK(testing::error_of([&] {
              accounts.add_user("not-an-email", "Acme", "password1");
          })->field() == "email");
    CHECK(testing::error_of([&] {
              accounts.add_user("b@example.com", "Acme", "short");
          })->field() == "password");
    CHECK(testing::error_of([&] {
              accounts.add_user("b@example.com", " ", "password1");
          })->field() == "org");
}

TEST_CASE_METHOD(Fixture, "wrong password and unknown email fail identically") {
    accounts.add_user("a@example.com", "Acme", "password1");
    const Error wrong =
        testing::error_of([&] { accounts.login("a@example.com", "password2"); }).value();
    const Error unknown =
        testing::error_of([&] { accounts.login("nobody@example.com", "password1"); }).value();
    CHECK(wrong.code() == ErrorCode::unauthenticated);
    CHECK(unknown.code() == wrong.code());
    CHECK(std::string(unknown.what()) == wrong.what());
    CHECK(std::string(wrong.what()).find("password2") == std::string::npos);
}

TEST_CASE_METHOD(Fixture, "sessions expire after the TTL") {
    accounts.add_user("a@example.com", "Acme", "password1");
    const auto login = accounts.login("a@example.com", "password1");
    clock->advance(std::chrono::hours(12) - std::chrono::seconds(1));
    CHECK(accounts.check_session(login.token));
    clock->advance(std::chrono::seconds(1));
    CHECK_FALSE(accounts.check_session(login.token));
    CHECK_FALSE(accounts.logout(login.token));  // an expired session is not a live one
}

TEST_CASE_METHOD(Fixture, "logout revokes the session at once") {
    accounts.add_user("a@example.com", "Acme", "password1");
    const auto login = accounts.login("a@example.com", "password1");
    CHECK(accounts.check_session(login.token));  // cached now
    CHECK(accounts.logout(login.token));
    CHECK_FALSE(accounts.check_session(login.token));
    CHECK_FALSE(accounts.logout(login.token));
}

TEST_CASE_METHOD(Fixture,
                 "cached_session answers what check_session read, until logout, a role change "
                 "or expiry") {
    accounts.add_user("a@example.com", "Acme", "password1");
    const auto login = accounts.login("a@example.com", "password1");
    CHECK_FALSE(accounts.cached_session(login.token));  // never read yet
    const auto checked = accounts.check_session(login.token);
    REQUIRE(checked);
    CHECK(accounts.cached_session(login.token) == checked);
    CHECK_FALSE(accounts.cached_session("ob_live_0123456789abcdef0123456789abcdef"));

    // A role change moves the session generation: the cached role is not served.
    accounts.add_user("b@example.com", "Acme", "password2");
    accounts.set_role("b@example.com", Role::owner);
    CHECK_FALSE(accounts.cached_session(login.token));
    CHECK(accounts.check_session(login.token));

    clock->advance(std::chrono::hours(12));
    CHECK_FALSE(accounts.cached_session(login.token));  // expired, though still cached
    clock->advance(-std::chrono::hours(1));
    CHECK(accounts.cached_session(login.token));
    CHECK(accounts.logout(login.token));
    CHECK_FALSE(accounts.cached_session(login.token));
}

TEST_CASE_METHOD(Fixture, "API keys and garbage are never sessions") {
    CHECK_FALSE(accounts.check_session("ob_live_0123456789abcdef0123456789abcdef"));
    CHECK_FALSE(accounts.check_session(""));
    CHECK_FALSE(accounts.check_session(std::string(72, 'a')));
}

TEST_CASE_METHOD(Fixture, "a logout through one Accounts is seen by another over the same store") {
    Accounts other{store,
                   {.pwhash_opslimit = crypto_pwhash_OPSLIMIT_MIN,
                    .pwhash_memlimit = crypto_pwhash_MEMLIMIT_MIN,
                    .clock = clock,
                    .random = {}}};
    accounts.add_user("a@example.com", "Acme", "password1");
    const auto login = accounts.login("a@example.com", "password1");
    CHECK(other.check_session(login.token));  // cached by other now
    CHECK(accounts.logout(login.token));
    CHECK_FALSE(other.check_session(login.token));
}

namespace {

// Sessions are stored, but removing expired ones fails (a locked or full database).
class CleanupFailsStore final : public AccountStore {
  public:
    explicit CleanupFailsStore(std::shared_ptr<MemoryStore> inner) : inner_(std::move(inner)) {}
    Organization find_or_create_organization(std::string_view name,
                                             std::string_view new_id) override {
        return inner_->find_or_create_organization(name, new_id);
    }
    std::optional<Organization> find_organization(std::string_view id) override {
        return inner_->find_organization(id);
    }
    std::vector<Organization> list_organizations() override { return inner_->list_organizations(); }
    void insert_user(const User& user, std::string_view email_lower, std::string_view password_hash,
                     JournalEntry entry) override {
        inner_->insert_user(user, email_lower, password_hash, std::move(entry));
    }
    std::optional<std::pair<User, std::string>> find_user_by_email(
        std::string_view email_lower) override {
        return inner_->find_user_by_email(email_lower);
    }
    std::size_t count_users() override { return inner_->count_users(); }
    std::vector<User> list_users(std::string_view org_id) override {
        return inner_->list_users(org_id);
    }
    std::optional<User> find_user(std::string_view org_id, std::string_view user_id) override {
        return inner_->find_user(org_id, user_id);
    }
    MemberChange set_role(std::string_view org_id, std::string_view user_id, Role role,
                          JournalEntry entry) override {
        return inner_->set_role(org_id, user_id, role, std::move(entry));
    }
    MemberChange remove_user(std::string_view org_id, std::string_view user_id,
                             JournalEntry entry) override {
        return inner_->remove_user(org_id, user_id, std::move(entry));
    }
    void insert_invitation(const Invitation& invitation, std::string_view email_lower,
                           const Digest& token_digest, JournalEntry entry) override {
        inner_->insert_invitation(invitation, email_lower, token_digest, std::move(entry));
    }
    std::vector<Invitation> list_invitations(std::string_view org_id,
                                             std::chrono::sys_seconds now) override {
        return inner_->list_invitations(org_id, now);
    }
    bool revoke_invitation(std::string_view org_id, std::string_view id,
                           std::chrono::sys_seconds now, JournalEntry entry) override {
        return inner_->revoke_invitation(org_id, id, now, std::move(entry));
    }
    std::pair<InvitationAcceptance, std::optional<User>> accept_invitation(
        const Digest& token_digest, std::chrono::sys_seconds now, std::string_view new_user_id,
        std::string_view password_hash, JournalEntry entry) override {
        return inner_->accept_invitation(token_digest, now, new_user_id, password_hash,
                                         std::move(entry));
    }
    void insert_session(const SessionRecord& session, JournalEntry entry) override {
        inner_->insert_session(session, std::move(entry));
    }
    std::optional<SessionRecord> find_session(const Digest& digest) override {
        return inner_->find_session(digest);
    }
    bool delete_session(const Digest& digest, JournalEntry entry) override {
        return inner_->delete_session(digest, std::move(entry));
    }
    std::optional<IdempotencyRecord> find_idempotency_record(
        const Digest& scope, std::chrono::sys_seconds now) override {
        return inner_->find_idempotency_record(scope, now);
    }
    std::size_t delete_expired_sessions(std::chrono::sys_seconds) override {
        throw Error(ErrorCode::unavailable, "database is locked");
    }

  private:
    std::shared_ptr<MemoryStore> inner_;
};

}  // namespace

TEST_CASE("a correct login does not depend on removing expired sessions") {
    auto clock = std::make_shared<testing::FakeClock>();
    Accounts accounts{std::make_shared<CleanupFailsStore>(std::make_shared<MemoryStore>()),
                      {.pwhash_opslimit = crypto_pwhash_OPSLIMIT_MIN,
                       .pwhash_memlimit = crypto_pwhash_MEMLIMIT_MIN,
                       .clock = clock,
                       .random = {}}};
    accounts.add_user("a@example.com", "Acme", "password1");
    for (int i = 0; i < 3; ++i) {
        clock->advance(std::chrono::hours(1));  // well past any sweep interval
        CHECK_NOTHROW(accounts.login("a@example.com", "password1"));
    }
    // The janitor's own call reports the failure to the janitor.
    CHECK(testing::code_of([&] { accounts.delete_expired_sessions(); }) == ErrorCode::unavailable);
}
