// PostgresStore: both storage ports (ChatbotStore, AccountStore) and the journal
// (JournalStore) on PostgreSQL, via libpq.
//
// Made for several server instances sharing one database: the schema is migrated at
// construction (serialized by an advisory lock, so instances may start together), every
// acknowledged write is committed with synchronous_commit=on, and nothing is cached in
// the process (it reports no key_generation(), so the registry and Accounts read keys and
// sessions from the database every time).
//
// Threading: every method may be called from many threads at once. A read borrows one
// connection of a pool for its duration. Writes share transactions (group commit, see
// write_lanes): the caller at the front of a queue runs the writes queued behind it, each
// in its own savepoint, in one transaction on one pooled connection with its statements
// pipelined, and every caller returns once the COMMIT that holds its write has succeeded.
// A write that fails is rolled back alone; if the shared transaction is lost, every write
// of it that had not failed by itself throws unavailable and none of them was written.
// Failures: a lost connection, a server that is down or restarting, a statement or lock
// wait past statement_timeout, or a pool exhausted past acquire_timeout throw
// Error(ErrorCode::unavailable). The broken connection is replaced on a later call, so
// the store heals by itself once the server answers again. A unique violation throws
// Error(ErrorCode::conflict). Messages never contain values, keys or digests.
// Caveat: when the connection drops while COMMIT is in flight, the call throws
// unavailable although the server may have committed (no client can know).
// Journal: every write stores its entry in the transaction (savepoint) of its change. Writes of the
// same idempotency scope on several instances take turns on the record's row: the second waits for
// the first to commit, then fails with conflict (field "Idempotency-Key"), so a retry never runs
// twice.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/clock.hpp"
#include "chatbotmgr/storage.hpp"

namespace chatbotmgr::postgres {

struct PostgresOptions {
    // libpq connection string, keyword form ("host=/run/pg dbname=chatbotmgr user=app") or
    // URI ("postgresql://app@127.0.0.1:5432/chatbotmgr"). Unset parts come from libpq's
    // defaults and PG* environment variables. Default: "" (all from the environment).
    std::string conninfo;
    // Most connections the pool opens. Each call holds one for its duration.
    // Default: 8.
    std::size_t pool_size = 8;
    // Limit on establishing one connection (libpq connect_timeout, whole seconds, at
    // least 2 as libpq requires). Default: 5 s.
    std::chrono::seconds connect_timeout{5};
    // Server-side limit on one statement, lock waits included (statement_timeout); past
    // it the call throws unavailable. Default: 10 s.
    std::chrono::milliseconds statement_timeout{10'000};
    // How long the client waits for a reply before it declares the connection dead (a
    // vanished host or a network partition sends no error). Should exceed
    // statement_timeout. Default: 15 s.
    std::chrono::milliseconds network_timeout{15'000};
    // How long a call waits for a free pooled connection before it throws unavailable.
    // Default: 10 s.
    std::chrono::milliseconds acquire_timeout{10'000};
    // Writes from many threads share transactions (group commit): the caller at the front
    // of the queue commits the writes queued behind it, each in its own savepoint, in one
    // transaction on one pooled connection, and each caller returns once that COMMIT has
    // succeeded. Most writes in one transaction: 1 to 64 (PostgreSQL caches 64
    // subtransaction ids per backend; more would slow every snapshot on the server).
    // Default: 64.
    std::size_t max_batch = 64;
    // Write transactions in flight at once, each on a pooled connection of its own (the
    // lanes of the group commit). Writes that lock the same rows (one chatbot, one
    // conversation, one organization's chatbot quota) queue in one lane and share its
    // transactions instead of waiting on each other's row locks; other writes run side by
    // side in other lanes, and share transactions once every lane is busy. 1 to pool_size;
    // 0 means pool_size. Default: 0.
    std::size_t write_lanes = 0;
    // How long a write inside a shared transaction waits for a lock that another
    // transaction holds (another instance's batch, a long transaction) before it leaves the
    // batch and runs again on its own, where it waits up to statement_timeout like any
    // transaction. Only a write that has not yet run user code (a mutate or complete
    // callback) runs again; one that has fails with unavailable instead (only the
    // idempotency record's insert waits there, and without this limit). Keeps one lock
    // from stalling every write of the process, and two instances' batches from
    // deadlocking. At most half of statement_timeout. Default: 100 ms.
    std::chrono::milliseconds batch_lock_timeout{100};
    // Called after each commit of a write transaction with its time (BEGIN to the end of
    // COMMIT) and its number of writes, on the committing caller's thread before any
    // writer of the batch returns; possibly from several threads at once (a write that
    // left its batch commits on its own thread). Keep it short, must not throw, must not
    // call the store. Default: none.
    std::function<void(std::chrono::nanoseconds duration, std::size_t batch)> on_commit;
    // Apply pending schema migrations at construction. When false, the constructor only
    // checks that the schema is at the version this build expects. Default: true.
    bool migrate = true;
    // Timestamps of conversations, messages and analysis results. Default: system_clock().
    std::shared_ptr<Clock> clock;
    // Source of conversation ids. Default: system_random().
    std::shared_ptr<RandomSource> random;
};

class PostgresStore final : public ChatbotStore,
                            public StoreInspection,
                            public AccountStore,
                            public JournalStore {
  public:
    // Connects once and migrates (or checks) the schema. Throws Error(unavailable) when
    // the server cannot be reached, Error(invalid_argument) for bad options, and
    // Error(internal) when the database holds a newer schema than this build knows.
    explicit PostgresStore(PostgresOptions options = {});
    ~PostgresStore() override;
    PostgresStore(const PostgresStore&) = delete;
    PostgresStore& operator=(const PostgresStore&) = delete;

    // The schema version this build migrates to.
    static int schema_version() noexcept;

    // ChatbotStore. update() runs mutate exactly once, inside the write transaction and
    // possibly on another caller's thread (the one committing the batch): keep it short,
    // and do not call the store's write methods from it (that throws Error(internal)). The
    // same holds for a JournalEntry's complete callback.
    using ChatbotStore::insert;
    bool insert(const Chatbot& chatbot, const NewKey& key, std::size_t max_in_org,
                JournalEntry entry) override;
    std::vector<Chatbot> list(std::string_view org_id) override;
    std::vector<Chatbot> list_page(std::string_view org_id,
                                   const std::optional<PagePosition>& after,
                                   std::size_t limit) override;
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
    void ping() override;

    // AccountStore. set_role and remove_user lock the organization's row first (SELECT
    // ... FOR NO KEY UPDATE), so the member changes of one organization take turns on
    // every instance and the last-owner count is exact; accept_invitation locks the
    // invitation's row, so concurrent accepts of one token take turns and one wins.
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
    std::vector<User> list_users_page(std::string_view org_id,
                                      const std::optional<PagePosition>& after,
                                      std::size_t limit) override;
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

    // JournalStore. list_audit_events is a keyset query on (org_id, created_at, id); the
    // prunes delete at most max rows per statement, so writers wait on them only briefly.
    std::vector<AuditEvent> list_audit_events(std::string_view org_id, const AuditQuery& query,
                                              const std::optional<PagePosition>& after,
                                              std::size_t limit) override;
    std::size_t prune_audit_events(std::chrono::sys_seconds cutoff, std::size_t max) override;
    std::size_t prune_idempotency_records(std::chrono::sys_seconds now, std::size_t max) override;

    // Other server instances change the same database.

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace chatbotmgr::postgres
