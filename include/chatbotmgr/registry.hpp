// ChatbotRegistry: the one entry point of the core.
//
// Threading: every method is safe to call from many threads at once.
// Errors: every method throws chatbotmgr::Error (error.hpp) -- invalid_argument naming the
// field, not_found (also for another organization's chatbot), forbidden (the actor's role
// may not do this), unauthenticated (only from capture), unavailable (storage), internal. A bad API
// key is not an error: authenticate answers nullopt. Blocking: methods call the store
// synchronously; an HTTP host runs them off its I/O threads.
#pragma once

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
    // Most chatbots one organization may hold; create past it throws Error(conflict)
    // naming the limit. Enforced by the store atomically with the insert.
    // Default: 10,000.
    std::size_t max_chatbots_per_org = 10'000;
    // Time source for created_at. Default: system_clock().
    std::shared_ptr<Clock> clock;
    // Source of keys and ids. Default: system_random() (libsodium).
    std::shared_ptr<RandomSource> random;
};

// A chatbot together with its full API key: returned once, by create and rotate_key.
struct ChatbotWithKey {
    Chatbot chatbot;
    std::string api_key;
};

// Which of a chatbot's keys an API key matched. previous is only ever reported for the
// old key of a rotation with a grace period (API.md section 11).
enum class KeySlot { current, previous };

// Proof that an API key was valid when authenticate checked it: what capture takes. Only
// ChatbotRegistry makes one, so a hand-built value cannot stand in for a checked key.
class VerifiedKey {
  public:
    const std::string& chatbot_id() const noexcept { return chatbot_id_; }
    const std::string& org_id() const noexcept { return org_id_; }
    KeySlot slot() const noexcept { return slot_; }

  private:
    friend class ChatbotRegistry;
    VerifiedKey(std::string chatbot_id, std::string org_id, KeySlot slot)
        : chatbot_id_(std::move(chatbot_id)), org_id_(std::move(org_id)), slot_(slot) {}
    std::string chatbot_id_;
    std::string org_id_;
    KeySlot slot_;
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
    Chatbot get(const Actor& actor, std::string_view chatbot_id) const;
    ChatbotWithKey create(const Actor& actor, NewChatbot input);
    // Name replaced and settings merged (RFC 7396) in one atomic step; an empty patch
    // returns the chatbot unchanged.
    Chatbot update(const Actor& actor, std::string_view chatbot_id, ChatbotPatch patch);
    // Deletes the chatbot with its conversations, messages and analysis results; its key
    // is rejected by authenticate (of every registry over the same data) when this returns.
    void remove(const Actor& actor, std::string_view chatbot_id);
    // New key; the old one is rejected by authenticate (of every registry over the same
    // data) when this returns.
    ChatbotWithKey rotate_key(const Actor& actor, std::string_view chatbot_id);
    // The chatbot whose key api_key is; nullopt for a malformed, unknown or revoked key
    // (never throws for a bad key). Throws unavailable when the store fails.
    std::optional<VerifiedKey> authenticate(std::string_view api_key) const;
    // Validates the batch (validate_capture, capture.hpp) and stores it for the key's
    // chatbot. Throws invalid_argument naming the field; unauthenticated when the chatbot
    // was deleted since authenticate.
    CaptureResult capture(const VerifiedKey& key, CaptureBatch batch);

    ChatbotStore& store() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace chatbotmgr
