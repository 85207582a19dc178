// Journal entries for tests that call a store's write methods directly.
#pragma once

#include <string_view>

#include "chatbotmgr/journal.hpp"

namespace chatbotmgr::testing {

// A system event of org_id with a fresh id and the current time: what a write needs when
// the test is not about the journal.
JournalEntry journal_entry(std::string_view org_id = {},
                           AuditAction action = AuditAction::chatbot_updated);

}  // namespace chatbotmgr::testing
