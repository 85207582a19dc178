// The audit log (API.md section 13): who changed what, when and from where, read a page at
// a time (section 15) and kept for a retention period.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "chatbotmgr/actor.hpp"
#include "chatbotmgr/clock.hpp"
#include "chatbotmgr/journal.hpp"
#include "chatbotmgr/page.hpp"

namespace chatbotmgr {

inline constexpr std::size_t kDefaultAuditPageSize = 50;
inline constexpr std::size_t kMaxAuditPageSize = 200;
inline constexpr std::chrono::days kDefaultAuditRetention{180};

struct AuditLogOptions {
    // Events older than this are deleted by prune(). Default: 180 days.
    std::chrono::seconds retention = kDefaultAuditRetention;
    // Most rows one prune() statement deletes, so pruning never holds the store for long.
    // Default: 1,000.
    std::size_t prune_batch = 1000;
    std::shared_ptr<Clock> clock;  // Default: system_clock()
};

// What one prune() deleted.
struct PruneCounts {
    std::size_t audit_events = 0;
    std::size_t idempotency_records = 0;
};

// Threading: every method may be called from many threads at once. Errors:
// chatbotmgr::Error, as ChatbotRegistry's.
class AuditLog {
  public:
    explicit AuditLog(std::shared_ptr<JournalStore> store, AuditLogOptions options = {});

    // One page of the actor's organization's events, newest first (admin or higher, else
    // forbidden); limit 1 to kMaxAuditPageSize (invalid_argument, field "limit").
    Page<AuditEvent> list(const Actor& actor, const AuditQuery& query,
                          const PageRequest& page) const;
    // Deletes events past the retention and expired idempotency records, in batches of
    // prune_batch, until none is left. For a periodic janitor (the example server runs one).
    PruneCounts prune();

  private:
    std::shared_ptr<JournalStore> store_;
    AuditLogOptions options_;
};

}  // namespace chatbotmgr
