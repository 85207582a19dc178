// The storage port: what ChatbotRegistry needs from a storage engine.
//
// Implementations: MemoryStore (memory_store.hpp), SqliteStore (chatbotmgr::sqlite),
// PostgresStore (chatbotmgr::postgres), or your own -- run the conformance suite from
// chatbotmgr::testing against it.
//
// Contract for every implementation:
//  * Thread safety: every method may be called from many threads at once.
//  * Scoping: methods that take org_id act only on that organization's rows; a chatbot of
//    another organization is reported exactly like a missing one (nullopt / false).
//  * Durability: a method that returns normally after a write has committed it durably.
//    A method that throws has written nothing.
//  * Failures of the engine itself (I/O error, disk full, read-only, locked past the busy
//    timeout, connection lost) throw Error(ErrorCode::unavailable). Violated uniqueness of
//    an id or key digest throws Error(ErrorCode::conflict).
//  * Not-found is never an exception: it is nullopt, false or an empty result.
//  * Journal: every write that changes what a team sees takes a JournalEntry (journal.hpp)
//    and writes its event -- and its idempotency record, if any -- in the same transaction
//    as the change, only when the write changed something. An idempotency record whose
//    scope has a record that has not expired (at entry.event.created_at) fails the whole
//    write with Error(conflict, field "Idempotency-Key"); an expired one is replaced.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "chatbotmgr/capture.hpp"
#include "chatbotmgr/chatbot.hpp"
#include "chatbotmgr/journal.hpp"
#include "chatbotmgr/keys.hpp"
#include "chatbotmgr/page.hpp"
#include "chatbotmgr/secrets.hpp"

namespace chatbotmgr {

// Who holds a key: what find_by_key_digest answers (small on purpose: authentication is
// the hot path and needs neither name nor settings). Whether the key is still accepted is
// the caller's comparison of expires_at with its clock, never a query.
struct KeyOwner {
    std::string chatbot_id;
    std::string org_id;
    KeySlot slot = KeySlot::current;
    // When the key stops being accepted: a current key's own expiry; for a previous key
    // the grace end, or its own expiry if earlier. None: never.
    std::optional<std::chrono::sys_seconds> expires_at;
    friend bool operator==(const KeyOwner&, const KeyOwner&) = default;
};

// The port itself: implement every pure virtual method under the contract at the top of
// this file, then run the conformance suite of chatbotmgr::testing against it.
class ChatbotStore {
  public:
    virtual ~ChatbotStore() = default;

    // Stores a new chatbot with its current key (key.prefix is chatbot.key_prefix, and
    // key.issued_at is chatbot.created_at) -- unless its organization holds max_in_org
    // chatbots already: then false, and nothing is written. The count and the insert are
    // one atomic step, so concurrent inserts never take an organization past max_in_org.
    // Throws conflict if the id or the digest (of any chatbot's current or previous key)
    // exists already.
    virtual bool insert(const Chatbot& chatbot, const NewKey& key, std::size_t max_in_org,
                        JournalEntry entry) = 0;
    // The same without a limit, for a key that never expires, journaled as created by the
    // system (for tools and tests).
    void insert(const Chatbot& chatbot, const Digest& key_digest);

    // The organization's chatbots, newest created_at first, ties by id descending.
    virtual std::vector<Chatbot> list(std::string_view org_id) = 0;
    // At most limit of them in the same order, starting strictly after `after` (none: from
    // the first). The default filters list(); stores override it with a keyset query.
    virtual std::vector<Chatbot> list_page(std::string_view org_id,
                                           const std::optional<PagePosition>& after,
                                           std::size_t limit);

    virtual std::optional<Chatbot> get(std::string_view org_id, std::string_view id) = 0;

    // Atomic read-modify-write: loads the chatbot, calls mutate on a copy and stores the
    // result, all inside one transaction (or under one lock), so concurrent updates never
    // lose each other's changes. mutate may change name and settings only, and is called
    // exactly once per call (never replayed). If mutate throws, nothing is written and the
    // exception propagates. nullopt when not found.
    virtual std::optional<Chatbot> update(std::string_view org_id, std::string_view id,
                                          const std::function<void(Chatbot&)>& mutate,
                                          JournalEntry entry) = 0;

    // Deletes the chatbot and, in the same transaction, its conversations, messages and
    // analysis results. False when not found.
    virtual bool remove(std::string_view org_id, std::string_view id, JournalEntry entry) = 0;

