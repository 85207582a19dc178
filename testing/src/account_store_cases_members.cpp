// Conformance cases of the accounts port: roles and members (set_role, remove_user), the
// last-owner rule, and that rule under concurrent calls.
#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "builders.hpp"
#include "cases.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "concurrency.hpp"

namespace chatbotmgr::testing::detail::account_cases {
namespace {

std::size_t owners_of(AccountStore& store, const std::string& org) {
    const std::vector<User> users = store.list_users(org);
    return static_cast<std::size_t>(std::count_if(
        users.begin(), users.end(), [](const User& u) { return u.role == Role::owner; }));
}

std::size_t count(const std::vector<MemberChange>& changes, MemberChange which) {
    return static_cast<std::size_t>(std::count(changes.begin(), changes.end(), which));
}

// Organization "org-<round>" with owners "owner-<round>-<i>" for i in [0, owners).
std::vector<std::string> organization_of_owners(AccountStore& store, std::size_t round,
                                                std::size_t owners) {
    const std::string org = cat("org-", round);
    store.find_or_create_organization(cat("Round ", round), org);
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < owners; ++i) {
        ids.push_back(cat("owner-", round, "-", i));
        add_user(store, member(ids.back(), org, cat(ids.back(), "@example.com"), Role::owner), "h");
    }
    return ids;
}

}  // namespace

void set_role_rules(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    store->find_or_create_organization("Other", "org-2");
    const User ada = member("user-1", "org-1", "ada@example.com", Role::owner, kBaseTime);
    const User bob = member("user-2", "org-1", "bob@example.com", Role::member, kBaseTime + 1);
    const User cid = member("user-3", "org-2", "cid@example.com", Role::owner, kBaseTime + 2);
    for (const User& u : {ada, bob, cid}) add_user(*store, u, "h");

    CHECK(store->set_role("org-1", "user-2", Role::admin, journal_entry()) == MemberChange::done);
    CHECK(store->find_user("org-1", "user-2")->role == Role::admin);
    CHECK(store->find_user_by_email("bob@example.com")->first.role == Role::admin);
    // Nothing else of the user changes.
    CHECK(store->find_user("org-1", "user-2") ==
          User{"user-2", "org-1", "bob@example.com", Role::admin, bob.created_at});
    CHECK(store->find_user_by_email("bob@example.com")->second == "h");

    // Unknown users, and users of another organization, are not found: nothing written.
    CHECK(store->set_role("org-1", "user-9", Role::viewer, journal_entry()) ==
          MemberChange::not_found);
    CHECK(store->set_role("org-2", "user-2", Role::viewer, journal_entry()) ==
          MemberChange::not_found);
    CHECK(store->set_role("org-9", "user-2", Role::viewer, journal_entry()) ==
          MemberChange::not_found);
    CHECK(store->find_user("org-1", "user-2")->role == Role::admin);

    // The only owner of org-1 (org-2's owner does not count) cannot be demoted...
    for (const Role lower : {Role::admin, Role::member, Role::viewer}) {
        INFO(to_string(lower));
        CHECK(store->set_role("org-1", "user-1", lower, journal_entry()) ==
              MemberChange::last_owner);
        CHECK(store->find_user("org-1", "user-1")->role == Role::owner);
    }
    // ...but may be "changed" to owner.
    CHECK(store->set_role("org-1", "user-1", Role::owner, journal_entry()) == MemberChange::done);

    // With a second owner, either may go, and then the other is the last one.
    CHECK(store->set_role("org-1", "user-2", Role::owner, journal_entry()) == MemberChange::done);
    CHECK(store->set_role("org-1", "user-1", Role::viewer, journal_entry()) == MemberChange::done);
    CHECK(store->set_role("org-1", "user-2", Role::member, journal_entry()) ==
          MemberChange::last_owner);
    CHECK(
        store->list_users("org-1") ==
        std::vector<User>{User{"user-1", "org-1", "ada@example.com", Role::viewer, ada.created_at},
                          User{"user-2", "org-1", "bob@example.com", Role::owner, bob.created_at}});
    // A non-owner can always be changed, also when there is one owner.
    CHECK(store->set_role("org-1", "user-1", Role::member, journal_entry()) == MemberChange::done);
    CHECK(store->find_user("org-2", "user-3") == cid);
}

