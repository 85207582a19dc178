// What a write leaves beside its change, in the same transaction: an audit event (API.md
// section 13) and, for a retry-safe call, an idempotency record (section 14). The store
// ports take a JournalEntry with every write, so a store cannot commit a change without its
// event, nor an event without its change; JournalStore reads and prunes what they wrote.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "chatbotmgr/chatbot.hpp"
#include "chatbotmgr/page.hpp"
#include "chatbotmgr/secrets.hpp"

namespace chatbotmgr {

// Every action of API.md section 13.
enum class AuditAction {
    chatbot_created,
    chatbot_updated,
    chatbot_deleted,
    chatbot_key_rotated,
    chatbot_previous_key_revoked,
    member_invited,
    invitation_revoked,
    member_joined,
    member_role_changed,
    member_removed,
    session_created,
    session_revoked,
};

// "chatbot.created", ...; parse_audit_action answers nullopt for any other text.
std::string_view to_string(AuditAction action) noexcept;
std::optional<AuditAction> parse_audit_action(std::string_view text) noexcept;

// Who did it: a user, or the system (an operator's tool, or a host acting without users).
struct AuditActor {
    std::string type;  // "user" or "system"
    std::string id;    // the user's id; empty for the system
    std::string email;
    friend bool operator==(const AuditActor&, const AuditActor&) = default;
};

// What it was done to. Kept as it was then: events outlive their targets.
struct AuditTarget {
    std::string type;  // "chatbot", "member", "invitation" or "user" (a session's user)
    std::string id;
    std::string name;  // a chatbot's name, a member's or invitee's email
    friend bool operator==(const AuditTarget&, const AuditTarget&) = default;
};

// One audit event. Never holds a key, a token, a password or a digest (key prefixes are
// fine).
struct AuditEvent {
    // A time-ordered (version 7) UUID. The registry and Accounts leave it empty: the store
    // then gives the event stored_event_id() as it writes it, at the point where it orders
    // its writes, so events of one second keep their commit order (API.md section 18).
    std::string id;
    std::string org_id;
    std::chrono::sys_seconds created_at{};  // the "time" of API.md
    AuditAction action = AuditAction::chatbot_created;
    AuditActor actor;
    AuditTarget target;
    std::string ip;  // the client's address as the server saw it; may be empty
    std::string user_agent;
    boost::json::object changes;  // what changed, per action (API.md section 13)
    friend bool operator==(const AuditEvent&, const AuditEvent&) = default;
};

// The id a store writes event under: its id, or when empty a new time-ordered one made now
// (generate_uuid_v7: strictly increasing within the process).
std::string stored_event_id(const AuditEvent& event);

// The stored outcome of a retry-safe call (API.md section 14), keyed by a digest of its
// scope (organization, user, operation, Idempotency-Key). The answer is sealed with a key
// derived from the Idempotency-Key value, which the store never sees.
struct IdempotencyRecord {
    Digest scope{};
    Digest request{};    // digest of the request body: another body is refused
    int status = 200;    // only 200 answers are kept
    std::string answer;  // sealed (nonce and crypto_secretbox ciphertext), binary
    std::chrono::sys_seconds expires_at{};
    friend bool operator==(const IdempotencyRecord&, const IdempotencyRecord&) = default;
};

// What one write records. Stores write it in the write's own transaction, and only when the
// write changed something (a write that finds nothing, or is refused, records nothing).
struct JournalEntry {
    AuditEvent event;
    std::optional<IdempotencyRecord> idempotency;
    // For ChatbotStore::update, remove, replace_key and drop_previous_key: called once
    // inside the transaction, with the chatbot as the write leaves it (as it was, for
    // remove), before the entry is written -- to complete it with what only the row knows
    // (the target's name, the stored answer). If it throws, nothing is written and the
    // exception propagates. May be empty.
    std::function<void(const Chatbot&, JournalEntry&)> complete;
};

// Which events list_audit_events answers. Every member that is set must match.
struct AuditQuery {
    std::optional<AuditAction> action;
    std::optional<std::string> target_id;
    std::optional<std::string> actor_id;
    std::optional<std::chrono::sys_seconds> since;  // created_at >= since
    std::optional<std::chrono::sys_seconds> until;  // created_at < until (API.md section 18)
};

// The reading side of the journal: implemented by every store beside its ports (the
// example server prunes through it). Same contract as ChatbotStore (storage.hpp).
class JournalStore {
  public:
    virtual ~JournalStore() = default;
    // The organization's events that match query, newest first by (created_at, id), at most
    // limit of them, starting strictly after `after` (none: from the newest).
    virtual std::vector<AuditEvent> list_audit_events(std::string_view org_id,
                                                      const AuditQuery& query,
                                                      const std::optional<PagePosition>& after,
                                                      std::size_t limit) = 0;
    // Deletes at most max events created before cutoff, oldest first; returns how many.
    virtual std::size_t prune_audit_events(std::chrono::sys_seconds cutoff, std::size_t max) = 0;
    // Deletes at most max idempotency records that expired at or before now; returns how
    // many.
    virtual std::size_t prune_idempotency_records(std::chrono::sys_seconds now,
                                                  std::size_t max) = 0;
};

}  // namespace chatbotmgr
