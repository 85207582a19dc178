// Online backup, verification and restore of a SqliteStore's database file (API.md
// section 16: chatbotmgr-server backup / restore).
//
// backup_database() works while a server has the file open and keeps writing: it copies
// one snapshot of the database with SQLite's online backup API inside a read transaction,
// so the copy holds exactly the transactions committed before it began (every write a
// server acknowledged by then) and nothing half-done; the server's writers are not blocked
// (WAL). restore_database() replaces a database with a copy, but never one that a process
// holds open (the lock file a SqliteStore keeps, file_hub.cpp), and never an existing
// file unless asked to.
//
// Errors: every function throws chatbotmgr::Error -- unavailable for files that cannot be
// read or written, a copy that fails verification, or a database held by a server;
// conflict for a target that exists (backup) or would be overwritten without overwrite.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace chatbotmgr::sqlite {

struct DatabaseSummary {
    std::string path;
    std::uint64_t bytes = 0;  // size of the file
    int schema_version = 0;   // PRAGMA user_version
    std::string integrity;    // PRAGMA integrity_check: "ok" when the file is sound
    // Rows of each table of the schema, by table name (sorted).
    std::vector<std::pair<std::string, std::int64_t>> row_counts;
};

// Copies the database at db into a new file to (mode 0600; refused when to exists), then
// verifies the copy: integrity_check is "ok" and every table has the row count the source
// had in the snapshot that was copied. The copy is written under a temporary name next to
// to and renamed into place (and synced) only once verified. Returns the copy's summary.
DatabaseSummary backup_database(const std::string& db, const std::string& to);

// Opens path read-only and reports its integrity check and row counts.
DatabaseSummary inspect_database(const std::string& path);

// Replaces the database at db (and its -wal and -shm) with a copy of the backup from,
// after checking that from is sound (integrity_check "ok") and has a schema this build
// can open. Refused (Error unavailable) while a process holds db -- a server, a user
// command -- and held against them until done; refused (Error conflict) when db exists
// and overwrite is false. Returns the restored database's summary.
DatabaseSummary restore_database(const std::string& from, const std::string& db, bool overwrite);

}  // namespace chatbotmgr::sqlite