void find_session_has_current_role(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    add_user(*store, member("user-1", "org-1", "ada@example.com", Role::owner), "h");
    add_user(*store, member("user-2", "org-1", "Bob@Example.com", Role::viewer), "h");
    const SessionRecord s = session("bob", "user-2", kBaseTime + 3600);
    store->insert_session(s, journal_entry());
    auto found = store->find_session(s.token_digest);
    REQUIRE(found);
    CHECK(found->role == Role::viewer);
    CHECK(found->email == "Bob@Example.com");

    // A role change applies to the next lookup of the same session.
    REQUIRE(store->set_role("org-1", "user-2", Role::admin, journal_entry()) == MemberChange::done);
    found = store->find_session(s.token_digest);
    REQUIRE(found);
    CHECK(found->role == Role::admin);
    CHECK(found->user_id == "user-2");
    CHECK(found->expires_at == s.expires_at);
    REQUIRE(store->set_role("org-1", "user-2", Role::owner, journal_entry()) == MemberChange::done);
    CHECK(store->find_session(s.token_digest)->role == Role::owner);
}

void remove_user_rules(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    store->find_or_create_organization("Other", "org-2");
    const User ada = member("user-1", "org-1", "ada@example.com", Role::owner, kBaseTime);
    const User bob = member("user-2", "org-1", "Bob@example.com", Role::admin, kBaseTime + 1);
    const User cid = member("user-3", "org-2", "cid@example.com", Role::owner, kBaseTime + 2);
    for (const User& u : {ada, bob, cid}) add_user(*store, u, "h");
    const SessionRecord ada_s = session("ada", "user-1", kBaseTime + 3600);
    const SessionRecord bob_1 = session("bob-1", "user-2", kBaseTime + 3600);
    const SessionRecord bob_2 = session("bob-2", "user-2", kBaseTime + 7200);
    for (const SessionRecord& s : {ada_s, bob_1, bob_2}) store->insert_session(s, journal_entry());

    // Another organization's user, or an unknown one, is not found: nothing written.
    CHECK(store->remove_user("org-2", "user-2", journal_entry()) == MemberChange::not_found);
    CHECK(store->remove_user("org-1", "user-9", journal_entry()) == MemberChange::not_found);
    CHECK(store->find_user("org-1", "user-2") == bob);
    CHECK(store->find_session(bob_1.token_digest));

    CHECK(store->remove_user("org-1", "user-2", journal_entry()) == MemberChange::done);
    CHECK_FALSE(store->find_user("org-1", "user-2"));
    CHECK_FALSE(store->find_user_by_email("bob@example.com"));
    CHECK_FALSE(store->find_session(bob_1.token_digest));  // every session of the user
    CHECK_FALSE(store->find_session(bob_2.token_digest));
    CHECK_FALSE(
        store->delete_session(bob_2.token_digest, journal_entry()));  // gone, not just hidden
    CHECK(store->find_session(ada_s.token_digest));                   // other users' stay
    CHECK(store->count_users() == 2);
    CHECK(store->list_users("org-1") == std::vector<User>{ada});
    CHECK(store->remove_user("org-1", "user-2", journal_entry()) == MemberChange::not_found);

    // The last owner stays, with their sessions.
    CHECK(store->remove_user("org-1", "user-1", journal_entry()) == MemberChange::last_owner);
    CHECK(store->find_user("org-1", "user-1") == ada);
    CHECK(store->find_session(ada_s.token_digest));

    // The email is free again.
    const User back = member("user-4", "org-1", "bob@example.com", Role::viewer, kBaseTime + 9);
    add_user(*store, back, "h2");
    CHECK(store->find_user_by_email("bob@example.com")->first == back);
    // A second owner makes the first removable.
    REQUIRE(store->set_role("org-1", "user-4", Role::owner, journal_entry()) == MemberChange::done);
    CHECK(store->remove_user("org-1", "user-1", journal_entry()) == MemberChange::done);
    CHECK_FALSE(store->find_session(ada_s.token_digest));
    CHECK(store->remove_user("org-1", "user-4", journal_entry()) == MemberChange::last_owner);
    CHECK(store->find_user("org-2", "user-3") == cid);
}

