#include "chatbotmgr/testing/journal_entry.hpp"

#include <chrono>

#include "chatbotmgr/clock.hpp"
#include "chatbotmgr/secrets.hpp"

namespace chatbotmgr::testing {

JournalEntry journal_entry(std::string_view org_id, AuditAction action) {
    const auto now = std::chrono::system_clock::now();
    JournalEntry entry;
    entry.event.id = generate_uuid_v7(*system_random(), now);
    entry.event.org_id = std::string(org_id);
    entry.event.created_at = std::chrono::floor<std::chrono::seconds>(now);
    entry.event.action = action;
    entry.event.actor = {"system", "", ""};
    entry.event.target = {"test", "", ""};
    return entry;
}

}  // namespace chatbotmgr::testing
