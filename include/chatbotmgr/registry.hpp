// ChatbotRegistry: the one entry point of the core.
//
// Threading: every method is safe to call from many threads at once.
// Errors: every method throws chatbotmgr::Error (error.hpp) -- invalid_argument naming the
// field, not_found (also for another organization's chatbot), forbidden (the actor's role
// may not do this), unauthenticated (only from capture), unavailable (storage), internal. A bad API
// key is not an error: authenticate answers nullopt. Blocking: methods call the store
// synchronously; an HTTP host runs them off its I/O threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chatbotmgr/actor.hpp"
#include "chatbotmgr/capture.hpp"
#include "chatbotmgr/chatbot.hpp"
#include "chatbotmgr/clock.hpp"
#include "chatbotmgr/idempotency.hpp"
#include "chatbotmgr/keys.hpp"
#include "chatbotmgr/page.hpp"
#include "chatbotmgr/storage.hpp"

namespace chatbotmgr {

struct RegistryOptions {
    // Cache verified key digests in memory so authenticate does not reach the store.
    // Used only when the store reports a key_generation() (storage.hpp): a cached lookup
    // is served only while no rotation or deletion has committed since it was read, by
    // any registry or store object over the same data. Default: true.
    bool cache_keys = true;
    // Most entries the key cache holds before it starts over. Default: 100,000.
    std::size_t key_cache_capacity = 100'000;
    // Cache what get and list read, so a repeated read does not reach the store. Used only
    // when the store reports a chatbot_generation() (storage.hpp): an organization's
    // cached chatbots are served only while no write to its chatbots has committed since
    // they were read, by any registry or store object over the same data. Default: true.
    bool cache_chatbots = true;
    // Most bytes the chatbot cache takes (an estimate: the strings, and settings counted
    // as JsonLimits::max_parsed_bytes counts them) before it starts over. Default: 64 MiB.
    std::size_t chatbot_cache_bytes = 64 * 1024 * 1024;
    // Most chatbots one organization may hold; create past it throws Error(conflict)
    // naming the limit. Enforced by the store atomically with the insert.
    // Default: 10,000.
    std::size_t max_chatbots_per_org = 10'000;
    // How often the registry writes back when keys were last used (API.md section 12:
    // usage is kept in memory and written in one batch, never a write per capture). Also
    // written by flush_key_usage() and when the registry is destroyed. Zero: no
    // background writes (the host calls flush_key_usage()). Default: 60 s.
    std::chrono::milliseconds key_usage_flush_interval{60'000};
    // Time source for created_at, key issue and expiry, grace ends and last use.
    // Default: system_clock().
    std::shared_ptr<Clock> clock;
    // Source of keys and ids. Default: system_random() (libsodium).
    std::shared_ptr<RandomSource> random;
};

// A chatbot together with its full API key: returned once, by create and rotate_key.
struct ChatbotWithKey {
    Chatbot chatbot;
    std::string api_key;
    // rotate_key with a grace period: rotation time (whole seconds) + grace.
    std::optional<std::chrono::sys_seconds> previous_key_expires_at;
};

// Options of rotate_key (API.md sections 11 and 12).
struct RotateOptions {
    // How long the old key stays accepted: 0 (the default, v1) kills it at once; at most
    // kMaxGracePeriod.
    std::chrono::seconds grace{0};
    // When the new key expires; none: never. In the future, at most kMaxKeyLifetime ahead.
    std::optional<std::chrono::sys_seconds> key_expires_at;
};

// What check_key found. authenticate answers the key only for valid and previous_key.
enum class KeyVerdict {
    valid,         // the chatbot's current key
    previous_key,  // the old key of a rotation, within its grace period
    invalid,       // malformed, unknown, rotated away, or its chatbot deleted
    expired,       // a known key past its expiry, or a previous key past its grace
};

// Proof that an API key was valid when authenticate checked it: what capture takes. Only
// ChatbotRegistry makes one, so a hand-built value cannot stand in for a checked key.
class VerifiedKey {
  public:
    const std::string& chatbot_id() const noexcept { return chatbot_id_; }
    const std::string& org_id() const noexcept { return org_id_; }
    KeySlot slot() const noexcept { return slot_; }

  private:
    friend class ChatbotRegistry;
    VerifiedKey(std::string chatbot_id, std::string org_id, KeySlot slot, const Digest& digest)
        : chatbot_id_(std::move(chatbot_id)),
          org_id_(std::move(org_id)),
          slot_(slot),
          digest_(digest) {}
    std::string chatbot_id_;
    std::string org_id_;
    KeySlot slot_;
    Digest digest_;  // which key to credit with the capture's use
};

struct KeyCheck {
    KeyVerdict verdict = KeyVerdict::invalid;
    std::optional<VerifiedKey> key;  // set for valid and previous_key
};

// The registry: chatbots of every organization, over one ChatbotStore.
// Threading: every method may be called from many threads at once; methods block on the
// store. Any number of registries may share one store. Errors: every method throws
// chatbotmgr::Error (see the top of this file); the object stays usable after any of them.
class ChatbotRegistry {
  public:
    explicit ChatbotRegistry(std::shared_ptr<ChatbotStore> store, RegistryOptions options = {});
    ~ChatbotRegistry();
    ChatbotRegistry(const ChatbotRegistry&) = delete;
    ChatbotRegistry& operator=(const ChatbotRegistry&) = delete;

