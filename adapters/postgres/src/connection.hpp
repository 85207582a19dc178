// Internal: one libpq connection with deadlines, lazily prepared statements and error
// mapping to chatbotmgr::Error.
#pragma once

#include <libpq-fe.h>

#include <bitset>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/secrets.hpp"

namespace chatbotmgr::postgres::detail {

// A failed statement: the mapped Error plus the server's SQLSTATE ("" when libpq itself
// failed, e.g. on a lost connection), for callers that treat some states specially.
class DbError : public Error {
  public:
    DbError(ErrorCode code, std::string message, std::string sqlstate)
        : Error(code, std::move(message)), sqlstate_(std::move(sqlstate)) {}
    const std::string& sqlstate() const noexcept { return sqlstate_; }

  private:
    std::string sqlstate_;
};

inline constexpr std::string_view kForeignKeyViolation = "23503";

// Owns a PGresult; text-format columns.
class Result {
  public:
    Result() = default;
    explicit Result(PGresult* result) : result_(result) {}

    explicit operator bool() const noexcept { return result_ != nullptr; }
    PGresult* get() const noexcept { return result_.get(); }
    int rows() const noexcept { return result_ ? PQntuples(result_.get()) : 0; }
    bool is_null(int row, int column) const noexcept {
        return PQgetisnull(result_.get(), row, column) != 0;
    }
    std::string_view text(int row, int column) const noexcept {
        return {PQgetvalue(result_.get(), row, column),
                static_cast<std::size_t>(PQgetlength(result_.get(), row, column))};
    }
    std::string string(int row, int column) const { return std::string(text(row, column)); }
    std::int64_t int64(int row, int column) const;
    // Rows touched by INSERT/UPDATE/DELETE.
    std::size_t affected() const;

  private:
    struct Clear {
        void operator()(PGresult* r) const noexcept { PQclear(r); }
    };
    std::unique_ptr<PGresult, Clear> result_;
};

// Statement parameters. Text goes in binary format with an explicit length: no copy, no
// NUL terminator needed, and a NUL byte reaches the server (which rejects it) instead of
// silently cutting the value short. The referenced data must outlive the call.
class Params {
  public:
    Params& text(std::string_view value);
    Params& optional_text(const std::optional<std::string>& value);  // null when absent
    Params& bytes(const Digest& value);
    Params& bytes(std::string_view value);  // any binary value, for a bytea column
    Params& int64(std::int64_t value);
    Params& null();

    int size() const noexcept { return static_cast<int>(values_.size()); }
    const char* const* values() const noexcept { return values_.data(); }
    const int* lengths() const noexcept { return lengths_.data(); }
    const int* formats() const noexcept { return formats_.data(); }

