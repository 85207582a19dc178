// Conformance cases of the accounts port (AccountStore).
#include <optional>
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

void list_organizations_by_name(AccountConformanceTarget& target) {
    auto store = target.open();
    CHECK(store->list_organizations().empty());
    // Byte order of the name ("\303\211cole" is UTF-8 "École", after ASCII), whatever the
    // ids and the order of creation.
    const Organization lower = store->find_or_create_organization("acme", "org-1");
    const Organization upper = store->find_or_create_organization("Zeta", "org-2");
    const Organization accented = store->find_or_create_organization("\303\211cole", "org-3");
    const Organization first = store->find_or_create_organization("Acme", "org-4");
    CHECK(store->list_organizations() == std::vector<Organization>{first, upper, lower, accented});
}

void users(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    CHECK(store->count_users() == 0);
    const User ada = member("user-1", "org-1", "Ada@Example.com", Role::owner, kBaseTime);
    add_user(*store, ada, "$argon2id$hash-1");
    CHECK(store->count_users() == 1);

    const auto found = store->find_user_by_email("ada@example.com");
    REQUIRE(found);
    CHECK(found->first == ada);
    CHECK(found->second == "$argon2id$hash-1");
    CHECK_FALSE(store->find_user_by_email("bob@example.com"));

    // The same email in another case is the same user.
    const User again = member("user-2", "org-1", "ADA@example.COM", Role::member);
    CHECK(code_of([&] { add_user(*store, again, "$argon2id$hash-2"); }) == ErrorCode::conflict);
    CHECK(store->count_users() == 1);
    CHECK(store->find_user_by_email("ada@example.com")->second == "$argon2id$hash-1");
    // So is the same id with another email.
    const User same_id = member("user-1", "org-1", "other@example.com", Role::member);
    CHECK(code_of([&] { add_user(*store, same_id, "h"); }) == ErrorCode::conflict);
    CHECK(store->count_users() == 1);

    // Every role, and the creation time, are stored as given.
    std::int64_t created = kBaseTime + 10;
    for (const Role role : {Role::viewer, Role::member, Role::admin, Role::owner}) {
        const std::string id = cat("user-", to_string(role));
        const User u = member(id, "org-1", cat(id, "@example.com"), role, created++);
        add_user(*store, u, "h");
        INFO(to_string(role));
        const auto stored = store->find_user_by_email(lower_email(u.email));
        REQUIRE(stored);
        CHECK(stored->first == u);
        CHECK(store->find_user("org-1", id) == u);
    }
    CHECK(store->count_users() == 5);
}

void list_users_order(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    store->find_or_create_organization("Other", "org-2");
    CHECK(store->list_users("org-1").empty());
    const User late_b = member("user-b", "org-1", "b@example.com", Role::viewer, kBaseTime + 60);
    const User late_a = member("user-a", "org-1", "a@example.com", Role::admin, kBaseTime + 60);
    const User early = member("user-z", "org-1", "z@example.com", Role::owner, kBaseTime);
    const User latest = member("user-0", "org-1", "0@example.com", Role::member, kBaseTime + 61);
    const User foreign = member("user-c", "org-2", "c@example.com", Role::owner, kBaseTime + 30);
    for (const User& u : {late_b, foreign, latest, late_a, early}) add_user(*store, u, "h");
    // Oldest first; within one second by id.
    CHECK(store->list_users("org-1") == std::vector<User>{early, late_a, late_b, latest});
    CHECK(store->list_users("org-2") == std::vector<User>{foreign});
    CHECK(store->list_users("unknown").empty());
}

void list_users_page_walks_the_list(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    store->find_or_create_organization("Other", "org-2");
    for (int i = 0; i < 7; ++i)
        add_user(*store,
                 member(cat("user-", i), "org-1", cat("u", i, "@example.com"), Role::member,
                        kBaseTime + 60 * (i % 3)),
                 "h");
    add_user(*store, member("user-x", "org-2", "x@example.com", Role::owner), "h");
    const std::vector<User> all = store->list_users("org-1");
    REQUIRE(all.size() == 7);
    for (std::size_t size : {1u, 3u, 7u, 8u}) {
        INFO("page size " << size);
        std::vector<User> walked;
        std::optional<PagePosition> after;
        for (int pages = 0; pages < 20; ++pages) {
            const auto page = store->list_users_page("org-1", after, size);
            walked.insert(walked.end(), page.begin(), page.end());
            if (page.size() < size) break;
            after = PagePosition{page.back().created_at, page.back().id};
        }
        CHECK(walked == all);
    }
    CHECK(store->list_users_page("org-2", std::nullopt, 5) == store->list_users("org-2"));
}

void find_user_is_scoped(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    store->find_or_create_organization("Other", "org-2");
    const User ada = member("user-1", "org-1", "Ada@example.com", Role::admin);
    add_user(*store, ada, "h");
    CHECK(store->find_user("org-1", "user-1") == ada);
    CHECK_FALSE(store->find_user("org-2", "user-1"));  // another organization's user
    CHECK_FALSE(store->find_user("org-1", "user-2"));
    CHECK_FALSE(store->find_user("org-1", ""));
}

