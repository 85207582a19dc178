// chatbotmgr-server migrate: an SQLite database copied into an empty PostgreSQL one
// (API.md section 16).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace chatbotmgr::server {

struct MigrationReport {
    // Rows copied, by table, in copy order.
    std::vector<std::pair<std::string, std::int64_t>> rows;
    // Values compared one by one between the two databases after the copy -- key digests
    // and prefixes (current and previous), invitation token digests, password hashes and
    // roles: every one equal, or migrate() throws.
    std::int64_t digests_checked = 0;
};

// Copies every organization, user (with its role), invitation, chatbot (every key column:
// current and previous digest, prefix, issue, expiry and last use), conversation, message
// and analysis result of the SQLite database at sqlite_path into the PostgreSQL database
// at postgres_url, in one transaction, keeping ids and times. Sessions are not copied
// (everyone logs in again). The source is opened as a server opens it (its schema brought
// up to date; refused while a server holds it); the target gets the current schema if it
// has none, and is refused unless every table is empty. After the copy, and before the
// commit, the row counts and every digest and password hash are compared with the source;
// any difference rolls everything back. Throws chatbotmgr::Error (conflict: the target is
// not empty; unavailable: a database cannot be opened or the verification failed).
MigrationReport migrate_sqlite_to_postgres(const std::string& sqlite_path,
                                           const std::string& postgres_url);

}  // namespace chatbotmgr::server
