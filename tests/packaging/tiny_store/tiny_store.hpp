// TinyStore: a deliberately small ChatbotStore, written the way an integrator would start
// one for their own engine -- a few std::maps under one mutex. It exists to show that the
// storage conformance suite of chatbotmgr::testing runs against anyone's storage with a
// few lines (tiny_store_conformance_test.cpp), not to be used. It also implements
// StoreInspection, which gives it the suite's delete-cascade cases, and reports a
// key_generation(), which lets registries cache key lookups.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include <chatbotmgr/clock.hpp>
#include <chatbotmgr/storage.hpp>

namespace tiny {

class TinyStore final : public chatbotmgr::ChatbotStore, public chatbotmgr::StoreInspection {
  public:
    explicit TinyStore(
        std::shared_ptr<chatbotmgr::RandomSource> random = chatbotmgr::system_random())
        : random_(std::move(random)) {}

    using chatbotmgr::ChatbotStore::insert;
    bool insert(const chatbotmgr::Chatbot& chatbot, const chatbotmgr::NewKey& key,
                std::size_t max_in_org) override;
    std::vector<chatbotmgr::Chatbot> list(std::string_view org_id) override;
    std::optional<chatbotmgr::Chatbot> get(std::string_view org_id, std::string_view id) override;
    std::optional<chatbotmgr::Chatbot> update(
        std::string_view org_id, std::string_view id,
        const std::function<void(chatbotmgr::Chatbot&)>& mutate) override;
    bool remove(std::string_view org_id, std::string_view id) override;
    std::optional<chatbotmgr::Chatbot> replace_key(
        std::string_view org_id, std::string_view id, const chatbotmgr::NewKey& key,
        std::optional<std::chrono::sys_seconds> previous_until) override;
    std::optional<bool> drop_previous_key(std::string_view org_id, std::string_view id,
                                          std::chrono::sys_seconds now) override;
    std::optional<chatbotmgr::ChatbotKeys> keys(std::string_view org_id,
                                                std::string_view id) override;
    std::optional<chatbotmgr::KeyOwner> find_by_key_digest(
        const chatbotmgr::Digest& digest) override;
    void record_key_usage(std::span<const chatbotmgr::KeyUsage> usage) override;
    std::optional<chatbotmgr::CaptureResult> append_capture(
        std::string_view chatbot_id, const chatbotmgr::CaptureBatch& batch) override;
    void ping() override {}
    // Grows after every remove, replace_key and drop_previous_key, before they return.
    std::optional<std::uint64_t> key_generation() const noexcept override {
        return key_generation_.load();
    }

    // StoreInspection.
    bool record_analysis(std::string_view chatbot_id, std::string_view conversation_id,
                         std::string_view kind, std::string_view result_json) override;
    chatbotmgr::ChatbotDataCounts count_data(std::string_view chatbot_id) override;

  private:
    struct Key {
        chatbotmgr::Digest digest{};
        chatbotmgr::KeyState state;
    };
    struct Row {
        chatbotmgr::Chatbot chatbot;
        Key key;
        std::optional<Key> previous;
    };
    struct Conversation {
        std::string id;  // internal UUID
        std::set<std::string> message_ids;
        std::size_t messages = 0;
        std::size_t analyses = 0;
    };
    using ConversationKey = std::pair<std::string, std::string>;  // chatbot id, external id

    Row* find(std::string_view org_id, std::string_view id);
    void drop_previous(Row& row);

    std::mutex mutex_;                              // guards everything below
    std::map<std::string, Row, std::less<>> rows_;  // by chatbot id
    std::map<chatbotmgr::Digest, std::string> ids_by_digest_;
    std::map<ConversationKey, Conversation> conversations_;
    std::atomic<std::uint64_t> key_generation_{0};
    std::shared_ptr<chatbotmgr::RandomSource> random_;
};

}  // namespace tiny
