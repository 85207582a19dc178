// Who is acting: handed to every registry and Accounts call that changes or reads a team's
// data, so permissions are decided in the core and the audit log can say who did what.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

#include "chatbotmgr/role.hpp"

namespace chatbotmgr {

struct Actor {
    std::string org_id;          // every operation is scoped to this organization
    std::string user_id;         // empty for a host acting on its own behalf
    std::string email;           // for the audit log; may be empty
    Role role = Role::owner;     // a host without roles acts as the owner (v1)
    std::string client_address;  // for the audit log; may be empty
    std::string user_agent;      // for the audit log; may be empty

    Actor() = default;
    // The owner of an organization: how a host without users or roles calls, so that
    // registry.create("org-42", ...) reads as it always did.
    template <class OrgId>
    requires std::is_convertible_v<const OrgId&, std::string_view> Actor(
        const OrgId& org)  // NOLINT(google-explicit-constructor): implicit on purpose
        : org_id(std::string_view(org)) {}
};

}  // namespace chatbotmgr
