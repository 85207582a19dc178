// Internal: building the journal entries of the registry and Accounts (API.md section 13).
#pragma once

#include <chrono>

#include "chatbotmgr/actor.hpp"
#include "chatbotmgr/clock.hpp"
#include "chatbotmgr/journal.hpp"

namespace chatbotmgr::detail {

// The event of actor doing action to target now (without an id: the store gives it one as it
// writes it): a user when the actor names one, else the system.
AuditEvent make_event(const Actor& actor, AuditAction action, AuditTarget target,
                      std::chrono::system_clock::time_point now);

}  // namespace chatbotmgr::detail