    // Issues key as the chatbot's current key in one atomic write. With previous_until, the
    // key that was current becomes the previous key, accepted until previous_until or its
    // own expiry, whichever comes first (its last use goes with it); without, it dies.
    // Either way a previous key of an earlier rotation dies. Once this returns, a dead
    // digest finds nothing. nullopt when not found. Throws conflict if key.digest exists.
    virtual std::optional<Chatbot> replace_key(
        std::string_view org_id, std::string_view id, const NewKey& key,
        std::optional<std::chrono::sys_seconds> previous_until, JournalEntry entry) = 0;

    // Ends a grace period now: the previous key, if any, dies in one atomic write. nullopt
    // when the chatbot is not found; true when the dropped key was still accepted at now
    // (its expires_at was later than now), false otherwise. The entry is written only
    // when this answers true.
    virtual std::optional<bool> drop_previous_key(std::string_view org_id, std::string_view id,
                                                  std::chrono::sys_seconds now,
                                                  JournalEntry entry) = 0;

    // The chatbot's keys as stored (a previous key is reported even after its grace ended:
    // callers compare expires_at with their clock). nullopt when not found.
    virtual std::optional<ChatbotKeys> keys(std::string_view org_id, std::string_view id) = 0;

    // Lookup through the unique index on key digests, current and previous (any
    // organization). Reports a previous key and an expired key too: see KeyOwner.
    virtual std::optional<KeyOwner> find_by_key_digest(const Digest& digest) = 0;

    // Writes back when keys were last used, in one transaction: for each entry, the
    // last_used_at of the key with that digest (current or previous, whichever it is now)
    // becomes the later of the stored value and the entry's. Digests that find no key
    // (rotated away, deleted) are skipped. Never changes what find_by_key_digest answers.
    virtual void record_key_usage(std::span<const KeyUsage> usage) = 0;

    // Upserts the conversation (chatbot_id, batch.external_conversation_id) and appends
    // the batch's messages that are not stored yet (a message whose external_id is already
    // stored for the conversation is skipped; messages without external_id always append),
    // all in one transaction. The batch is already validated (validate_capture). The
    // conversation's internal id never changes once created; metadata and external user
    // id are replaced by the latest batch. nullopt when the chatbot does not exist (e.g.
    // deleted concurrently) -- then nothing is written.
    virtual std::optional<CaptureResult> append_capture(std::string_view chatbot_id,
                                                        const CaptureBatch& batch) = 0;

    // The idempotency record with this scope, if it has not expired at now (written by
    // insert or replace_key).
    virtual std::optional<IdempotencyRecord> find_idempotency_record(
        const Digest& scope, std::chrono::sys_seconds now) = 0;

    // Throws unavailable when the engine cannot serve requests (for readiness checks).
    virtual void ping() = 0;

    // Lets registries cache key lookups and stay exact. A store that returns a value
    // promises: the value changes (grows) after every committed write that changes what
    // find_by_key_digest answers (replace_key, drop_previous_key, remove) -- made through this
    // object or any other object or process that writes the same data -- and before that write's
    // call returns. Registries serve a cached lookup only while the value is the one it was read
    // under. nullopt (the default): lookups are never cached (always exact).
    virtual std::optional<std::uint64_t> key_generation() const noexcept { return std::nullopt; }

    // Lets registries cache what get and list answer, and stay exact: as key_generation,
    // for one organization's chatbots. A store that returns a value (for any organization:
    // a store reports values for all of them or for none) promises: the value for org_id
    // grows after every committed write that changes what get or list answers for org_id
    // (insert, update, remove, replace_key) -- made through this object or any other object
    // or process that writes the same data -- and before that write's call returns. The
    // values of several organizations may move together. nullopt (the default): get and
    // list are never cached.
    virtual std::optional<std::uint64_t> chatbot_generation(
        std::string_view /*org_id*/) const noexcept {
        return std::nullopt;
    }
};

// Row counts of what hangs off one chatbot.
struct ChatbotDataCounts {
    std::size_t conversations = 0;
    std::size_t messages = 0;
    std::size_t analysis_results = 0;
    friend bool operator==(const ChatbotDataCounts&, const ChatbotDataCounts&) = default;
};

// Optional, beside ChatbotStore: what the conformance suite needs to prove that delete
// cascades. Kept out of the port because nothing in production calls it; stores that
// implement it get the cascade cases of the suite (found with dynamic_cast).
class StoreInspection {
  public:
    virtual ~StoreInspection() = default;
    // Records an analysis result for a conversation of the chatbot. False (and nothing
    // written) when the chatbot or the conversation does not exist.
    virtual bool record_analysis(std::string_view chatbot_id, std::string_view conversation_id,
                                 std::string_view kind, std::string_view result_json) = 0;
    virtual ChatbotDataCounts count_data(std::string_view chatbot_id) = 0;
};

}  // namespace chatbotmgr
