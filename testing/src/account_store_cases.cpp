// Conformance cases of the accounts port (AccountStore).
#include <string>
#include <vector>

#include "builders.hpp"
#include "cases.hpp"
#include "chatbotmgr/secrets.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "concurrency.hpp"

namespace chatbotmgr::testing::detail::account_cases {
namespace {

bool same_session(const SessionRecord& a, const SessionRecord& b) {
    return a.token_digest == b.token_digest && a.user_id == b.user_id && a.org_id == b.org_id &&
           a.expires_at == b.expires_at;
}

}  // namespace

void organizations(AccountConformanceTarget& target) {
    auto store = target.open();
    const Organization acme = store->find_or_create_organization("Acme", "org-1");
    CHECK(acme == Organization{"org-1", "Acme"});
    // Existing name: the stored organization, whatever new id is offered.
    CHECK(store->find_or_create_organization("Acme", "org-2") == acme);
    CHECK(store->find_organization("org-1") == acme);
    CHECK_FALSE(store->find_organization("org-2"));
    // Names are exact: another case is another organization.
    CHECK(store->find_or_create_organization("acme", "org-3") == Organization{"org-3", "acme"});
    CHECK_FALSE(store->find_organization("unknown"));
}

void organization_id_conflict(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("First", "org-1");
    CHECK(code_of([&] { store->find_or_create_organization("Second", "org-1"); }) ==
          ErrorCode::conflict);
    CHECK(store->find_organization("org-1") == Organization{"org-1", "First"});
}

void concurrent_find_or_create(AccountConformanceTarget& target) {
    auto store = target.open();
    constexpr std::size_t kThreads = 8;
    std::vector<Organization> seen(kThreads);
    const auto problems = run_threads(kThreads, [&](std::size_t i) {
        seen[i] = store->find_or_create_organization("Shared", cat("org-", i));
    });
    require_no_problems(problems);
    for (const auto& org : seen) CHECK(org == seen[0]);
    CHECK(store->find_organization(seen[0].id) == seen[0]);
}

// As Accounts stores a user: keyed by the email with ASCII letters lowercased.
void add_user(AccountStore& store, const User& user, std::string_view hash) {
    std::string lower = user.email;
    for (char& c : lower)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    store.insert_user(user, lower, hash);
}

void users(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    CHECK(store->count_users() == 0);
    const User ada{"user-1", "org-1", "Ada@Example.com"};
    add_user(*store, ada, "$argon2id$hash-1");
    CHECK(store->count_users() == 1);

    const auto found = store->find_user_by_email("ada@example.com");
    REQUIRE(found);
    CHECK(found->first == ada);
    CHECK(found->second == "$argon2id$hash-1");
    CHECK_FALSE(store->find_user_by_email("bob@example.com"));

    // The same email in another case is the same user.
    const User again{"user-2", "org-1", "ADA@example.COM"};
    CHECK(code_of([&] { add_user(*store, again, "$argon2id$hash-2"); }) == ErrorCode::conflict);
    CHECK(store->count_users() == 1);
    CHECK(store->find_user_by_email("ada@example.com")->second == "$argon2id$hash-1");

    add_user(*store, User{"user-3", "org-1", "bob@example.com"}, "$argon2id$hash-3");
    CHECK(store->count_users() == 2);
}
void sessions(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    add_user(*store, User{"user-1", "org-1", "ada@example.com"}, "hash");
    const SessionRecord s1 = session("one", "user-1", kBaseTime + 3600);
    store->insert_session(s1);
    const auto found = store->find_session(s1.token_digest);
    REQUIRE(found);
    CHECK(same_session(*found, s1));
    CHECK_FALSE(store->find_session(sha256("unknown")));
    CHECK(code_of([&] { store->insert_session(s1); }) == ErrorCode::conflict);

    CHECK(store->delete_session(s1.token_digest));
    CHECK_FALSE(store->find_session(s1.token_digest));
    CHECK_FALSE(store->delete_session(s1.token_digest));
}

// As ChatbotStore::key_generation, for the session cache of Accounts.
void session_generation_moves_on_delete(AccountConformanceTarget& target) {
    auto store = target.open();
    if (!store->session_generation()) {
        WARN("the store reports no session_generation: Accounts never caches its sessions");
        return;
    }
    store->find_or_create_organization("Acme", "org-1");
    add_user(*store, User{"user-1", "org-1", "ada@example.com"}, "hash");
    const SessionRecord s = session("logout", "user-1", kBaseTime + 3600);
    store->insert_session(s);
    const auto before = *store->session_generation();
    REQUIRE(store->delete_session(s.token_digest));
    CHECK(*store->session_generation() > before);
}

void expired_sessions(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    add_user(*store, User{"user-1", "org-1", "ada@example.com"}, "hash");
    const SessionRecord old1 = session("old1", "user-1", kBaseTime - 7200);
    const SessionRecord old2 = session("old2", "user-1", kBaseTime - 1);
    const SessionRecord live = session("live", "user-1", kBaseTime + 3600);
    store->insert_session(old1);
    store->insert_session(old2);
    store->insert_session(live);
    CHECK(store->delete_expired_sessions(at(kBaseTime)) == 2);
    CHECK_FALSE(store->find_session(old1.token_digest));
    CHECK_FALSE(store->find_session(old2.token_digest));
    CHECK(store->find_session(live.token_digest));
    CHECK(store->delete_expired_sessions(at(kBaseTime)) == 0);
}

void reopen(AccountConformanceTarget& target) {
    const SessionRecord s = session("durable", "user-1", kBaseTime + 3600);
    {
        auto store = target.open();
        store->find_or_create_organization("Acme", "org-1");
        add_user(*store, User{"user-1", "org-1", "Ada@example.com"}, "hash");
        store->insert_session(s);
    }
    auto store = target.open();
    CHECK(store->find_organization("org-1") == Organization{"org-1", "Acme"});
    CHECK(store->find_or_create_organization("Acme", "org-9").id == "org-1");
    const auto user = store->find_user_by_email("ada@example.com");
    REQUIRE(user);
    CHECK(user->first == User{"user-1", "org-1", "Ada@example.com"});
    CHECK(store->count_users() == 1);
    const auto found = store->find_session(s.token_digest);
    REQUIRE(found);
    CHECK(same_session(*found, s));
}

}  // namespace chatbotmgr::testing::detail::account_cases