    // Every call below acts for an Actor (actor.hpp): its organization scopes the call,
    // and its role must be allowed to do the call's Action (permissions.hpp), checked
    // before anything else -- Error(forbidden) names the role needed. A plain organization
    // id converts to that organization's owner, who may do everything.

    std::vector<Chatbot> list(const Actor& actor) const;
    // One page of the list (API.md section 15); limit 1 to kMaxPageSize (invalid_argument,
    // field "limit").
    Page<Chatbot> list(const Actor& actor, const PageRequest& page) const;
    Chatbot get(const Actor& actor, std::string_view chatbot_id) const;
    // What get and list answer, from the registry's memory only (see cache_chatbots): for
    // a caller that must not block, such as an HTTP I/O thread. Null (nullopt) when the
    // answer is not cached -- then call get or list, which fill the cache. Never reaches
    // the store; throws what get and list throw before they would (forbidden, not_found
    // for a malformed id, invalid_argument for a limit). The snapshots are immutable and
    // stay valid after the cache has dropped them.
    std::shared_ptr<const Chatbot> cached_get(const Actor& actor,
                                              std::string_view chatbot_id) const;
    std::shared_ptr<const std::vector<Chatbot>> cached_list(const Actor& actor) const;
    std::optional<Page<Chatbot>> cached_list(const Actor& actor, const PageRequest& page) const;
    // key_expires_at: when the chatbot's API key expires (none: never); in the future, at
    // most kMaxKeyLifetime ahead, else invalid_argument naming "key_expires_at".
    ChatbotWithKey create(const Actor& actor, NewChatbot input,
                          std::optional<std::chrono::sys_seconds> key_expires_at = std::nullopt);
    // The same, retry-safe (idempotency.hpp): runs at most once per call.key within the
    // actor's organization and user; a retry answers the first answer (replayed) and creates
    // nothing. Throws invalid_argument (field "Idempotency-Key") for a malformed key,
    // idempotency_key_reused when the key was used with another request, and
    // idempotency_in_progress while the first call is still running.
    IdempotentAnswer create(const Actor& actor, NewChatbot input,
                            std::optional<std::chrono::sys_seconds> key_expires_at,
                            const IdempotentCall& call,
                            const AnswerEncoder<ChatbotWithKey>& encode);
    // Name replaced and settings merged (RFC 7396) in one atomic step; an empty patch
    // returns the chatbot unchanged.
    Chatbot update(const Actor& actor, std::string_view chatbot_id, ChatbotPatch patch);
    // Deletes the chatbot with its conversations, messages and analysis results; its key
    // is rejected by authenticate (of every registry over the same data) when this returns.
    void remove(const Actor& actor, std::string_view chatbot_id);
    // New key. Without a grace the old one is rejected by authenticate (of every registry
    // over the same data) when this returns; with one, it is accepted until rotation time
    // (whole seconds) + grace, and rejected from that instant on. Any rotation kills a
    // previous key still in its grace. invalid_argument names "grace_seconds" or
    // "key_expires_at".
    ChatbotWithKey rotate_key(const Actor& actor, std::string_view chatbot_id,
                              RotateOptions options = {});
    // The same, retry-safe, as the retry-safe create.
    IdempotentAnswer rotate_key(const Actor& actor, std::string_view chatbot_id,
                                RotateOptions options, const IdempotentCall& call,
                                const AnswerEncoder<ChatbotWithKey>& encode);
    // What an earlier retry-safe call with call.key (same actor, same operation) answered,
    // for a caller that checks before it even reads the request (API.md section 18): the
    // replay, or nullopt when the call has to run. Throws what the retry-safe calls throw
    // for the key: invalid_argument, idempotency_in_progress, idempotency_key_reused.
    std::optional<IdempotentAnswer> earlier_answer(const Actor& actor,
                                                   const IdempotentCall& call) const;
    // Ends the chatbot's grace period now: once this returns, authenticate (of every
    // registry over the same data) rejects the previous key. False when no previous key
    // was still accepted.
    bool end_grace(const Actor& actor, std::string_view chatbot_id);
    // The chatbot's current key and, while it is accepted, its previous key.
    ChatbotKeys keys(const Actor& actor, std::string_view chatbot_id) const;
    // The chatbot whose key api_key is; nullopt for a malformed, unknown, revoked or
    // expired key (never throws for a bad key). Throws unavailable when the store fails.
    std::optional<VerifiedKey> authenticate(std::string_view api_key) const;
    // authenticate, with the reason a key was refused (for metrics; never tell a client).
    KeyCheck check_key(std::string_view api_key) const;
    // Validates the batch (validate_capture, capture.hpp) and stores it for the key's
    // chatbot, then notes the key's use in memory (see key_usage_flush_interval). Throws
    // invalid_argument naming the field; unauthenticated when the chatbot was deleted
    // since authenticate.
    CaptureResult capture(const VerifiedKey& key, CaptureBatch batch);
    // Writes the key usage noted so far to the store now, in one batch. Throws
    // unavailable when the store fails (the usage is kept and written next time).
    void flush_key_usage();

    ChatbotStore& store() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace chatbotmgr
