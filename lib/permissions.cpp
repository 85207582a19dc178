#include "chatbotmgr/permissions.hpp"

#include <string>
#include <utility>

#include "chatbotmgr/error.hpp"

namespace chatbotmgr {
namespace {

constexpr std::pair<Role, std::string_view> kRoleNames[] = {
    {Role::viewer, "viewer"},
    {Role::member, "member"},
    {Role::admin, "admin"},
    {Role::owner, "owner"},
};

constexpr std::pair<Action, Role> kTable[] = {
    {Action::list_chatbots, Role::viewer},   {Action::get_chatbot, Role::viewer},
    {Action::get_key, Role::viewer},         {Action::list_members, Role::viewer},
    {Action::get_session, Role::viewer},     {Action::create_chatbot, Role::member},
    {Action::update_chatbot, Role::member},  {Action::rotate_key, Role::admin},
    {Action::end_grace, Role::admin},        {Action::delete_chatbot, Role::admin},
    {Action::read_audit_log, Role::admin},   {Action::invite_member, Role::admin},
    {Action::list_invitations, Role::admin}, {Action::revoke_invitation, Role::admin},
    {Action::change_role, Role::admin},      {Action::remove_member, Role::admin},
};
static_assert(std::size(kTable) == kAllActions.size(), "one row per action");

}  // namespace

std::string_view to_string(Role role) noexcept {
    for (const auto& [r, name] : kRoleNames)
        if (r == role) return name;
    return "owner";
}

std::optional<Role> role_from_string(std::string_view name) noexcept {
    for (const auto& [r, n] : kRoleNames)
        if (n == name) return r;
    return std::nullopt;
}

Role required_role(Action action) noexcept {
    for (const auto& [a, role] : kTable)
        if (a == action) return role;
    return Role::owner;  // unreachable: the table has a row per action
}

void check_permitted(const Actor& actor, Action action) {
    const Role needed = required_role(action);
    if (actor.role < needed) throw Error::forbidden(needed);
}

}  // namespace chatbotmgr