// As session_generation_moves_on_delete: Accounts caches sessions with their role, so a
// role change or a removal must make the cache stale before it returns.
void session_generation_moves_on_member_change(AccountConformanceTarget& target) {
    auto store = target.open();
    if (!store->session_generation()) {
        WARN("the store reports no session_generation: Accounts never caches its sessions");
        return;
    }
    store->find_or_create_organization("Acme", "org-1");
    add_user(*store, member("user-1", "org-1", "ada@example.com", Role::owner), "h");
    add_user(*store, member("user-2", "org-1", "bob@example.com", Role::member), "h");
    store->insert_session(session("bob", "user-2", kBaseTime + 3600), journal_entry());

    auto before = *store->session_generation();
    REQUIRE(store->set_role("org-1", "user-2", Role::viewer, journal_entry()) ==
            MemberChange::done);
    CHECK(*store->session_generation() > before);

    before = *store->session_generation();
    REQUIRE(store->remove_user("org-1", "user-2", journal_entry()) == MemberChange::done);
    CHECK(*store->session_generation() > before);
}

// The last-owner rule is the store's to keep atomically: two owners demoting each other at
// the same moment must not both succeed. Repeated, since one round may not overlap.
void concurrent_demotions_keep_one_owner(AccountConformanceTarget& target) {
    auto store = target.open();
    constexpr std::size_t kRounds = 50;
    for (std::size_t round = 0; round < kRounds; ++round) {
        const auto owners = organization_of_owners(*store, round, 2);
        std::vector<MemberChange> changes(2);
        const auto problems = run_threads(2, [&](std::size_t i) {
            // Owner i demotes the other one.
            changes[i] =
                store->set_role(cat("org-", round), owners[1 - i], Role::member, journal_entry());
        });
        INFO("round " << round);
        require_no_problems(problems);
        CHECK(count(changes, MemberChange::done) == 1);
        CHECK(count(changes, MemberChange::last_owner) == 1);
        CHECK(owners_of(*store, cat("org-", round)) == 1);
    }
    // Many owners, each demoting the next at once: all but one succeed.
    constexpr std::size_t kOwners = 6;
    for (std::size_t round = kRounds; round < kRounds + 10; ++round) {
        const auto owners = organization_of_owners(*store, round, kOwners);
        std::vector<MemberChange> changes(kOwners);
        const auto problems = run_threads(kOwners, [&](std::size_t i) {
            changes[i] = store->set_role(cat("org-", round), owners[(i + 1) % kOwners], Role::admin,
                                         journal_entry());
        });
        INFO("round " << round);
        require_no_problems(problems);
        CHECK(count(changes, MemberChange::done) == kOwners - 1);
        CHECK(count(changes, MemberChange::last_owner) == 1);
        CHECK(owners_of(*store, cat("org-", round)) == 1);
    }
}

// The same for removal, and for one owner removing the other while that one demotes the
// first.
void concurrent_removals_keep_one_owner(AccountConformanceTarget& target) {
    auto store = target.open();
    constexpr std::size_t kRounds = 50;
    for (std::size_t round = 0; round < kRounds; ++round) {
        const std::string org = cat("org-", round);
        const auto owners = organization_of_owners(*store, round, 2);
        const bool mixed = round % 2 == 1;  // owner 1 demotes instead of removing
        std::vector<MemberChange> changes(2);
        const auto problems = run_threads(2, [&](std::size_t i) {
            changes[i] = (mixed && i == 1)
                             ? store->set_role(org, owners[0], Role::viewer, journal_entry())
                             : store->remove_user(org, owners[1 - i], journal_entry());
        });
        INFO("round " << round << (mixed ? " (remove and demote)" : " (remove both)"));
        require_no_problems(problems);
        CHECK(count(changes, MemberChange::done) == 1);
        CHECK(count(changes, MemberChange::last_owner) == 1);
        CHECK(owners_of(*store, org) == 1);
        // One removal happened, unless the demotion won.
        const bool removed = !mixed || changes[0] == MemberChange::done;
        CHECK(store->list_users(org).size() == (removed ? 1u : 2u));
    }
}

}  // namespace chatbotmgr::testing::detail::account_cases
