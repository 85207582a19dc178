#include "connection.hpp"

#include <string>

#include <sqlite3.h>

namespace chatbotmgr::sqlite::detail {
namespace {

int primary_code(const SQLite::Exception& e) noexcept {
    return e.getErrorCode() & 0xff;
}

bool is_engine_fault(int primary) noexcept {
    switch (primary) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
        case SQLITE_FULL:
        case SQLITE_READONLY:
        case SQLITE_IOERR:
        case SQLITE_CORRUPT:
        case SQLITE_CANTOPEN:
        case SQLITE_NOTADB:
        case SQLITE_PERM:
        case SQLITE_NOMEM:
        case SQLITE_PROTOCOL:
        case SQLITE_NOLFS:
        case SQLITE_AUTH:
            return true;
        default:
            return false;
    }
}

int open_flags(Role role) {
    // NOMUTEX: the adapter never lets two threads use one connection at once, so
    // SQLite's per-connection mutex would only cost time.
    int flags = SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX;
    if (role == Role::writer) flags |= SQLite::OPEN_CREATE;
    return flags;
}

SQLite::Database open_database(const ConnectionConfig& config, Role role) {
    try {
        return SQLite::Database(config.path, open_flags(role),
                                static_cast<int>(config.busy_timeout.count()));
    } catch (const SQLite::Exception& e) {
        throw Error(ErrorCode::unavailable, "cannot open SQLite database \"" + config.path +
                                                "\": " + sqlite3_errstr(e.getErrorCode()));
    }
}

}  // namespace

Connection::Connection(const ConnectionConfig& config, Role role)
    : db_(open_database(config, role)) {
    try {
        sqlite3_extended_result_codes(db_.getHandle(), 1);
        // The first statement reads the file header: a file that is not a database fails
        // here, inside the constructor, with a readable message.
        if (role == Role::writer) {
            std::string mode = db_.execAndGet("PRAGMA journal_mode = WAL").getString();
            if (mode != "wal") {
                throw Error(ErrorCode::unavailable,
                            "SQLite database \"" + config.path + "\" cannot use WAL journal mode");
            }
            if (config.max_page_count) {
                db_.exec("PRAGMA max_page_count = " + std::to_string(*config.max_page_count));
            }
            // Every write runs in a savepoint of its group's transaction: the savepoint's
            // undo pages (the sub-journal) stay in memory instead of a temporary file, one
            // pwrite per changed page and write less. They never need to survive a crash
            // (the WAL holds only what committed).
            db_.exec("PRAGMA temp_store = MEMORY");
        } else {
            db_.exec("PRAGMA query_only = ON");
        }
        db_.exec(config.synchronous == Synchronous::full ? "PRAGMA synchronous = FULL"
                                                         : "PRAGMA synchronous = NORMAL");
        db_.exec("PRAGMA foreign_keys = ON");
    } catch (const SQLite::Exception& e) {
        throw Error(ErrorCode::unavailable, "cannot open SQLite database \"" + config.path +
                                                "\": " + sqlite3_errstr(e.getErrorCode()));
    }
}

Connection::~Connection() {
    statements_.clear();
    // Never leave a transaction behind (e.g. after a failed ROLLBACK); close_v2 would
    // roll it back anyway, this just makes the intent explicit.
    if (in_transaction()) db_.tryExec("ROLLBACK");
}

SQLite::Statement& Connection::statement(const char* sql) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
        it = statements_.emplace(sql, std::make_unique<SQLite::Statement>(db_, sql)).first;
    }
    return *it->second;
}

void Connection::exec(const char* sql) {
    db_.exec(sql);
}

void Connection::exec_prepared(const char* sql) {
    SQLite::Statement& s = statement(sql);
    try {
        s.exec();
    } catch (...) {
        s.tryReset();
        throw;
    }
    s.tryReset();
}

std::int64_t Connection::query_int(const char* sql) {
    return db_.execAndGet(sql).getInt64();
}

bool Connection::in_transaction() const noexcept {
    return sqlite3_get_autocommit(db_.getHandle()) == 0;
}

ConnectionSettings Connection::settings() {
    ConnectionSettings s;
    s.journal_mode = db_.execAndGet("PRAGMA journal_mode").getString();
    s.synchronous = static_cast<int>(query_int("PRAGMA synchronous"));
    s.foreign_keys = query_int("PRAGMA foreign_keys") != 0;
    s.busy_timeout_ms = query_int("PRAGMA busy_timeout");
    s.max_page_count = query_int("PRAGMA max_page_count");
    s.user_version = static_cast<int>(query_int("PRAGMA user_version"));
    return s;
}

Error to_error(const SQLite::Exception& e, std::string_view operation,
               std::string_view conflict_message) {
    const int primary = primary_code(e);
    const int extended = e.getExtendedErrorCode();
    if (primary == SQLITE_CONSTRAINT &&
        (extended == SQLITE_CONSTRAINT_UNIQUE || extended == SQLITE_CONSTRAINT_PRIMARYKEY)) {
        return Error(ErrorCode::conflict, conflict_message.empty()
                                              ? std::string(operation) + ": already exists"
                                              : std::string(conflict_message));
    }
    if (is_engine_fault(primary)) {
        return Error(ErrorCode::unavailable, "storage unavailable (" + std::string(operation) +
                                                 "): " + sqlite3_errstr(primary));
    }
    if (primary == SQLITE_CONSTRAINT) {
        return Error(ErrorCode::internal,
                     "storage rejected " + std::string(operation) + ": " + e.what());
    }
    return Error(ErrorCode::internal,
                 "storage error (" + std::string(operation) + "): " + e.what());
}

bool needs_reopen(const SQLite::Exception& e) noexcept {
    switch (primary_code(e)) {
        case SQLITE_READONLY:
        case SQLITE_IOERR:
        case SQLITE_CORRUPT:
        case SQLITE_CANTOPEN:
        case SQLITE_NOTADB:
        case SQLITE_PERM:
            return true;
        default:
            return false;
    }
}

}  // namespace chatbotmgr::sqlite::detail
