// The permission table of API.md section 10, cell by cell, and the registry enforcing it
// before anything else.
#include <catch2/catch.hpp>

#include <map>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/permissions.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "chatbotmgr/testing/test_registry.hpp"

using namespace chatbotmgr;

namespace {

constexpr Role kRoles[] = {Role::viewer, Role::member, Role::admin, Role::owner};

// API.md section 10, typed out again on purpose: changing one cell of the core's table
// makes this test fail.
const std::map<Action, Role> kSpec = {
    {Action::list_chatbots, Role::viewer},   {Action::get_chatbot, Role::viewer},
    {Action::get_key, Role::viewer},         {Action::list_members, Role::viewer},
    {Action::get_session, Role::viewer},     {Action::create_chatbot, Role::member},
    {Action::update_chatbot, Role::member},  {Action::rotate_key, Role::admin},
    {Action::end_grace, Role::admin},        {Action::delete_chatbot, Role::admin},
    {Action::read_audit_log, Role::admin},   {Action::invite_member, Role::admin},
    {Action::list_invitations, Role::admin}, {Action::revoke_invitation, Role::admin},
    {Action::change_role, Role::admin},      {Action::remove_member, Role::admin},
};

Actor as(Role role, std::string org = "org-a") {
    Actor actor(org);
    actor.role = role;
    actor.user_id = "user-1";
    return actor;
}

}  // namespace

TEST_CASE("the permission table is API.md's, cell by cell") {
    REQUIRE(kSpec.size() == kAllActions.size());
    for (const Action action : kAllActions) {
        INFO("action " << static_cast<int>(action));
        REQUIRE(kSpec.contains(action));
        CHECK(required_role(action) == kSpec.at(action));
        for (const Role role : kRoles) CHECK(permits(role, action) == (role >= kSpec.at(action)));
    }
}

TEST_CASE("role names round-trip and nothing else is a role") {
    for (const Role role : kRoles) CHECK(role_from_string(to_string(role)) == role);
    CHECK(to_string(Role::admin) == "admin");
    CHECK_FALSE(role_from_string("Admin"));
    CHECK_FALSE(role_from_string(""));
    CHECK_FALSE(role_from_string("superuser"));
}

TEST_CASE("a plain organization id acts as that organization's owner") {
    const Actor actor("org-42");
    CHECK(actor.org_id == "org-42");
    CHECK(actor.role == Role::owner);
}

TEST_CASE("the registry refuses by role before it validates or looks anything up") {
    testing::TestRegistry t;
    const auto bot = t.add_chatbot("org-a", "Bot");
    const std::string id = bot.chatbot.id;
    const std::string missing = "5b0a3f9e-2c1d-4e8f-9a7b-1c2d3e4f5a6b";

    struct Call {
        Action action;
        std::function<void(const Actor&)> run;
    };
    // Each call made with input that would fail validation or name a missing chatbot, so
    // an allowed role gets another error than forbidden -- but never a refusal by role.
    const std::vector<Call> calls = {
        {Action::list_chatbots, [&](const Actor& a) { t.registry.list(a); }},
        {Action::get_chatbot, [&](const Actor& a) { t.registry.get(a, missing); }},
        {Action::create_chatbot,
         [&](const Actor& a) {
             t.registry.create(a, {"", {}});
         }},
        {Action::update_chatbot,
         [&](const Actor& a) {
             t.registry.update(a, missing, {"x", {}});
         }},
        {Action::rotate_key, [&](const Actor& a) { t.registry.rotate_key(a, missing); }},
        {Action::delete_chatbot, [&](const Actor& a) { t.registry.remove(a, missing); }},
    };
    for (const auto& call : calls) {
        for (const Role role : kRoles) {
            INFO("action " << static_cast<int>(call.action) << " as " << to_string(role));
            const auto error = testing::error_of([&] { call.run(as(role)); });
            if (permits(role, call.action)) {
                CHECK((!error || error->code() != ErrorCode::forbidden));
            } else {
                REQUIRE(error);
                CHECK(error->code() == ErrorCode::forbidden);
                CHECK(error->required_role() == required_role(call.action));
            }
        }
    }
    // Nothing was changed by the refused calls.
    CHECK(t.registry.list("org-a").size() == 1);
    CHECK(t.registry.authenticate(bot.api_key));
}

TEST_CASE("allowed roles do what the table lets them") {
    testing::TestRegistry t;
    const auto created = t.registry.create(as(Role::member), {"Member's bot", {}});
    CHECK(t.registry.get(as(Role::viewer), created.chatbot.id).name == "Member's bot");
    CHECK(t.registry.update(as(Role::member), created.chatbot.id, {"Renamed", {}}).name ==
          "Renamed");
    const auto rotated = t.registry.rotate_key(as(Role::admin), created.chatbot.id);
    CHECK(t.registry.authenticate(rotated.api_key));
    t.registry.remove(as(Role::admin), created.chatbot.id);
    CHECK(t.registry.list(as(Role::viewer)).empty());
}
