// The roles of a team (API.md section 10), lowest first.
#pragma once

#include <optional>
#include <string_view>

namespace chatbotmgr {

// Ordered: each role may do everything the roles before it may (permissions.hpp).
enum class Role { viewer, member, admin, owner };

// "viewer", "member", "admin", "owner".
std::string_view to_string(Role role) noexcept;
// The role of one of those names; nullopt for anything else (case-sensitive).
std::optional<Role> role_from_string(std::string_view name) noexcept;

}  // namespace chatbotmgr
