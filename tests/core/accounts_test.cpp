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

TEST_CASE_METHOD(Fixture, "API keys and garbage are never sessions") {
    CHECK_FALSE(accounts.check_session("ob_live_0123456789abcdef0123456789abcdef"));
    CHECK_FALSE(accounts.check_session(""));
    CHECK_FALSE(accounts.check_session(std::string(72, 'a')));
}
