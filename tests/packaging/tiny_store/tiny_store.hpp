// TinyStore: a deliberately small ChatbotStore, written the way an integrator would start
// one for their own engine -- a few std::maps under one mutex. It exists to show that the
// storage conformance suite of chatbotmgr::testing runs against anyone's storage with a
// few lines (tiny_store_conformance_test.cpp), not to be used. Beside the port it implements
// JournalStore (journal.hpp: every write keeps its audit event and idempotency record
// under the same lock as its change) and StoreInspection, which gives it the suite's
// delete-cascade cases, and it reports a key_generation(), which lets registries cache key
// lookups.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <chatbotmgr/clock.hpp>
#include <chatbotmgr/journal.hpp>
#include <chatbotmgr/storage.hpp>

namespace tiny {

class TinyStore final : public chatbotmgr::ChatbotStore,
                        public chatbotmgr::JournalStore,
                        public chatbotmgr::StoreInspection {
  public:
    explicit TinyStore(
        std::shared_ptr<chatbotmgr::RandomSource> random = chatbotmgr::system_random())
        : random_(std::move(random)) {}

    using chatbotmgr::ChatbotStore::insert;
    bool insert(const chatbotmgr::Chatbot& chatbot, const chatbotmgr::NewKey& key,
                std::size_t max_in_org, chatbotmgr::JournalEntry entry) override;
    std::vector<chatbotmgr::Chatbot> list(std::string_view org_id) override;
    std::optional<chatbotmgr::Chatbot> get(std::string_view org_id, std::string_view id) override;
    std::optional<chatbotmgr::Chatbot> update(
        std::string_view org_id, std::string_view id,
        const std::function<void(chatbotmgr::Chatbot&)>& mutate,
        chatbotmgr::JournalEntry entry) override;
    bool remove(std::string_view org_id, std::string_view id,
                chatbotmgr::JournalEntry entry) override;
    std::optional<chatbotmgr::Chatbot> replace_key(
        std::string_view org_id, std::string_view id, const chatbotmgr::NewKey& key,
        std::optional<std::chrono::sys_seconds> previous_until,
        chatbotmgr::JournalEntry entry) override;
    std::optional<bool> drop_previous_key(std::string_view org_id, std::string_view id,
                                          std::chrono::sys_seconds now,
                                          chatbotmgr::JournalEntry entry) override;
    std::optional<chatbotmgr::ChatbotKeys> keys(std::string_view org_id,
                                                std::string_view id) override;
    std::optional<chatbotmgr::KeyOwner> find_by_key_digest(
        const chatbotmgr::Digest& digest) override;
    void record_key_usage(std::span<const chatbotmgr::KeyUsage> usage) override;
    std::optional<chatbotmgr::CaptureResult> append_capture(
        std::string_view chatbot_id, const chatbotmgr::CaptureBatch& batch) override;
    std::optional<chatbotmgr::IdempotencyRecord> find_idempotency_record(
        const chatbotmgr::Digest& scope, std::chrono::sys_seconds now) override;
    void ping() override {}
    // Grows after every remove, replace_key and drop_previous_key, before they return.
    std::optional<std::uint64_t> key_generation() const noexcept override {
        return key_generation_.load();
    }

    // JournalStore.
    std::vector<chatbotmgr::AuditEvent> list_audit_events(
        std::string_view org_id, const chatbotmgr::AuditQuery& query,
        const std::optional<chatbotmgr::PagePosition>& after, std::size_t limit) override;
    std::size_t prune_audit_events(std::chrono::sys_seconds cutoff, std::size_t max) override;
    std::size_t prune_idempotency_records(std::chrono::sys_seconds now, std::size_t max) override;

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
    // The journal, under the same lock as the change it records: check before the change
    // (a refused entry leaves nothing behind), write after it.
    void check_journal(const chatbotmgr::JournalEntry& entry) const;
    void write_journal(chatbotmgr::JournalEntry&& entry);

    std::mutex mutex_;                              // guards everything below
    std::map<std::string, Row, std::less<>> rows_;  // by chatbot id
    std::map<chatbotmgr::Digest, std::string> ids_by_digest_;
    std::map<ConversationKey, Conversation> conversations_;
    std::vector<chatbotmgr::AuditEvent> events_;  // oldest first by (created_at, id)
    std::map<chatbotmgr::Digest, chatbotmgr::IdempotencyRecord> idempotency_;  // by scope
    std::atomic<std::uint64_t> key_generation_{0};
    std::shared_ptr<chatbotmgr::RandomSource> random_;
};

}  // namespace tiny
