// Conformance cases of the accounts port: every account write records its journal entry in
// its own transaction, only when it changed something, and completes the entries the port
// says it completes (accept_invitation, revoke_invitation).
#include <string>
#include <vector>

#include "builders.hpp"
#include "cases.hpp"
#include "chatbotmgr/testing/errors.hpp"

namespace chatbotmgr::testing::detail::account_cases {
namespace {

JournalStore& journal_of(AccountStore& store) {
    auto* journal = dynamic_cast<JournalStore*>(&store);
    if (!journal) FAIL("the store does not implement JournalStore (journal.hpp)");
    return *journal;
}

JournalEntry entry(const std::string& org, AuditAction action, const std::string& id) {
    JournalEntry e;
    e.event.id = id;
    e.event.org_id = org;
    e.event.created_at = at(kBaseTime);
    e.event.action = action;
    e.event.actor = {"user", "user-1", "ada@example.com"};
    e.event.target = {"member", "user-2", "bob@example.com"};
    e.event.ip = "198.51.100.7";
    e.event.user_agent = "test";
    return e;
}

std::vector<std::string> actions_of(AccountStore& store, const std::string& org) {
    std::vector<std::string> out;
    for (const auto& e : journal_of(store).list_audit_events(org, {}, std::nullopt, 1000))
        out.emplace_back(to_string(e.action));
    return out;
}

}  // namespace

void account_writes_are_journaled(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    store->insert_user(member("user-1", "org-1", "ada@example.com", Role::owner), "ada@example.com",
                       "h", entry("org-1", AuditAction::member_joined, "a01"));
    store->insert_user(member("user-2", "org-1", "bob@example.com", Role::member),
                       "bob@example.com", "h", entry("org-1", AuditAction::member_joined, "a02"));
    const SessionRecord s = session("bob", "user-2", kBaseTime + 3600);
    store->insert_session(s, entry("org-1", AuditAction::session_created, "a03"));

    // Writes that change nothing record nothing.
    CHECK(store->set_role("org-1", "user-9", Role::admin,
                          entry("org-1", AuditAction::member_role_changed, "x1")) ==
          MemberChange::not_found);
    CHECK(store->set_role("org-1", "user-1", Role::member,
                          entry("org-1", AuditAction::member_role_changed, "x2")) ==
          MemberChange::last_owner);
    CHECK(
        store->remove_user("org-1", "user-1", entry("org-1", AuditAction::member_removed, "x3")) ==
        MemberChange::last_owner);
    CHECK_FALSE(store->revoke_invitation("org-1", "inv-9", at(kBaseTime),
                                         entry("org-1", AuditAction::invitation_revoked, "x4")));
    CHECK_FALSE(store->delete_session(session("nobody", "user-2", kBaseTime).token_digest,
                                      entry("org-1", AuditAction::session_revoked, "x5")));
    CHECK(store
              ->accept_invitation(invitation_digest("unknown"), at(kBaseTime), "user-9", "h",
                                  entry("", AuditAction::member_joined, "x6"))
              .first == InvitationAcceptance::invalid);

    CHECK(store->set_role("org-1", "user-2", Role::admin,
                          entry("org-1", AuditAction::member_role_changed, "a04")) ==
          MemberChange::done);
    JournalEntry invited = entry("org-1", AuditAction::member_invited, "a05");
    invited.idempotency = IdempotencyRecord{sha256("invite scope"), sha256("body"), 200,
                                            std::string("sealed\0token", 12), at(kBaseTime + 60)};
    store->insert_invitation(invitation("inv-1", "org-1", "cy@example.com", Role::viewer),
                             "cy@example.com", invitation_digest("inv-1"), std::move(invited));
    CHECK(store->find_idempotency_record(sha256("invite scope"), at(kBaseTime))->answer ==
          std::string("sealed\0token", 12));
    store->insert_invitation(invitation("inv-2", "org-1", "Dee@example.com", Role::viewer),
                             "dee@example.com", invitation_digest("inv-2"),
                             entry("org-1", AuditAction::member_invited, "a06"));
    JournalEntry revoked = entry("org-1", AuditAction::invitation_revoked, "a07");
    revoked.event.target = {"invitation", "inv-2", ""};
    REQUIRE(store->revoke_invitation("org-1", "inv-2", at(kBaseTime), std::move(revoked)));

    // accept_invitation completes its event from the invitation.
    JournalEntry joined;
    joined.event.id = "a08";
    joined.event.created_at = at(kBaseTime);
    joined.event.action = AuditAction::member_joined;
    joined.event.actor = {"system", "", ""};
    joined.event.ip = "192.0.2.1";
    const auto accepted = store->accept_invitation(invitation_digest("inv-1"), at(kBaseTime),
                                                   "user-3", "h", std::move(joined));
    REQUIRE(accepted.first == InvitationAcceptance::accepted);

    REQUIRE(
        store->delete_session(s.token_digest, entry("org-1", AuditAction::session_revoked, "a09")));
    REQUIRE(
        store->remove_user("org-1", "user-2", entry("org-1", AuditAction::member_removed, "a10")) ==
        MemberChange::done);

    const auto events = journal_of(*store).list_audit_events("org-1", {}, std::nullopt, 1000);
    std::vector<std::string> ids;
    for (const auto& e : events) ids.push_back(e.id);
    // All in one second: newest first is id order, descending.
    CHECK(ids == std::vector<std::string>{"a10", "a09", "a08", "a07", "a06", "a05", "a04", "a03",
                                          "a02", "a01"});
    REQUIRE(events.size() == 10);
    const AuditEvent& join = events[2];
    CHECK(join.org_id == "org-1");
    CHECK(join.actor == AuditActor{"user", "user-3", "cy@example.com"});
    CHECK(join.target == AuditTarget{"member", "user-3", "cy@example.com"});
    CHECK(join.ip == "192.0.2.1");
    CHECK(events[3].target == AuditTarget{"invitation", "inv-2", "Dee@example.com"});
    CHECK(actions_of(*store, "org-2").empty());
}

void invitation_idempotency_scope_refuses_write(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    const IdempotencyRecord r{sha256("scope"), sha256("body"), 200, "sealed", at(kBaseTime + 60)};
    JournalEntry first = entry("org-1", AuditAction::member_invited, "i1");
    first.idempotency = r;
    store->insert_invitation(invitation("inv-1", "org-1", "a@example.com", Role::member),
                             "a@example.com", invitation_digest("inv-1"), std::move(first));
    JournalEntry second = entry("org-1", AuditAction::member_invited, "i2");
    second.idempotency = r;
    CHECK(field_of([&] {
              store->insert_invitation(invitation("inv-2", "org-1", "b@example.com", Role::member),
                                       "b@example.com", invitation_digest("inv-2"),
                                       std::move(second));
          }) == "Idempotency-Key");
    CHECK(store->list_invitations("org-1", at(kBaseTime)).size() == 1);
    CHECK(actions_of(*store, "org-1") == std::vector<std::string>{"member.invited"});
}

}  // namespace chatbotmgr::testing::detail::account_cases
