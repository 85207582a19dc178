// The copy of `chatbotmgr-server migrate`. It works below the storage ports, on the two
// schemas themselves: the ports have no bulk copy that keeps ids, times and digests, and
// they should not grow one for a one-off move. The stores are still opened first, so that
// each schema is at the version this build knows (and the SQLite file is locked against a
// server for the whole copy).
//
// Adding a table to the move is one entry of kTables.
#include "migrate.hpp"

#include <libpq-fe.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/postgres/postgres_store.hpp"
#include "chatbotmgr/sqlite/sqlite_store.hpp"

namespace chatbotmgr::server {

namespace {

// A column of the PostgreSQL table and the SQLite expression that gives its value.
struct Column {
    const char* target;
    const char* source;
    bool bytes = false;  // bytea / BLOB
};

struct Table {
    const char* name;  // the same in both schemas
    std::vector<Column> columns;
    // Compared value by value after the copy, with the primary key "id" (the first column):
    // what must never change in a move -- key digests, token digests, password hashes.
    std::vector<const char*> verified;
    // The identity column whose sequence must move past the copied ids (or null).
    const char* identity = nullptr;
};

// In the order of the foreign keys. Sessions are not copied: everyone logs in again.
// Idempotency records are not copied either: they expire within 24 hours and hold answers
// sealed under keys the server never stored: harmless to copy, but pointless.
const std::vector<Table>& tables() {
    static const std::vector<Table> kTables = {
        {"organizations", {{"id", "id"}, {"name", "name"}}, {}},
        {"users",
         {{"id", "id"},
          {"org_id", "org_id"},
          {"email", "email"},
          {"email_lower", "email_lower"},
          {"password_hash", "password_hash"},
          {"role", "role"},
          {"created_at", "created_at"}},
         {"password_hash", "role"}},
        {"invitations",
         {{"id", "id"},
          {"org_id", "org_id"},
          {"email", "email"},
          {"email_lower", "email_lower"},
          {"role", "role"},
          {"token_digest", "token_digest", true},
          {"created_at", "created_at"},
          {"expires_at", "expires_at"},
          {"accepted_at", "accepted_at"},
          {"revoked_at", "revoked_at"}},
         {"token_digest"}},
        {"chatbots",
         {{"id", "id"},
          {"org_id", "org_id"},
          {"name", "name"},
          {"key_prefix", "key_prefix"},
          {"key_digest", "key_digest", true},
          {"settings_json", "settings"},
          {"created_at", "created_at"},
          {"key_issued_at", "key_issued_at"},
          {"key_expires_at", "key_expires_at"},
          {"key_last_used_at", "key_last_used_at"},
          {"prev_key_digest", "prev_key_digest", true},
          {"prev_key_prefix", "prev_key_prefix"},
          {"prev_key_issued_at", "prev_key_issued_at"},
          {"prev_key_expires_at", "prev_key_expires_at"},
          {"prev_key_last_used_at", "prev_key_last_used_at"}},
         {"key_digest", "prev_key_digest", "key_prefix", "prev_key_prefix"}},
        {"conversations",
         {{"id", "id"},
          {"chatbot_id", "chatbot_id"},
          {"external_id", "external_id"},
          {"external_user_id", "external_user_id"},
          {"metadata_json", "metadata"},
          {"created_at", "created_at"},
          {"updated_at", "updated_at"}},
         {}},
        // SQLite numbers a conversation's messages (seq) and keeps the arrival in
        // milliseconds; PostgreSQL orders them by id and keeps seconds. Ids are kept, and
        // within a conversation they rise with seq.
        {"messages",
         {{"id", "id"},
          {"conversation_id", "conversation_id"},
          {"external_id", "external_id"},
          {"role", "role"},
          {"content", "content"},
          {"sent_at_ms", "sent_at"},
          {"created_at", "received_at / 1000"}},
         {},
         "id"},
        {"analysis_results",
         {{"id", "id"},
          {"conversation_id", "conversation_id"},
          {"kind", "kind"},
          {"result_json", "result"},
          {"created_at", "created_at"}},
         {},
         "id"},
        // The same columns in both schemas. changes is verified too: its JSON escapes are
        // backslashes, which COPY's text format escapes in turn.
        {"audit_events",
         {{"id", "id"},
          {"org_id", "org_id"},
          {"created_at", "created_at"},
          {"action", "action"},
          {"actor_type", "actor_type"},
          {"actor_id", "actor_id"},
          {"actor_email", "actor_email"},
          {"target_type", "target_type"},
          {"target_id", "target_id"},
          {"target_name", "target_name"},
          {"ip", "ip"},
          {"user_agent", "user_agent"},
          {"changes", "changes"}},
         {"action", "created_at", "changes"}},
    };
    return kTables;
}

// Tables that must be empty in the target besides those copied.
constexpr const char* kAlsoEmpty[] = {"sessions"};

[[noreturn]] void fail(ErrorCode code, const std::string& message) {
    throw Error(code, std::string("migrate: ").append(message));
}

std::string join(const std::vector<std::string>& parts, const char* separator) {
    std::string out;
    for (const std::string& p : parts) {
        if (!out.empty()) out.append(separator);
        out.append(p);
    }
    return out;
}

// --- PostgreSQL ----------------------------------------------------------------------

struct PgResultDeleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

class Pg {
  public:
    explicit Pg(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
        if (!conn_ || PQstatus(conn_) != CONNECTION_OK)
            fail(ErrorCode::unavailable,
                 std::string("cannot connect to PostgreSQL: ").append(error()));
    }
    ~Pg() { PQfinish(conn_); }
    Pg(const Pg&) = delete;
    Pg& operator=(const Pg&) = delete;

