// MemoryStore: a thread-safe in-memory implementation of both storage ports.
// What integrators use in their unit tests; nothing survives the process.
#pragma once

#include <memory>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/storage.hpp"

namespace chatbotmgr {

// Also a JournalStore (journal.hpp): its audit events and idempotency records.
// Threading: every method may be called from many threads at once (one lock over all
// data, so the last-owner rule of set_role and remove_user and the single use of an
// invitation are atomic). Errors: conflict for a duplicate id, key digest, email,
// invitation or session, as the ports say; never unavailable. update() calls mutate under the lock:
// mutate must not call back into the store.
class MemoryStore final : public ChatbotStore,
                          public StoreInspection,
                          public AccountStore,
                          public JournalStore {
  public:
    MemoryStore();
    ~MemoryStore() override;

    using ChatbotStore::insert;
    bool insert(const Chatbot& chatbot, const NewKey& key, std::size_t max_in_org,
                JournalEntry entry) override;
    std::vector<Chatbot> list(std::string_view org_id) override;
    std::optional<Chatbot> get(std::string_view org_id, std::string_view id) override;
    std::optional<Chatbot> update(std::string_view org_id, std::string_view id,
                                  const std::function<void(Chatbot&)>& mutate,
                                  JournalEntry entry) override;
    bool remove(std::string_view org_id, std::string_view id, JournalEntry entry) override;
    std::optional<Chatbot> replace_key(std::string_view org_id, std::string_view id,
                                       const NewKey& key,
                                       std::optional<std::chrono::sys_seconds> previous_until,
                                       JournalEntry entry) override;
    std::optional<bool> drop_previous_key(std::string_view org_id, std::string_view id,
                                          std::chrono::sys_seconds now,
                                          JournalEntry entry) override;
    std::optional<ChatbotKeys> keys(std::string_view org_id, std::string_view id) override;
    std::optional<KeyOwner> find_by_key_digest(const Digest& digest) override;
    void record_key_usage(std::span<const KeyUsage> usage) override;
    std::optional<CaptureResult> append_capture(std::string_view chatbot_id,
                                                const CaptureBatch& batch) override;
    bool record_analysis(std::string_view chatbot_id, std::string_view conversation_id,
                         std::string_view kind, std::string_view result_json) override;
    ChatbotDataCounts count_data(std::string_view chatbot_id) override;
    void ping() override {}

    Organization find_or_create_organization(std::string_view name,
                                             std::string_view new_id) override;
    std::optional<Organization> find_organization(std::string_view id) override;
    std::vector<Organization> list_organizations() override;
    void insert_user(const User& user, std::string_view email_lower, std::string_view password_hash,
                     JournalEntry entry) override;
    std::optional<std::pair<User, std::string>> find_user_by_email(
        std::string_view email_lower) override;
    std::size_t count_users() override;
    std::vector<User> list_users(std::string_view org_id) override;
    std::optional<User> find_user(std::string_view org_id, std::string_view user_id) override;
    MemberChange set_role(std::string_view org_id, std::string_view user_id, Role role,
                          JournalEntry entry) override;
    MemberChange remove_user(std::string_view org_id, std::string_view user_id,
                             JournalEntry entry) override;
    void insert_invitation(const Invitation& invitation, std::string_view email_lower,
                           const Digest& token_digest, JournalEntry entry) override;
    std::vector<Invitation> list_invitations(std::string_view org_id,
                                             std::chrono::sys_seconds now) override;
    bool revoke_invitation(std::string_view org_id, std::string_view id,
                           std::chrono::sys_seconds now, JournalEntry entry) override;
    std::pair<InvitationAcceptance, std::optional<User>> accept_invitation(
        const Digest& token_digest, std::chrono::sys_seconds now, std::string_view new_user_id,
        std::string_view password_hash, JournalEntry entry) override;
    void insert_session(const SessionRecord& session, JournalEntry entry) override;
    std::optional<SessionRecord> find_session(const Digest& token_digest) override;
    bool delete_session(const Digest& token_digest, JournalEntry entry) override;
    std::size_t delete_expired_sessions(std::chrono::sys_seconds now) override;

    // Both ports' (one override serves ChatbotStore and AccountStore).
    std::optional<IdempotencyRecord> find_idempotency_record(const Digest& scope,
                                                             std::chrono::sys_seconds now) override;

    std::vector<AuditEvent> list_audit_events(std::string_view org_id, const AuditQuery& query,
                                              const std::optional<PagePosition>& after,
                                              std::size_t limit) override;
    std::size_t prune_audit_events(std::chrono::sys_seconds cutoff, std::size_t max) override;
    std::size_t prune_idempotency_records(std::chrono::sys_seconds now, std::size_t max) override;

    std::optional<std::uint64_t> key_generation() const noexcept override;
    std::optional<std::uint64_t> chatbot_generation(
        std::string_view org_id) const noexcept override;
    std::optional<std::uint64_t> session_generation() const noexcept override;

  private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace chatbotmgr
