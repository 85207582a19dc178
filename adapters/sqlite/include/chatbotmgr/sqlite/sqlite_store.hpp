// SqliteStore: both storage ports (ChatbotStore, AccountStore) on one SQLite file.
//
// The embedded default. One writer connection commits the writes of all concurrent
// callers in shared transactions (group commit: the caller at the front of the queue
// commits the batch, one fsync for all, each caller acknowledged only after that commit);
// reads run on a small pool of read connections in WAL mode, so they never wait for the
// writer. No connection is ever used by two threads at once.
//
// Threading: every method may be called from many threads at once.
// Errors: as the ports say -- engine failures (disk full, read-only, I/O error, corrupt
// file, locked past busy_timeout) throw Error(unavailable), uniqueness violations throw
// Error(conflict). The store recovers by itself once the fault clears.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/clock.hpp"
#include "chatbotmgr/group_commit.hpp"
#include "chatbotmgr/journal.hpp"
#include "chatbotmgr/storage.hpp"

namespace chatbotmgr::sqlite {

// PRAGMA synchronous for the WAL. full: an acknowledged write survives power loss.
// normal: it survives a crash of the process but may be lost on power loss.
enum class Synchronous { full, normal };

struct SqliteOptions {
    // Database file; created (with its schema) when missing. Default: "chatbotmgr.db".
    std::string path = "chatbotmgr.db";
    // Default: Synchronous::full.
    Synchronous synchronous = Synchronous::full;
    // How long a connection waits for a lock held by another connection or process
    // before the call fails with Error(unavailable). Default: 5 seconds.
    std::chrono::milliseconds busy_timeout = std::chrono::seconds(5);
    // Caps the database file at this many pages (PRAGMA max_page_count); writes past it
    // fail with Error(unavailable) like a full disk. Default: unset (SQLite's own limit).
    std::optional<std::int64_t> max_page_count;
    // Number of read connections (each opened on first use). Default: 4.
    std::size_t read_connections = 4;
    // Most write calls committed together in one transaction. Default: 256.
    std::size_t max_batch = 256;
    // Time source for conversation, message and analysis timestamps.
    // Default: system_clock().
    std::shared_ptr<Clock> clock;
    // Source of conversation ids. Default: system_random().
    std::shared_ptr<RandomSource> random;
    // Called after each group commit with its time (BEGIN to the end of COMMIT, fsync
    // included) and the number of writes it committed -- for metrics
    // (prometheus::PrometheusMetrics::storage_committed). It runs on the committing
    // caller's thread before any writer of the group is woken: keep it short, must not
    // throw, must not call the store. Default: none.
    std::function<void(std::chrono::nanoseconds duration, std::size_t batch)> on_commit;
};

// Connection settings as SQLite reports them (for tests and diagnostics).
struct ConnectionSettings {
    std::string journal_mode;   // "wal"
    int synchronous = 0;        // 2 = FULL, 1 = NORMAL
    bool foreign_keys = false;  // true
    std::int64_t busy_timeout_ms = 0;
    std::int64_t max_page_count = 0;
    int user_version = 0;  // schema version of the file
};

// Also a JournalStore (journal.hpp): every write writes its JournalEntry in its own write
// job, so the event and the change commit or roll back together. And a GroupCommit
// (group_commit.hpp): whole calls run on a writer thread of the store's own, their writes
// joining its groups.
class SqliteStore final : public ChatbotStore,
                          public StoreInspection,
                          public AccountStore,
                          public JournalStore,
                          public GroupCommit {
  public:
    // Opens (creating when missing, with mode 0600) and migrates the database. Any number
    // of SqliteStore objects in one process may share a file; another process may not:
    // the first store takes an exclusive lock on "<path>-lock" for its process.
    // Throws Error(unavailable) when the file cannot be opened, is not a database, has a
    // schema newer than this build knows, or is open in another process. (A process that
    // forks while a store is open keeps the lock in both halves: don't.)
    explicit SqliteStore(SqliteOptions options = {});
    // Finishes every queued write, then closes the connections.
    ~SqliteStore() override;
    SqliteStore(const SqliteStore&) = delete;
    SqliteStore& operator=(const SqliteStore&) = delete;

    // The schema version (PRAGMA user_version) this build migrates files to.
    static int schema_version() noexcept;

    // GroupCommit. The call's run() may use this store's methods (and those of a registry
    // or Accounts over it); writes through another SqliteStore object would wait for this
    // one's open transaction.
    void submit(std::unique_ptr<GroupCommitCall> call) override;

    // ChatbotStore. update() runs mutate exactly once, inside the write transaction and
    // possibly on another caller's thread (the one committing the batch): keep it short,
    // and do not call the store's write methods from it (that throws Error(internal)).
    // The same holds for a JournalEntry's complete callback.
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
    // Shared by every SqliteStore over the same file in this process; another process
    // cannot open the file meanwhile (see the constructor), so the generations are exact.
    std::optional<std::uint64_t> key_generation() const noexcept override;
    std::optional<std::uint64_t> chatbot_generation(
        std::string_view org_id) const noexcept override;
    std::optional<std::uint64_t> session_generation() const noexcept override;

    // AccountStore. set_role, remove_user and accept_invitation are each one write job;
    // the writer runs jobs one at a time, so the last-owner count and the change it
    // allows, or the check that an invitation is pending and its use, cannot interleave
    // with another caller's. session_generation() moves after every delete_session and
    // every set_role and remove_user that changed a user.
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

    // JournalStore. list_audit_events is one keyset query on the organization's
    // (created_at, id) index; each prune is one write job of at most max rows, so a large
    // backlog never holds the writer long.
    std::vector<AuditEvent> list_audit_events(std::string_view org_id, const AuditQuery& query,
                                              const std::optional<PagePosition>& after,
                                              std::size_t limit) override;
    std::size_t prune_audit_events(std::chrono::sys_seconds cutoff, std::size_t max) override;
    std::size_t prune_idempotency_records(std::chrono::sys_seconds now, std::size_t max) override;

    // The settings of the writer connection and of a read connection.
    ConnectionSettings writer_settings();
    ConnectionSettings reader_settings();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace chatbotmgr::sqlite