    PgResult query(const std::string& sql) {
        PgResult r(PQexec(conn_, sql.c_str()));
        const auto status = PQresultStatus(r.get());
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
            fail(ErrorCode::unavailable,
                 std::string(sql.substr(0, 60)).append(": ").append(error()));
        return r;
    }

    // COPY table (columns) FROM STDIN, text format; rows as copy_line() makes them.
    void copy_in(const std::string& table, const std::string& columns,
                 const std::function<bool(std::string&)>& next_rows) {
        PgResult start(PQexec(conn_, std::string("COPY ")
                                         .append(table)
                                         .append(" (")
                                         .append(columns)
                                         .append(") FROM STDIN")
                                         .c_str()));
        if (PQresultStatus(start.get()) != PGRES_COPY_IN)
            fail(ErrorCode::unavailable,
                 std::string("COPY ").append(table).append(": ").append(error()));
        std::string chunk;
        while (next_rows(chunk)) {
            if (PQputCopyData(conn_, chunk.data(), static_cast<int>(chunk.size())) != 1)
                fail(ErrorCode::unavailable,
                     std::string("COPY ").append(table).append(": ").append(error()));
            chunk.clear();
        }
        if (PQputCopyEnd(conn_, nullptr) != 1)
            fail(ErrorCode::unavailable,
                 std::string("COPY ").append(table).append(": ").append(error()));
        for (PgResult r(PQgetResult(conn_)); r; r.reset(PQgetResult(conn_)))
            if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
                fail(ErrorCode::unavailable,
                     std::string("COPY ").append(table).append(": ").append(error()));
    }

