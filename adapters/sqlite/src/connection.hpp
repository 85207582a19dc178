// One SQLite connection with its settings applied and its statements prepared once.
// Internal to the SQLite adapter.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/secrets.hpp"
#include "chatbotmgr/sqlite/sqlite_store.hpp"

namespace chatbotmgr::sqlite::detail {

struct ConnectionConfig {
    std::string path;
    Synchronous synchronous = Synchronous::full;
    std::chrono::milliseconds busy_timeout{5000};
    std::optional<std::int64_t> max_page_count;
};

enum class Role { writer, reader };

class Connection {
  public:
    // Opens the file and applies the per-connection settings (WAL, synchronous,
    // foreign_keys, busy timeout). Throws Error(unavailable) naming the path.
    Connection(const ConnectionConfig& config, Role role);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // The statement for sql, prepared on first use and reused afterwards. sql must be a
    // string with static storage: the cache is keyed by its address.
    SQLite::Statement& statement(const char* sql);
    void exec(const char* sql);
    // exec for a statement run again and again (the writer's BEGIN, SAVEPOINT, RELEASE,
    // COMMIT): prepared once, like statement(), instead of parsed on every call.
    void exec_prepared(const char* sql);
    // Like exec, but reports failure by its SQLite result code instead of throwing.
    int try_exec(const char* sql) noexcept { return db_.tryExec(sql); }
    std::int64_t query_int(const char* sql);
    // True while a transaction is open (SQLite may end one by itself after some errors).
    bool in_transaction() const noexcept;
    ConnectionSettings settings();

  private:
    // Declared before statements_ so that every statement is finalized before the close.
    SQLite::Database db_;
    std::unordered_map<const char*, std::unique_ptr<SQLite::Statement>> statements_;
};

// Resets a cached statement at the end of a scope, so that the next use starts clean and
// a read snapshot is not held longer than needed.
class StatementUse {
  public:
    StatementUse(Connection& connection, const char* sql) : s_(connection.statement(sql)) {}
    ~StatementUse() { s_.tryReset(); }
    StatementUse(const StatementUse&) = delete;
    StatementUse& operator=(const StatementUse&) = delete;

    SQLite::Statement* operator->() { return &s_; }
    SQLite::Statement& operator*() { return s_; }

    void bind(int index, std::string_view text) { s_.bind(index, std::string(text)); }
    void bind(int index, const Digest& digest) {
        s_.bind(index, digest.data(), static_cast<int>(digest.size()));
    }
    void bind(int index, std::int64_t value) { s_.bind(index, value); }
    // Bytes as a BLOB; an empty one is a zero-length BLOB, never NULL (which a null
    // pointer would bind).
    void bind_blob(int index, std::string_view bytes) {
        s_.bind(index, bytes.empty() ? "" : bytes.data(), static_cast<int>(bytes.size()));
    }
    void bind_null(int index) { s_.bind(index); }

  private:
    SQLite::Statement& s_;
};

// Maps an engine exception to the one error channel: uniqueness -> conflict (with
// conflict_message), engine faults -> unavailable, anything else -> internal. The
// message names the operation and SQLite's generic reason, never a bound value.
Error to_error(const SQLite::Exception& e, std::string_view operation,
               std::string_view conflict_message = {});

// True for errors after which the connection should be closed and opened again
// (read-only, I/O error, corrupt or vanished file), so the store heals once the fault
// clears.
bool needs_reopen(const SQLite::Exception& e) noexcept;

}  // namespace chatbotmgr::sqlite::detail
