// ChatbotRegistry: the one entry point of the core.
//
// Threading: every method is safe to call from many threads at once.
// Errors: every method throws chatbotmgr::Error (error.hpp) -- invalid_argument naming the
// field, not_found (also for another organization's chatbot), unauthenticated (only from
// authenticate), unavailable (storage), internal.
// Blocking: methods call the store synchronously; an HTTP host runs them off its I/O threads.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chatbotmgr/capture.hpp"
#include "chatbotmgr/chatbot.hpp"
#include "chatbotmgr/clock.hpp"
#include "chatbotmgr/storage.hpp"

namespace chatbotmgr {

struct RegistryOptions {
    // Cache verified key digests in memory so authenticate does not reach the store.
    // Only used when the store is exclusive_to_this_process(); rotation, deletion and
    // updates through this registry invalidate it before they return.
    // Default: true.
    bool cache_keys = true;
    // Most entries the key cache holds before it starts over. Default: 100,000.
    std::size_t key_cache_capacity = 100'000;
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

// The registry: chatbots of every organization, over one ChatbotStore.
// Threading: every method may be called from many threads at once; methods block on the
// store. Errors: every method throws chatbotmgr::Error (see the top of this file); the
// object stays usable after any of them.
class ChatbotRegistry {
  public:
    explicit ChatbotRegistry(std::shared_ptr<ChatbotStore> store, RegistryOptions options = {});
    ~ChatbotRegistry();
    ChatbotRegistry(const ChatbotRegistry&) = delete;
    ChatbotRegistry& operator=(const ChatbotRegistry&) = delete;

    std::vector<Chatbot> list(std::string_view org_id) const;
    Chatbot get(std::string_view org_id, std::string_view chatbot_id) const;
    ChatbotWithKey create(std::string_view org_id, NewChatbot input);
    // Name replaced and settings merged (RFC 7396) in one atomic step; an empty patch
    // returns the chatbot unchanged.
    Chatbot update(std::string_view org_id, std::string_view chatbot_id, ChatbotPatch patch);
    // Deletes the chatbot with its conversations, messages and analysis results; its key
    // is rejected by authenticate when this returns.
    void remove(std::string_view org_id, std::string_view chatbot_id);
    // New key; the old one is rejected by authenticate when this returns.
    ChatbotWithKey rotate_key(std::string_view org_id, std::string_view chatbot_id);
    // The chatbot whose current key is api_key; throws Error(unauthenticated) otherwise.
    Chatbot authenticate(std::string_view api_key) const;
    // Stores a validated capture for an authenticated chatbot. Throws unauthenticated when
    // the chatbot was deleted meanwhile.
    CaptureResult capture(const Chatbot& chatbot, const CaptureBatch& batch);

    ChatbotStore& store() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace chatbotmgr