  private:
    std::string error() const { return conn_ ? PQerrorMessage(conn_) : "out of memory"; }
    PGconn* conn_;
};

// One value in COPY's text format: \N for null, backslash escapes, bytea as \\x<hex>.
void append_copy_value(std::string& out, const SQLite::Column& value, bool bytes) {
    if (value.isNull()) {
        out.append("\\N");
        return;
    }
    if (bytes) {
        static constexpr char hex[] = "0123456789abcdef";
        const auto* p = static_cast<const unsigned char*>(value.getBlob());
        out.append("\\\\x");
        for (int i = 0; i < value.getBytes(); ++i) {
            out += hex[p[i] >> 4];
            out += hex[p[i] & 0xF];
        }
        return;
    }
    const std::string text = value.getString();
    for (char c : text) {
        switch (c) {
            case '\\':
                out.append("\\\\");
                break;
            case '\n':
                out.append("\\n");
                break;
            case '\r':
                out.append("\\r");
                break;
            case '\t':
                out.append("\\t");
                break;
            default:
                out += c;
        }
    }
}

// --- The copy and its checks -------------------------------------------------------------

std::int64_t sqlite_count(SQLite::Database& db, const char* table) {
    return db.execAndGet(std::string("SELECT count(*) FROM ").append(table)).getInt64();
}

std::int64_t pg_count(Pg& pg, const char* table) {
    const PgResult r = pg.query(std::string("SELECT count(*) FROM ").append(table));
    return std::stoll(PQgetvalue(r.get(), 0, 0));
}

void require_empty(Pg& pg) {
    std::vector<std::string> filled;
    for (const Table& t : tables())
        if (pg_count(pg, t.name) > 0) filled.emplace_back(t.name);
    for (const char* t : kAlsoEmpty)
        if (pg_count(pg, t) > 0) filled.emplace_back(t);
    if (!filled.empty())
        fail(ErrorCode::conflict, std::string("the PostgreSQL database is not empty (")
                                      .append(join(filled, ", "))
                                      .append("); migrate only into a new, empty database"));
}

std::int64_t copy_table(SQLite::Database& src, Pg& pg, const Table& t) {
    std::vector<std::string> targets, sources;
    for (const Column& c : t.columns) {
        targets.emplace_back(c.target);
        sources.emplace_back(c.source);
    }
    SQLite::Statement rows(src, std::string("SELECT ")
                                    .append(join(sources, ", "))
                                    .append(" FROM ")
                                    .append(t.name)
                                    .append(" ORDER BY id"));
    std::int64_t copied = 0;
    bool more = true;
    pg.copy_in(t.name, join(targets, ", "), [&](std::string& chunk) {
        // About 1 MiB at a time.
        while (more && chunk.size() < (1u << 20) && (more = rows.executeStep())) {
            for (int i = 0; i < static_cast<int>(t.columns.size()); ++i) {
                if (i) chunk += '\t';
                append_copy_value(chunk, rows.getColumn(i), t.columns[i].bytes);
            }
            chunk += '\n';
            ++copied;
        }
        return !chunk.empty();
    });
    if (t.identity) {
        // Later inserts must not collide with the copied ids.
        pg.query(std::string("SELECT setval(pg_get_serial_sequence('")
                     .append(t.name)
                     .append("', '")
                     .append(t.identity)
                     .append("'), coalesce((SELECT max(")
                     .append(t.identity)
                     .append(") FROM ")
                     .append(t.name)
                     .append("), 0) + 1, false)"));
    }
    return copied;
}

const Column& column_of(const Table& t, std::string_view target) {
    for (const Column& c : t.columns)
        if (target == c.target) return c;
    fail(ErrorCode::internal, std::string("no column ").append(target));
}

// The verified columns of t, row by row in id order, in both databases; returns the
// number of non-null values compared.
std::int64_t verify_values(SQLite::Database& src, Pg& pg, const Table& t) {
    if (t.verified.empty()) return 0;
    std::vector<std::string> from_sqlite{"id"}, from_pg{"id"};
    for (const char* name : t.verified) {
        const Column& c = column_of(t, name);
        from_sqlite.push_back(c.bytes ? std::string("lower(hex(").append(c.source).append("))")
                                      : std::string(c.source));
        from_pg.push_back(c.bytes ? std::string("encode(").append(c.target).append(", 'hex')")
                                  : std::string(c.target));
    }
    SQLite::Statement rows(src, std::string("SELECT ")
                                    .append(join(from_sqlite, ", "))
                                    .append(" FROM ")
                                    .append(t.name)
                                    .append(" ORDER BY id"));
    const PgResult copied = pg.query(std::string("SELECT ")
                                         .append(join(from_pg, ", "))
                                         .append(" FROM ")
                                         .append(t.name)
                                         .append(" ORDER BY id"));
    std::int64_t compared = 0;
    const int columns = static_cast<int>(from_pg.size());
    int row = 0;
    for (; rows.executeStep(); ++row) {
        if (row >= PQntuples(copied.get()))
            fail(ErrorCode::unavailable,
                 std::string(t.name).append(": rows missing after the copy"));
        for (int i = 0; i < columns; ++i) {
            // SQLite's hex(NULL) is '' where PostgreSQL's encode(NULL) is NULL.
            const SQLite::Column value = rows.getColumn(i);
            const std::string want = value.isNull() ? std::string() : value.getString();
            const std::string got = PQgetisnull(copied.get(), row, i)
                                        ? std::string()
                                        : PQgetvalue(copied.get(), row, i);
            if (want != got)
                fail(ErrorCode::unavailable, std::string(t.name)
                                                 .append(": ")
                                                 .append(from_pg[static_cast<std::size_t>(i)])
                                                 .append(" differs after the copy (row ")
                                                 .append(std::to_string(row))
                                                 .append(")"));
            if (i > 0 && !want.empty()) ++compared;
        }
    }
    if (row != PQntuples(copied.get()))
        fail(ErrorCode::unavailable, std::string(t.name).append(": rows added by the copy"));
    return compared;
}

}  // namespace

MigrationReport migrate_sqlite_to_postgres(const std::string& sqlite_path,
                                           const std::string& postgres_url) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(sqlite_path, ec))
        fail(ErrorCode::unavailable,
             std::string("there is no SQLite database ").append(sqlite_path));
    // Opened as a server opens them: schemas brought up to this build's versions, newer
    // ones refused; the SQLite file stays locked against servers until the copy is done.
    sqlite::SqliteOptions sqlite_options;
    sqlite_options.path = sqlite_path;
    sqlite_options.read_connections = 1;
    const sqlite::SqliteStore source_lock(sqlite_options);
    {
        postgres::PostgresOptions options;
        options.conninfo = postgres_url;
        options.pool_size = 1;
        postgres::PostgresStore schema(options);
    }

    SQLite::Database src(sqlite_path, SQLite::OPEN_READONLY, 10'000);
    Pg pg(postgres_url);
    MigrationReport report;
    try {
        src.exec("BEGIN");  // one snapshot of the source for the copy and its checks
        pg.query("BEGIN");
        pg.query("SET LOCAL lock_timeout = '10s'");
        // Instances already serving the target wait (or fail) until the move is over.
        std::vector<std::string> names;
        for (const Table& t : tables()) names.emplace_back(t.name);
        for (const char* t : kAlsoEmpty) names.emplace_back(t);
        pg.query(std::string("LOCK TABLE ").append(join(names, ", ")).append(" IN EXCLUSIVE MODE"));
        require_empty(pg);
        for (const Table& t : tables()) report.rows.emplace_back(t.name, copy_table(src, pg, t));
        for (const Table& t : tables()) {
            const std::int64_t want = sqlite_count(src, t.name);
            const std::int64_t got = pg_count(pg, t.name);
            if (got != want)
                fail(ErrorCode::unavailable, std::string(t.name)
                                                 .append(": ")
                                                 .append(std::to_string(got))
                                                 .append(" rows after the copy, ")
                                                 .append(std::to_string(want))
                                                 .append(" in the source"));
            report.digests_checked += verify_values(src, pg, t);
        }
        pg.query("COMMIT");
        src.exec("COMMIT");
    } catch (const SQLite::Exception& e) {
        fail(ErrorCode::unavailable,
             std::string("reading ").append(sqlite_path).append(": ").append(e.what()));
    }
    return report;
}

}  // namespace chatbotmgr::server