  private:
    std::vector<const char*> values_;
    std::vector<int> lengths_;
    std::vector<int> formats_;
    std::deque<std::string> owned_;  // decimal text of integers; deque keeps addresses
};

// The statements every connection prepares on first use.
enum class Stmt : unsigned {
    ping,
    insert_chatbot,
    lock_org_chatbots,
    count_org_chatbots,
    list_chatbots,
    list_chatbots_page,
    get_chatbot,
    get_chatbot_for_update,
    update_chatbot,
    delete_chatbot,
    replace_key,
    digest_taken,
    drop_previous_key,
    select_keys,
    record_key_use,
    find_by_key_digest,
    upsert_conversation,
    record_analysis,
    count_data,
    find_org_by_name,
    insert_org,
    find_org_by_id,
    list_orgs,
    insert_user,
    find_user_by_email,
    count_users,
    list_users,
    list_users_page,
    find_user,
    lock_organization,
    count_owners,
    update_role,
    delete_user,
    insert_invitation,
    list_invitations,
    revoke_invitation,
    take_invitation,
    insert_invited_user,
    mark_invitation_accepted,
    insert_session,
    find_session,
    delete_session,
    delete_expired_sessions,
    insert_audit_event,
    put_idempotency_record,
    find_idempotency_record,
    prune_audit_events,
    prune_idempotency_records,
    // Transaction control of the write batches (group_commit.hpp), prepared like the rest.
    tx_begin,
    tx_commit,
    tx_rollback,
    savepoint,
    release_savepoint,
    rollback_to_savepoint,
    set_lock_timeout,
    count_  // number of statements
};

struct ConnectSettings {
    std::string conninfo;
    std::chrono::seconds connect_timeout{5};
    std::chrono::milliseconds statement_timeout{10'000};
    std::chrono::milliseconds network_timeout{15'000};
};

// Not thread-safe: the pool hands a connection to one caller at a time.
class Connection {
  public:
    // Connects and configures the session. Throws Error(unavailable) on failure.
    static std::unique_ptr<Connection> open(const ConnectSettings& settings);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Runs a prepared statement (preparing it first on this connection if needed).
    Result exec(Stmt statement, const Params& params);
    // Runs one parameterized statement built at run time (a capture of n messages, an audit
    // query's filters): prepared too, for the first kDynamicSlots texts this connection
    // sees, the others through the unnamed statement.
    Result exec(const std::string& sql, const Params& params);
    // Runs parameterless SQL (may hold several statements) through the simple protocol.
    Result exec_simple(const char* sql);

    // Pipeline mode: statements sent one after the other without waiting, then one sync()
    // for all of them: one round trip. send() enters pipeline mode (and prepares the
    // statement first on this connection if needed); libpq copies the parameters at once,
    // so they need not outlive the call. exec() and exec_simple() refuse to run while
    // statements are sent and not yet synced.
    void send(Stmt statement, const Params& params);
    void send(const std::string& sql, const Params& params);
    // What sync() reports: a Result per statement sent, in order (empty when the statement
    // failed or was skipped). After a failed statement the server skips the rest until the
    // sync: failed is the index of the statement that failed, and error its error.
    struct Round {
        std::vector<Result> results;
        std::optional<std::size_t> failed;
        std::optional<DbError> error;
    };
    // Ends the round: sends the sync, reads every result and leaves pipeline mode. The
    // network timeout applies to each reply (the clock restarts whenever one arrives).
    // Throws Error(unavailable) only when the connection is lost or times out (it is then
    // broken); statement failures are reported in the Round.
    Round sync();
    // Statements sent since the last sync().
    std::size_t pending() const noexcept { return pending_statements_; }

    // False once the connection was lost or timed out; the pool then replaces it.
    bool broken() const noexcept { return broken_; }
    // Cheap local check before reuse: healthy, idle, and the server has not said anything
    // (an idle connection that becomes readable is being closed by the server).
    bool reusable() noexcept;
    // Best-effort ROLLBACK after a failure inside a transaction; marks the connection
    // broken when even that fails.
    void rollback_quietly() noexcept;

  private:
    Connection(PGconn* conn, const ConnectSettings& settings);
    // Prepared statement slots: one per Stmt, then kDynamicSlots for SQL built at run time.
    // Slot n is the statement "cbm<n>".
    static constexpr std::size_t kDynamicSlots = 64;
    static constexpr std::size_t kSlots = static_cast<std::size_t>(Stmt::count_) + kDynamicSlots;
    using SlotSet = std::bitset<kSlots>;

    // The slot of a run-time statement (given out on first sight), or none when all are
    // taken.
    std::optional<std::size_t> slot_of(const std::string& sql);
    Result exec_prepared(std::size_t slot, const char* sql, const Params& params);
    void send_prepared(std::size_t slot, const char* sql, const Params& params);

    Result finish(std::string_view what);
    void flush(std::chrono::steady_clock::time_point deadline, std::string_view what);
    // The next result, waiting for it up to deadline (nullptr: the command's results end).
    PGresult* next_result(std::chrono::steady_clock::time_point deadline, std::string_view what);
    void wait_socket(short events, std::chrono::steady_clock::time_point deadline,
                     std::string_view what);
    void enter_pipeline();
    void check_idle(std::string_view what);
    [[noreturn]] void fail_connection(std::string_view what);
    [[noreturn]] void fail_result(const Result& result, std::string_view what);
    DbError error_of(const Result& result, std::string_view what);
    void check_sent(int ok, std::string_view what);

    PGconn* conn_;
    std::chrono::milliseconds network_timeout_;
    SlotSet prepared_;
    std::unordered_map<std::string, std::size_t> dynamic_;  // run-time SQL -> slot
    bool broken_ = false;
    // Pipeline state: what was sent since the last sync, in order (a prepare comes before
    // the statement it prepares, and has a result of its own).
    struct Sent {
        bool prepare;
        std::size_t slot;  // for a prepare: which one (marked prepared once it succeeded)
    };
    std::vector<Sent> sent_;
    std::size_t pending_statements_ = 0;
    SlotSet preparing_;  // prepares sent in this round
    bool in_pipeline_ = false;
};

// RAII transaction: BEGIN in the constructor, ROLLBACK in the destructor unless
// commit() ran.
class Transaction {
  public:
    explicit Transaction(Connection& conn);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

  private:
    Connection& conn_;
    bool done_ = false;
};

}  // namespace chatbotmgr::postgres::detail
