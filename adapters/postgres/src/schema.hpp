// Internal: the schema migrations and the SQL of every prepared statement.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "chatbotmgr/journal.hpp"
#include "connection.hpp"

namespace chatbotmgr::postgres::detail {

struct Migration {
    int version;
    const char* sql;  // may hold several statements; runs inside the migration transaction
};

// In version order; the last one's version is the schema version of this build.
std::span<const Migration> migrations() noexcept;
int latest_schema_version() noexcept;

// The SQL text of a prepared statement.
const char* statement_sql(Stmt statement) noexcept;

// A whole capture in one statement (one round trip, atomic without BEGIN/COMMIT): the
// conversation upsert's parameters $1..$6 (see Stmt::upsert_conversation), then four per
// message from $7 (external id, role, content, sent_at_ms). Returns one row (conversation
// id, messages stored), or none when the chatbot does not exist.
std::string capture_sql(std::size_t message_count);
// Appends messages to a known conversation: $1 conversation id, $2 created_at, then four
// per message from $3 as above. The affected row count is the number stored.
std::string insert_messages_sql(std::size_t message_count);

// One page of an organization's audit events, newest first by (created_at, id). Only the
// filters that are set become conditions (each combination gets a plan that fits it).
// Parameters: $1 the organization, then one per set filter in AuditQuery's member order,
// then (when after) the position's created_at and id, then the limit.
std::string audit_events_sql(const AuditQuery& query, bool after);

// Brings the schema up to date (apply = true) or checks it is (apply = false). Safe when
// several processes do it at once: the work runs in one transaction under an advisory
// lock. Throws Error(unavailable) when the schema is behind and apply is false, and
// Error(internal) when the database is ahead of this build.
void migrate(Connection& conn, bool apply);

}  // namespace chatbotmgr::postgres::detail
