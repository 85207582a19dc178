// Teams in the core (API.md sections 10 and 18): who may change whom, the last owner,
// invitations, and sessions that follow their user's role.
#include <catch2/catch.hpp>

#include <sodium.h>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "chatbotmgr/testing/fakes.hpp"

using namespace chatbotmgr;

namespace {

struct Team {
    std::shared_ptr<testing::FakeClock> clock = std::make_shared<testing::FakeClock>();
    std::shared_ptr<MemoryStore> store = std::make_shared<MemoryStore>();
    Accounts accounts{store,
                      {.session_ttl = std::chrono::hours(12),
                       .pwhash_opslimit = crypto_pwhash_OPSLIMIT_MIN,
                       .pwhash_memlimit = crypto_pwhash_MEMLIMIT_MIN,
                       .cache_sessions = true,
                       .clock = clock,
                       .random = std::make_shared<testing::DeterministicRandom>()}};
    // One second apart, so "oldest first" has one answer.
    User add(std::string_view email, std::optional<Role> role = std::nullopt) {
        clock->advance(std::chrono::seconds(1));
        return accounts.add_user(email, "Acme", "password1", role).first;
    }
    User owner = add("owner@example.com");
    User admin = add("admin@example.com", Role::admin);
    User member = add("member@example.com");
    User viewer = add("viewer@example.com", Role::viewer);

    static Actor as(const User& u) {
        Actor a(u.org_id);
        a.user_id = u.id;
        a.email = u.email;
        a.role = u.role;
        return a;
    }
    std::optional<Role> refused_for(const std::function<void()>& f) {
        const auto e = testing::error_of(f);
        if (!e || e->code() != ErrorCode::forbidden) return std::nullopt;
        return e->required_role();
    }
};

}  // namespace

TEST_CASE_METHOD(Team, "the first user of an organization is its owner, later ones members") {
    CHECK(owner.role == Role::owner);
    CHECK(member.role == Role::member);
    const auto members = accounts.list_members(as(viewer));
    REQUIRE(members.size() == 4);
    CHECK(members[0].id == owner.id);  // oldest first
}

TEST_CASE_METHOD(Team, "nobody grants above their own role, only owners touch owners") {
    CHECK(refused_for([&] { accounts.change_role(as(member), viewer.id, Role::viewer); }) ==
          Role::admin);
    CHECK(refused_for([&] { accounts.change_role(as(admin), member.id, Role::owner); }) ==
          Role::owner);
    CHECK(refused_for([&] { accounts.change_role(as(admin), owner.id, Role::member); }) ==
          Role::owner);
    CHECK(refused_for([&] { accounts.remove_member(as(admin), owner.id); }) == Role::owner);
    CHECK(accounts.change_role(as(admin), member.id, Role::admin).role == Role::admin);
    CHECK(accounts.change_role(as(owner), member.id, Role::owner).role == Role::owner);
}

TEST_CASE_METHOD(Team, "role refusals come before existence, existence before the owner rule") {
    // A viewer gets 403 for any id; an admin gets 404 for an id outside the organization.
    CHECK(refused_for([&] { accounts.remove_member(as(viewer), "no-such-user"); }) == Role::admin);
    const User stranger = accounts.add_user("x@example.com", "Other Org", "password1").first;
    REQUIRE(stranger.role == Role::owner);
    CHECK(testing::code_of([&] { accounts.remove_member(as(admin), stranger.id); }) ==
          ErrorCode::not_found);
}

TEST_CASE_METHOD(Team, "the last owner can be neither demoted nor removed, even by an owner") {
    CHECK(testing::code_of([&] { accounts.change_role(as(owner), owner.id, Role::admin); }) ==
          ErrorCode::conflict);
    CHECK(testing::code_of([&] { accounts.remove_member(as(owner), owner.id); }) ==
          ErrorCode::conflict);
    accounts.change_role(as(owner), admin.id, Role::owner);
    CHECK(accounts.change_role(as(owner), owner.id, Role::admin).role == Role::admin);
}

TEST_CASE_METHOD(Team, "a session follows its user: a role change applies to the next request") {
    const auto login = accounts.login("member@example.com", "password1");
    CHECK(accounts.check_session(login.token)->role == Role::member);  // cached now
    accounts.change_role(as(admin), member.id, Role::viewer);
    CHECK(accounts.check_session(login.token)->role == Role::viewer);
    accounts.remove_member(as(admin), member.id);
    CHECK_FALSE(accounts.check_session(login.token));
    CHECK(testing::code_of([&] { accounts.login("member@example.com", "password1"); }) ==
          ErrorCode::unauthenticated);
}

TEST_CASE_METHOD(Team, "an invitation is used once and logs the new member in") {
    const auto invited = accounts.invite(as(admin), "New@Example.com", Role::member);
    CHECK(is_invitation_token_format(invited.token));
    CHECK(looks_like_secret(invited.token));
    CHECK(invited.invitation.expires_at - invited.invitation.created_at == kInvitationLifetime);
    CHECK(accounts.list_invitations(as(admin)).size() == 1);

    const auto login = accounts.accept_invitation(invited.token, "new password");
    CHECK(login.user.email == "New@Example.com");
    CHECK(login.user.role == Role::member);
    CHECK(login.organization.id == owner.org_id);
    CHECK(accounts.check_session(login.token)->role == Role::member);
    CHECK(accounts.list_invitations(as(admin)).empty());
    CHECK(testing::code_of([&] { accounts.accept_invitation(invited.token, "new password"); }) ==
          ErrorCode::unauthenticated);
}

TEST_CASE_METHOD(Team, "invitations: revoked, expired, unknown are refused, a taken email is 409") {
    const auto revoked = accounts.invite(as(owner), "r@example.com", Role::viewer);
    accounts.revoke_invitation(as(admin), revoked.invitation.id);
    CHECK(testing::code_of([&] { accounts.accept_invitation(revoked.token, "password1"); }) ==
          ErrorCode::unauthenticated);
    CHECK(testing::code_of([&] { accounts.revoke_invitation(as(admin), revoked.invitation.id); }) ==
          ErrorCode::not_found);

    const auto expiring = accounts.invite(as(owner), "e@example.com", Role::viewer);
    clock->advance(kInvitationLifetime);
    CHECK(testing::code_of([&] { accounts.accept_invitation(expiring.token, "password1"); }) ==
          ErrorCode::unauthenticated);

    CHECK(testing::code_of([&] {
              accounts.accept_invitation("ob_inv_" + std::string(64, '0'), "password1");
          }) == ErrorCode::unauthenticated);

    const auto taken = accounts.invite(as(owner), "MEMBER@example.com", Role::viewer);
    CHECK(testing::code_of([&] { accounts.accept_invitation(taken.token, "password1"); }) ==
          ErrorCode::conflict);
}

TEST_CASE_METHOD(Team, "inviting is an admin's, and never above the inviter's role") {
    CHECK(refused_for([&] { accounts.invite(as(member), "a@example.com", Role::viewer); }) ==
          Role::admin);
    CHECK(refused_for([&] { accounts.invite(as(admin), "a@example.com", Role::owner); }) ==
          Role::owner);
    CHECK(refused_for([&] { accounts.list_invitations(as(member)); }) == Role::admin);
    CHECK(testing::field_of([&] { accounts.invite(as(admin), "not an email", Role::viewer); }) ==
          "email");
}