void sessions(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    add_user(*store, member("user-1", "org-1", "Ada@example.com", Role::member), "hash");
    const SessionRecord s1 = session("one", "user-1", kBaseTime + 3600);
    store->insert_session(s1, journal_entry());
    const auto found = store->find_session(s1.token_digest);
    REQUIRE(found);
    CHECK(same_session(*found, s1));
    CHECK(found->role == Role::member);  // its user's
    CHECK(found->email == "Ada@example.com");
    CHECK_FALSE(store->find_session(sha256("unknown")));
    CHECK(code_of([&] { store->insert_session(s1, journal_entry()); }) == ErrorCode::conflict);

    CHECK(store->delete_session(s1.token_digest, journal_entry()));
    CHECK_FALSE(store->find_session(s1.token_digest));
    CHECK_FALSE(store->delete_session(s1.token_digest, journal_entry()));
}

// As ChatbotStore::key_generation, for the session cache of Accounts.
void session_generation_moves_on_delete(AccountConformanceTarget& target) {
    auto store = target.open();
    if (!store->session_generation()) {
        WARN("the store reports no session_generation: Accounts never caches its sessions");
        return;
    }
    store->find_or_create_organization("Acme", "org-1");
    add_user(*store, member("user-1", "org-1", "ada@example.com", Role::owner), "hash");
    const SessionRecord s = session("logout", "user-1", kBaseTime + 3600);
    store->insert_session(s, journal_entry());
    const auto before = *store->session_generation();
    REQUIRE(store->delete_session(s.token_digest, journal_entry()));
    CHECK(*store->session_generation() > before);
}

void expired_sessions(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    add_user(*store, member("user-1", "org-1", "ada@example.com", Role::owner), "hash");
    const SessionRecord old1 = session("old1", "user-1", kBaseTime - 7200);
    const SessionRecord old2 = session("old2", "user-1", kBaseTime - 1);
    const SessionRecord live = session("live", "user-1", kBaseTime + 3600);
    store->insert_session(old1, journal_entry());
    store->insert_session(old2, journal_entry());
    store->insert_session(live, journal_entry());
    CHECK(store->delete_expired_sessions(at(kBaseTime)) == 2);
    CHECK_FALSE(store->find_session(old1.token_digest));
    CHECK_FALSE(store->find_session(old2.token_digest));
    CHECK(store->find_session(live.token_digest));
    CHECK(store->delete_expired_sessions(at(kBaseTime)) == 0);
}

void reopen(AccountConformanceTarget& target) {
    const SessionRecord s = session("durable", "user-1", kBaseTime + 3600);
    const User ada = member("user-1", "org-1", "Ada@example.com", Role::owner, kBaseTime);
    const User bob = member("user-2", "org-1", "bob@example.com", Role::member, kBaseTime + 5);
    const Invitation pending = invitation("inv-1", "org-1", "Carol@example.com", Role::admin);
    const Invitation used = invitation("inv-2", "org-1", "dan@example.com", Role::viewer);
    const Invitation revoked = invitation("inv-3", "org-1", "eve@example.com", Role::member);
    const auto now = at(kBaseTime + 60);
    std::optional<User> dan;
    {
        auto store = target.open();
        store->find_or_create_organization("Acme", "org-1");
        add_user(*store, ada, "hash");
        add_user(*store, User{"user-2", "org-1", "bob@example.com", Role::viewer, bob.created_at},
                 "hash-2");
        REQUIRE(store->set_role("org-1", "user-2", Role::member, journal_entry()) ==
                MemberChange::done);
        store->insert_session(s, journal_entry());
        for (const Invitation& inv : {pending, used, revoked}) add_invitation(*store, inv);
        const auto accepted = store->accept_invitation(invitation_digest("inv-2"), now, "user-3",
                                                       "hash-3", journal_entry());
        REQUIRE(accepted.first == InvitationAcceptance::accepted);
        dan = accepted.second;
        REQUIRE(store->revoke_invitation("org-1", "inv-3", now, journal_entry()));
    }
    auto store = target.open();
    CHECK(store->find_organization("org-1") == Organization{"org-1", "Acme"});
    CHECK(store->find_or_create_organization("Acme", "org-9").id == "org-1");
    const auto user = store->find_user_by_email("ada@example.com");
    REQUIRE(user);
    CHECK(user->first == ada);
    CHECK(store->count_users() == 3);
    REQUIRE(dan);
    CHECK(store->list_users("org-1") == std::vector<User>{ada, bob, *dan});
    const auto found = store->find_session(s.token_digest);
    REQUIRE(found);
    CHECK(same_session(*found, s));
    CHECK(found->role == Role::owner);
    CHECK(found->email == "Ada@example.com");
    // The pending invitation is still pending; the used and the revoked one stay dead.
    CHECK(store->list_invitations("org-1", now) == std::vector<Invitation>{pending});
    CHECK(store->accept_invitation(invitation_digest("inv-2"), now, "user-4", "h", journal_entry())
              .first == InvitationAcceptance::invalid);
    CHECK(store->accept_invitation(invitation_digest("inv-3"), now, "user-4", "h", journal_entry())
              .first == InvitationAcceptance::invalid);
    const auto carol =
        store->accept_invitation(invitation_digest("inv-1"), now, "user-4", "h", journal_entry());
    CHECK(carol.first == InvitationAcceptance::accepted);
    CHECK(store->find_user("org-1", "user-4") ==
          User{"user-4", "org-1", "Carol@example.com", Role::admin, now});
}

}  // namespace chatbotmgr::testing::detail::account_cases
