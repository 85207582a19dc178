// The permission table of API.md section 10: one piece of data, checked in one place (the
// registry and Accounts), so every adapter -- and every host -- enforces the same rules.
#pragma once

#include <array>

#include "chatbotmgr/actor.hpp"
#include "chatbotmgr/role.hpp"

namespace chatbotmgr {

// Every operation the HTTP API exposes on a team's data.
enum class Action {
    list_chatbots,      // GET /api/v1/chatbots
    get_chatbot,        // GET /api/v1/chatbots/{id}
    get_key,            // GET /api/v1/chatbots/{id}/key
    list_members,       // GET /api/v1/members
    get_session,        // GET /api/v1/auth/session
    create_chatbot,     // POST /api/v1/chatbots
    update_chatbot,     // PATCH /api/v1/chatbots/{id}
    rotate_key,         // POST /api/v1/chatbots/{id}/rotate-key
    end_grace,          // DELETE /api/v1/chatbots/{id}/previous-key
    delete_chatbot,     // DELETE /api/v1/chatbots/{id}
    read_audit_log,     // GET /api/v1/audit-events
    invite_member,      // POST /api/v1/invitations
    list_invitations,   // GET /api/v1/invitations
    revoke_invitation,  // DELETE /api/v1/invitations/{id}
    change_role,        // PATCH /api/v1/members/{id}
    remove_member,      // DELETE /api/v1/members/{id}
};

inline constexpr std::array kAllActions = {
    Action::list_chatbots,    Action::get_chatbot,       Action::get_key,
    Action::list_members,     Action::get_session,       Action::create_chatbot,
    Action::update_chatbot,   Action::rotate_key,        Action::end_grace,
    Action::delete_chatbot,   Action::read_audit_log,    Action::invite_member,
    Action::list_invitations, Action::revoke_invitation, Action::change_role,
    Action::remove_member,
};

// The lowest role allowed to do action -- THE table:
//
//   | action                                                         | lowest role |
//   |----------------------------------------------------------------|-------------|
//   | list / get chatbots, get a key, list members, get the session  | viewer      |
//   | create a chatbot, patch a chatbot                              | member      |
//   | rotate a key, end a grace, delete a chatbot, read the audit log| admin       |
//   | invite, list and revoke invitations, change a role, remove     | admin       |
//
// Changing or removing a member also needs the caller's role to be at least the member's
// old and new role (never above one's own; an admin cannot touch an owner): Accounts
// checks that on top of this table.
Role required_role(Action action) noexcept;

inline bool permits(Role role, Action action) noexcept {
    return role >= required_role(action);
}

// Throws Error(forbidden) naming required_role(action) unless the actor's role permits it.
void check_permitted(const Actor& actor, Action action);

}  // namespace chatbotmgr
