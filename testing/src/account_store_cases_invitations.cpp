// Conformance cases of the accounts port: invitations (stored as token digests, pending
// until accepted, revoked or expired, accepted at most once).
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "builders.hpp"
#include "cases.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "concurrency.hpp"

namespace chatbotmgr::testing::detail::account_cases {
namespace {

using Acceptance = std::pair<InvitationAcceptance, std::optional<User>>;

constexpr std::int64_t kWeek = 7 * 24 * 3600;

// Organizations "org-1" (Acme) and "org-2" (Other).
void two_organizations(AccountStore& store) {
    store.find_or_create_organization("Acme", "org-1");
    store.find_or_create_organization("Other", "org-2");
}

Acceptance accept(AccountStore& store, const std::string& label, std::int64_t now,
                  const std::string& new_user_id, const std::string& hash = "$argon2id$new") {
    return store.accept_invitation(invitation_digest(label), at(now), new_user_id, hash,
                                   journal_entry());
}

}  // namespace

void invitations_listed_while_pending(AccountConformanceTarget& target) {
    auto store = target.open();
    two_organizations(*store);
    CHECK(store->list_invitations("org-1", at(kBaseTime)).empty());
    const Invitation late_b =
        invitation("inv-b", "org-1", "Bob@Example.com", Role::viewer, kBaseTime + 10);
    const Invitation late_a =
        invitation("inv-a", "org-1", "ann@example.com", Role::admin, kBaseTime + 10);
    const Invitation early = invitation("inv-z", "org-1", "zed@example.com", Role::owner);
    const Invitation foreign = invitation("inv-c", "org-2", "cid@example.com", Role::member);
    for (const Invitation& inv : {late_b, foreign, late_a, early}) add_invitation(*store, inv);

    // Oldest first, ties by id; email and role as given.
    const auto now = at(kBaseTime + 20);
    CHECK(store->list_invitations("org-1", now) == std::vector<Invitation>{early, late_a, late_b});
    CHECK(store->list_invitations("org-2", now) == std::vector<Invitation>{foreign});
    CHECK(store->list_invitations("org-9", now).empty());
    // Creating one makes no user.
    CHECK(store->count_users() == 0);
    CHECK_FALSE(store->find_user_by_email("bob@example.com"));
}

void invitation_conflicts(AccountConformanceTarget& target) {
    auto store = target.open();
    two_organizations(*store);
    const Invitation first = invitation("inv-1", "org-1", "a@example.com", Role::member);
    add_invitation(*store, first);
    // The same id, with another token.
    const Invitation same_id = invitation("inv-1", "org-2", "b@example.com", Role::viewer);
    CHECK(code_of([&] {
              store->insert_invitation(same_id, "b@example.com", invitation_digest("other"),
                                       journal_entry());
          }) == ErrorCode::conflict);
    // The same token digest, with another id.
    const Invitation same_token = invitation("inv-2", "org-1", "c@example.com", Role::viewer);
    CHECK(code_of([&] {
              store->insert_invitation(same_token, "c@example.com", invitation_digest("inv-1"),
                                       journal_entry());
          }) == ErrorCode::conflict);
    const auto now = at(kBaseTime);
    CHECK(store->list_invitations("org-1", now) == std::vector<Invitation>{first});
    CHECK(store->list_invitations("org-2", now).empty());
    // Two invitations for one email are fine (whoever accepts first gets the account).
    add_invitation(*store, invitation("inv-3", "org-1", "A@example.com", Role::admin));
    CHECK(store->list_invitations("org-1", now).size() == 2);
}

void revoke_invitation_rules(AccountConformanceTarget& target) {
    auto store = target.open();
    two_organizations(*store);
    const Invitation one = invitation("inv-1", "org-1", "a@example.com", Role::member);
    const Invitation two = invitation("inv-2", "org-1", "b@example.com", Role::member);
    add_invitation(*store, one);
    add_invitation(*store, two);
    const auto now = at(kBaseTime + 60);

    CHECK_FALSE(store->revoke_invitation("org-2", "inv-1", now,
                                         journal_entry()));  // another organization's
    CHECK_FALSE(store->revoke_invitation("org-1", "inv-9", now, journal_entry()));  // unknown
    CHECK(store->list_invitations("org-1", now) == std::vector<Invitation>{one, two});

    CHECK(store->revoke_invitation("org-1", "inv-1", now, journal_entry()));
    CHECK(store->list_invitations("org-1", now) == std::vector<Invitation>{two});
    CHECK_FALSE(store->revoke_invitation("org-1", "inv-1", now, journal_entry()));  // once
    // An accepted invitation is no longer pending either.
    REQUIRE(accept(*store, "inv-2", kBaseTime + 60, "user-2").first ==
            InvitationAcceptance::accepted);
    CHECK_FALSE(store->revoke_invitation("org-1", "inv-2", now, journal_entry()));
    CHECK(store->find_user("org-1", "user-2"));  // revoking it afterwards changed nothing
}

// expires_at is the first instant at which the invitation is dead, as for sessions.
void invitation_expires_at_its_instant(AccountConformanceTarget& target) {
    auto store = target.open();
    two_organizations(*store);
    const Invitation one = invitation("inv-1", "org-1", "a@example.com", Role::member);
    const Invitation two = invitation("inv-2", "org-1", "b@example.com", Role::member);
    add_invitation(*store, one);
    add_invitation(*store, two);
    const std::int64_t expiry = kBaseTime + kWeek;
    REQUIRE(one.expires_at == at(expiry));

    CHECK(store->list_invitations("org-1", at(expiry - 1)) == std::vector<Invitation>{one, two});
    CHECK(store->list_invitations("org-1", at(expiry)).empty());
    CHECK(accept(*store, "inv-1", expiry, "user-1").first == InvitationAcceptance::invalid);
    CHECK(accept(*store, "inv-1", expiry + 3600, "user-1").first == InvitationAcceptance::invalid);
    CHECK_FALSE(store->revoke_invitation("org-1", "inv-1", at(expiry), journal_entry()));
    CHECK(store->count_users() == 0);
    // One second earlier, it still works.
    const auto accepted = accept(*store, "inv-2", expiry - 1, "user-2");
    CHECK(accepted.first == InvitationAcceptance::accepted);
    CHECK(store->count_users() == 1);
}

void accept_invitation_once(AccountConformanceTarget& target) {
    auto store = target.open();
    two_organizations(*store);
    add_user(*store, member("user-1", "org-1", "ada@example.com", Role::owner), "h");
    const Invitation inv =
        invitation("inv-1", "org-1", "Bob@Example.com", Role::admin, kBaseTime + 10);
    add_invitation(*store, inv);
    const std::int64_t now = kBaseTime + 3600;

    const auto accepted = accept(*store, "inv-1", now, "user-2", "$argon2id$bob");
    REQUIRE(accepted.first == InvitationAcceptance::accepted);
    // The invited email as given, the invited role, its organization, created now.
    const User bob{"user-2", "org-1", "Bob@Example.com", Role::admin, at(now)};
    CHECK(accepted.second == bob);
    const auto stored = store->find_user_by_email("bob@example.com");
    REQUIRE(stored);
    CHECK(stored->first == bob);
    CHECK(stored->second == "$argon2id$bob");
    CHECK(store->find_user("org-1", "user-2") == bob);
    CHECK(store->list_users("org-1").back() == bob);
    CHECK(store->count_users() == 2);
    CHECK(store->list_invitations("org-1", at(now)).empty());

    // Once: a second accept of the same token is invalid and writes nothing.
    const auto again = accept(*store, "inv-1", now, "user-3");
    CHECK(again.first == InvitationAcceptance::invalid);
    CHECK_FALSE(again.second);
    CHECK_FALSE(store->find_user("org-1", "user-3"));
    CHECK(store->count_users() == 2);
    // The new user is a member like any other: a session of theirs has their role.
    const SessionRecord s = session("bob", "user-2", now + 3600);
    store->insert_session(s, journal_entry());
    CHECK(store->find_session(s.token_digest)->role == Role::admin);
}

void accept_revoked_or_unknown_invitation(AccountConformanceTarget& target) {
    auto store = target.open();
    two_organizations(*store);
    add_invitation(*store, invitation("inv-1", "org-1", "a@example.com", Role::member));
    const std::int64_t now = kBaseTime + 60;
    REQUIRE(store->revoke_invitation("org-1", "inv-1", at(now), journal_entry()));

    const auto revoked = accept(*store, "inv-1", now, "user-1");
    CHECK(revoked.first == InvitationAcceptance::invalid);
    CHECK_FALSE(revoked.second);
    const auto unknown = accept(*store, "never-issued", now, "user-2");
    CHECK(unknown.first == InvitationAcceptance::invalid);
    CHECK_FALSE(unknown.second);
    CHECK(store->count_users() == 0);
    CHECK_FALSE(store->find_user_by_email("a@example.com"));
}

// "Already has an account" is decided at acceptance, and writes nothing: the invitation
// stays pending, and works once the email is free.
void accept_with_taken_email_writes_nothing(AccountConformanceTarget& target) {
    auto store = target.open();
    two_organizations(*store);
    // The account is in another organization: emails are unique across all of them.
    const User taken = member("user-1", "org-2", "ann@example.com", Role::member);
    add_user(*store, taken, "h");
    add_user(*store, member("user-0", "org-2", "own@example.com", Role::owner), "h");
    const Invitation inv = invitation("inv-1", "org-1", "ANN@Example.com", Role::admin);
    add_invitation(*store, inv);
    const std::int64_t now = kBaseTime + 60;

    const auto refused = accept(*store, "inv-1", now, "user-2");
    CHECK(refused.first == InvitationAcceptance::email_taken);
    CHECK_FALSE(refused.second);
    CHECK(store->count_users() == 2);
    CHECK_FALSE(store->find_user("org-1", "user-2"));
    CHECK(store->find_user_by_email("ann@example.com")->first == taken);
    CHECK(store->list_invitations("org-1", at(now)) == std::vector<Invitation>{inv});

    REQUIRE(store->remove_user("org-2", "user-1", journal_entry()) == MemberChange::done);
    const auto accepted = accept(*store, "inv-1", now + 1, "user-2");
    CHECK(accepted.first == InvitationAcceptance::accepted);
    CHECK(store->find_user_by_email("ann@example.com")->first ==
          User{"user-2", "org-1", "ANN@Example.com", Role::admin, at(now + 1)});
}

void concurrent_accepts_of_one_invitation(AccountConformanceTarget& target) {
    auto store = target.open();
    two_organizations(*store);
    constexpr std::size_t kRounds = 10;
    constexpr std::size_t kThreads = 8;
    for (std::size_t round = 0; round < kRounds; ++round) {
        const std::string label = cat("inv-", round);
        add_invitation(*store,
                       invitation(label, "org-1", cat("new", round, "@example.com"), Role::member));
        std::vector<Acceptance> results(kThreads);
        const auto problems = run_threads(kThreads, [&](std::size_t i) {
            results[i] = accept(*store, label, kBaseTime + 60, cat("user-", round, "-", i));
        });
        INFO("round " << round);
        require_no_problems(problems);
        std::vector<std::string> winners;
        for (const Acceptance& r : results) {
            if (r.first == InvitationAcceptance::accepted) {
                REQUIRE(r.second);
                winners.push_back(r.second->id);
            } else {
                CHECK(r.first == InvitationAcceptance::invalid);
            }
        }
        REQUIRE(winners.size() == 1);
        CHECK(store->find_user_by_email(cat("new", round, "@example.com"))->first.id == winners[0]);
    }
    CHECK(store->count_users() == kRounds);
    CHECK(store->list_invitations("org-1", at(kBaseTime + 60)).empty());
}

// Two invitations (here of two organizations) for one email, accepted at once: one
// account; the other acceptance writes nothing and leaves its invitation pending.
void concurrent_accepts_for_one_email(AccountConformanceTarget& target) {
    auto store = target.open();
    two_organizations(*store);
    constexpr std::size_t kRounds = 20;
    const std::int64_t now = kBaseTime + 60;
    for (std::size_t round = 0; round < kRounds; ++round) {
        const std::string email = cat("twice", round, "@example.com");
        add_invitation(*store, invitation(cat("a-", round), "org-1", email, Role::member));
        add_invitation(*store, invitation(cat("b-", round), "org-2", email, Role::viewer));
        std::vector<Acceptance> results(2);
        const auto problems = run_threads(2, [&](std::size_t i) {
            results[i] =
                accept(*store, cat(i == 0 ? "a-" : "b-", round), now, cat("user-", round, "-", i));
        });
        INFO("round " << round);
        require_no_problems(problems);
        const std::size_t winner = results[0].first == InvitationAcceptance::accepted ? 0 : 1;
        CHECK(results[winner].first == InvitationAcceptance::accepted);
        CHECK(results[1 - winner].first == InvitationAcceptance::email_taken);
        const auto user = store->find_user_by_email(email);
        REQUIRE(user);
        CHECK(user->first.id == cat("user-", round, "-", winner));
        CHECK(user->first.org_id == (winner == 0 ? "org-1" : "org-2"));
    }
    CHECK(store->count_users() == kRounds);
    // Each round left its losing invitation pending.
    CHECK(store->list_invitations("org-1", at(now)).size() +
              store->list_invitations("org-2", at(now)).size() ==
          kRounds);
}

}  // namespace chatbotmgr::testing::detail::account_cases
