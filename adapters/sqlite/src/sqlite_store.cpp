#include "chatbotmgr/sqlite/sqlite_store.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/secrets.hpp"
#include "connection.hpp"
#include "file_hub.hpp"
#include "reader_pool.hpp"
#include "schema.hpp"
#include "writer.hpp"

namespace chatbotmgr::sqlite {
namespace {

using detail::Connection;
using detail::StatementUse;

// --- SQL. Each constant's address keys the per-connection statement cache. ---

#define CHATBOT_COLUMNS "id, org_id, name, key_prefix, settings, created_at"

constexpr const char* kInsertChatbot =
    "INSERT INTO chatbots (id, org_id, name, key_prefix, key_digest, settings, created_at, "
    "key_issued_at, key_expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)";
// Kept by the triggers of schema version 6; no row: none yet.
constexpr const char* kCountOrgChatbots =
    "SELECT coalesce((SELECT chatbots FROM org_chatbot_counts WHERE org_id = ?1), 0)";
constexpr const char* kSelectChatbot =
    "SELECT " CHATBOT_COLUMNS " FROM chatbots WHERE id = ?1 AND org_id = ?2";
constexpr const char* kListChatbots = "SELECT " CHATBOT_COLUMNS
                                      " FROM chatbots WHERE org_id = ?1 "
                                      "ORDER BY created_at DESC, id DESC";
// Keyset pages: ?2/?3 the (created_at, id) the page starts after; the first page passes
// a position before every row.
constexpr const char* kListChatbotsPage =
    "SELECT " CHATBOT_COLUMNS
    " FROM chatbots WHERE org_id = ?1 AND (created_at, id) < (?2, ?3) "
    "ORDER BY created_at DESC, id DESC LIMIT ?4";
constexpr const char* kUpdateChatbot = "UPDATE chatbots SET name = ?1, settings = ?2 WHERE id = ?3";
// RETURNING: the row as it was, for the entry's complete callback.
constexpr const char* kDeleteChatbot =
    "DELETE FROM chatbots WHERE id = ?1 AND org_id = ?2 RETURNING " CHATBOT_COLUMNS;
// ?5: the grace end, NULL for none. Every right-hand side reads the row as it was.
constexpr const char* kReplaceKey =
    "UPDATE chatbots SET "
    "prev_key_digest = iif(?5 IS NULL, NULL, key_digest), "
    "prev_key_prefix = iif(?5 IS NULL, NULL, key_prefix), "
    "prev_key_issued_at = iif(?5 IS NULL, NULL, key_issued_at), "
    "prev_key_expires_at = iif(?5 IS NULL, NULL, min(?5, coalesce(key_expires_at, ?5))), "
    "prev_key_last_used_at = iif(?5 IS NULL, NULL, key_last_used_at), "
    "key_digest = ?1, key_prefix = ?2, key_issued_at = ?6, key_expires_at = ?7, "
    "key_last_used_at = NULL "
    "WHERE id = ?3 AND org_id = ?4 RETURNING " CHATBOT_COLUMNS;
// A digest may be a current key or a previous one, never both (checked on every write).
constexpr const char* kDigestExists =
    "SELECT 1 FROM chatbots WHERE key_digest = ?1 UNION ALL "
    "SELECT 1 FROM chatbots WHERE prev_key_digest = ?1";
constexpr const char* kFindByDigest =
    "SELECT id, org_id, 0, key_expires_at FROM chatbots WHERE key_digest = ?1 UNION ALL "
    "SELECT id, org_id, 1, prev_key_expires_at FROM chatbots WHERE prev_key_digest = ?1";
constexpr const char* kSelectPreviousKey =
    "SELECT prev_key_digest IS NOT NULL, prev_key_expires_at FROM chatbots "
    "WHERE id = ?1 AND org_id = ?2";
constexpr const char* kDropPreviousKey =
    "UPDATE chatbots SET prev_key_digest = NULL, prev_key_prefix = NULL, "
    "prev_key_issued_at = NULL, prev_key_expires_at = NULL, prev_key_last_used_at = NULL "
    "WHERE id = ?1";
constexpr const char* kSelectKeys =
    "SELECT key_prefix, key_issued_at, key_expires_at, key_last_used_at, prev_key_prefix, "
    "prev_key_issued_at, prev_key_expires_at, prev_key_last_used_at FROM chatbots "
    "WHERE id = ?1 AND org_id = ?2";
constexpr const char* kRecordCurrentKeyUse =
    "UPDATE chatbots SET key_last_used_at = max(coalesce(key_last_used_at, ?2), ?2) "
    "WHERE key_digest = ?1";
constexpr const char* kRecordPreviousKeyUse =
    "UPDATE chatbots SET prev_key_last_used_at = max(coalesce(prev_key_last_used_at, ?2), ?2) "
    "WHERE prev_key_digest = ?1";
constexpr const char* kChatbotExists = "SELECT 1 FROM chatbots WHERE id = ?1";
constexpr const char* kUpsertConversation =
    "INSERT INTO conversations "
    "(id, chatbot_id, external_id, external_user_id, metadata, created_at, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) "
    "ON CONFLICT (chatbot_id, external_id) DO UPDATE SET "
    "external_user_id = excluded.external_user_id, metadata = excluded.metadata, "
    "updated_at = excluded.updated_at "
    "RETURNING id";
// Deduplication is the partial unique index's job: a message whose external id is
// stored already changes nothing, and changes() tells which ones were new.
constexpr const char* kInsertMessage =
    "INSERT INTO messages "
    "(conversation_id, seq, role, content, external_id, sent_at, received_at) "
    "VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM messages WHERE conversation_id = ?1), "
    "?2, ?3, ?4, ?5, ?6) "
    "ON CONFLICT (conversation_id, external_id) WHERE external_id IS NOT NULL DO NOTHING";
constexpr const char* kRecordAnalysis =
    "INSERT INTO analysis_results (conversation_id, chatbot_id, kind, result, created_at) "
    "SELECT id, chatbot_id, ?3, ?4, ?5 FROM conversations WHERE id = ?1 AND chatbot_id = ?2";
constexpr const char* kCountData =
    "SELECT (SELECT count(*) FROM conversations WHERE chatbot_id = ?1), "
    "(SELECT count(*) FROM messages WHERE conversation_id IN "
    "(SELECT id FROM conversations WHERE chatbot_id = ?1)), "
    "(SELECT count(*) FROM analysis_results WHERE chatbot_id = ?1)";
constexpr const char* kPing = "SELECT count(*) FROM sqlite_schema";

constexpr const char* kSelectOrgByName = "SELECT id, name FROM organizations WHERE name = ?1";
constexpr const char* kSelectOrgById = "SELECT id, name FROM organizations WHERE id = ?1";
constexpr const char* kListOrgs = "SELECT id, name FROM organizations ORDER BY name";
constexpr const char* kInsertOrg =
    "INSERT INTO organizations (id, name, created_at) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (name) DO NOTHING";
#define USER_COLUMNS "id, org_id, email, role, created_at"
#define INVITATION_COLUMNS "id, org_id, email, role, created_at, expires_at"
// Pending at ?2: neither accepted nor revoked, and not expired (dead at its expires_at).
#define INVITATION_PENDING "accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?2"

constexpr const char* kInsertUser =
    "INSERT INTO users (id, org_id, email, email_lower, password_hash, created_at, role) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char* kSelectUserByEmail =
    "SELECT " USER_COLUMNS ", password_hash FROM users WHERE email_lower = ?1";
constexpr const char* kUserEmailExists = "SELECT 1 FROM users WHERE email_lower = ?1";
constexpr const char* kCountUsers = "SELECT count(*) FROM users";
constexpr const char* kListUsers =
    "SELECT " USER_COLUMNS " FROM users WHERE org_id = ?1 ORDER BY created_at, id";
constexpr const char* kListUsersPage =
    "SELECT " USER_COLUMNS
    " FROM users WHERE org_id = ?1 AND (created_at, id) > (?2, ?3) "
    "ORDER BY created_at, id LIMIT ?4";
constexpr const char* kSelectUser =
    "SELECT " USER_COLUMNS " FROM users WHERE org_id = ?1 AND id = ?2";
constexpr const char* kCountOwners =
    "SELECT count(*) FROM users WHERE org_id = ?1 AND role = 'owner'";
constexpr const char* kUpdateRole = "UPDATE users SET role = ?3 WHERE org_id = ?1 AND id = ?2";
// The user's sessions go with it: ON DELETE CASCADE, in the same transaction.
constexpr const char* kDeleteUser = "DELETE FROM users WHERE org_id = ?1 AND id = ?2";
constexpr const char* kInsertInvitation =
    "INSERT INTO invitations "
    "(id, org_id, email, email_lower, role, token_digest, created_at, expires_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
constexpr const char* kListInvitations =
    "SELECT " INVITATION_COLUMNS " FROM invitations WHERE org_id = ?1 AND " INVITATION_PENDING
    " ORDER BY created_at, id";
constexpr const char* kRevokeInvitation =
    "UPDATE invitations SET revoked_at = ?2 WHERE org_id = ?1 AND id = ?3 AND " INVITATION_PENDING
    " RETURNING email";
constexpr const char* kSelectPendingInvitation =
    "SELECT " INVITATION_COLUMNS
    ", email_lower FROM invitations WHERE token_digest = ?1 AND " INVITATION_PENDING;
constexpr const char* kMarkInvitationAccepted =
    "UPDATE invitations SET accepted_at = ?2 WHERE id = ?1";
constexpr const char* kInsertSession =
    "INSERT INTO sessions (token_digest, user_id, org_id, expires_at) VALUES (?1, ?2, ?3, ?4)";
// The user's role and email as they are now; no user, no session.
constexpr const char* kSelectSession =
    "SELECT s.user_id, s.org_id, s.expires_at, u.role, u.email FROM sessions s "
    "JOIN users u ON u.id = s.user_id WHERE s.token_digest = ?1";
constexpr const char* kDeleteSession = "DELETE FROM sessions WHERE token_digest = ?1";
// Same boundary as MemoryStore and Accounts: a session is dead at its expires_at.
constexpr const char* kDeleteExpiredSessions = "DELETE FROM sessions WHERE expires_at <= ?1";

#define AUDIT_COLUMNS                                                                  \
    "id, org_id, created_at, action, actor_type, actor_id, actor_email, target_type, " \
    "target_id, target_name, ip, user_agent, changes"
constexpr const char* kInsertAuditEvent = "INSERT INTO audit_events (" AUDIT_COLUMNS
                                          ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                          "?11, ?12, ?13)";
// A live record of the scope (expires_at later than ?6, the event's time) is left alone, so
// changes() is 0 and the write is refused; an expired one is replaced.
constexpr const char* kUpsertIdempotency =
    "INSERT INTO idempotency_records (scope, request, status, answer, expires_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (scope) DO UPDATE SET "
    "request = excluded.request, status = excluded.status, answer = excluded.answer, "
    "expires_at = excluded.expires_at WHERE idempotency_records.expires_at <= ?6";
constexpr const char* kSelectIdempotency =
    "SELECT request, status, answer, expires_at FROM idempotency_records "
    "WHERE scope = ?1 AND expires_at > ?2";
// Keyset pages on the primary key (org_id, created_at, id): ?2/?3 the (created_at, id) the page
// starts after (the first page passes one after every row); ?4/?5 the time range, bound to the
// widest range when unset, so that it stays a range on the index; ?6-?8 the optional filters.
constexpr const char* kListAuditEvents =
    "SELECT " AUDIT_COLUMNS
    " FROM audit_events WHERE org_id = ?1 AND (created_at, id) < (?2, ?3) "
    "AND created_at >= ?4 AND created_at < ?5 AND (?6 IS NULL OR action = ?6) "
    "AND (?7 IS NULL OR target_id = ?7) AND (?8 IS NULL OR actor_id = ?8) "
    "ORDER BY created_at DESC, id DESC LIMIT ?9";
// At most ?2 rows a call, oldest first, so one prune never holds the writer long.
constexpr const char* kPruneAuditEvents =
    "DELETE FROM audit_events WHERE (org_id, created_at, id) IN (SELECT org_id, created_at, id "
    "FROM audit_events WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)";
constexpr const char* kPruneIdempotency =
    "DELETE FROM idempotency_records WHERE scope IN (SELECT scope FROM idempotency_records "
    "WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)";

#undef AUDIT_COLUMNS
#undef USER_COLUMNS
#undef INVITATION_COLUMNS
#undef INVITATION_PENDING
#undef CHATBOT_COLUMNS

// --- Row helpers ---

Chatbot chatbot_from_row(SQLite::Statement& s) {
    Chatbot c;
    c.id = s.getColumn(0).getString();
    c.org_id = s.getColumn(1).getString();
    c.name = s.getColumn(2).getString();
    c.key_prefix = s.getColumn(3).getString();
    c.settings = parse_stored_object(s.getColumn(4).getText());
    c.created_at = std::chrono::sys_seconds{std::chrono::seconds{s.getColumn(5).getInt64()}};
    return c;
}

std::chrono::sys_seconds seconds_at(SQLite::Statement& s, int column) {
    return std::chrono::sys_seconds{std::chrono::seconds{s.getColumn(column).getInt64()}};
}

std::int64_t unix_seconds(std::chrono::sys_seconds t) {
    return static_cast<std::int64_t>(t.time_since_epoch().count());
}

Role role_at(SQLite::Statement& s, int column) {
    const std::optional<Role> role = role_from_string(s.getColumn(column).getText());
    if (!role) throw Error(ErrorCode::internal, "stored role is not a known role");
    return *role;
}

// Columns in the order of USER_COLUMNS.
User user_from_row(SQLite::Statement& s) {
    return User{s.getColumn(0).getString(), s.getColumn(1).getString(), s.getColumn(2).getString(),
                role_at(s, 3), seconds_at(s, 4)};
}

// Columns in the order of INVITATION_COLUMNS.
Invitation invitation_from_row(SQLite::Statement& s) {
    return Invitation{s.getColumn(0).getString(), s.getColumn(1).getString(),
                      s.getColumn(2).getString(), role_at(s, 3),
                      seconds_at(s, 4),           seconds_at(s, 5)};
}

std::optional<User> select_user(Connection& c, std::string_view org_id, std::string_view user_id) {
    StatementUse s(c, kSelectUser);
    s.bind(1, org_id);
    s.bind(2, user_id);
    if (!s->executeStep()) return std::nullopt;
    return user_from_row(*s);
}

// Whether user is its organization's only owner. Inside a write job: the writer runs one
// job at a time, so nothing changes between this count and the job's own write.
bool only_owner(Connection& c, const User& user) {
    if (user.role != Role::owner) return false;
    StatementUse s(c, kCountOwners);
    s.bind(1, user.org_id);
    s->executeStep();
    return s->getColumn(0).getInt64() <= 1;
}

std::optional<std::chrono::sys_seconds> optional_seconds_at(SQLite::Statement& s, int column) {
    if (s.getColumn(column).isNull()) return std::nullopt;
    return seconds_at(s, column);
}

void bind_optional(StatementUse& s, int index, const std::optional<std::chrono::sys_seconds>& t) {
    if (t) {
        s.bind(index, unix_seconds(*t));
    } else {
        s.bind_null(index);
    }
}

// Inside a write job: the digest's uniqueness across both key columns.
void check_digest_free(Connection& c, const Digest& digest) {
    StatementUse s(c, kDigestExists);
    s.bind(1, digest);
    if (s->executeStep()) throw Error(ErrorCode::conflict, "a chatbot has this key already");
}

std::optional<Chatbot> select_chatbot(Connection& c, std::string_view org_id, std::string_view id) {
    StatementUse s(c, kSelectChatbot);
    s.bind(1, id);
    s.bind(2, org_id);
    if (!s->executeStep()) return std::nullopt;
    return chatbot_from_row(*s);
}

// A LIMIT for SQLite (where a negative one means none).
std::int64_t sql_limit(std::size_t n) {
    return static_cast<std::int64_t>(std::min<std::size_t>(n, INT64_MAX));
}

std::string blob_at(SQLite::Statement& s, int column) {
    const SQLite::Column value = s.getColumn(column);
    const int size = value.getBytes();
    if (size == 0) return {};
    return std::string(static_cast<const char*>(value.getBlob()), static_cast<std::size_t>(size));
}

Digest digest_at(SQLite::Statement& s, int column) {
    const std::string bytes = blob_at(s, column);
    Digest d{};
    if (bytes.size() != d.size()) throw Error(ErrorCode::internal, "stored digest has a bad size");
    std::copy(bytes.begin(), bytes.end(), d.begin());
    return d;
}

// Columns in the order of AUDIT_COLUMNS.
AuditEvent audit_event_from_row(SQLite::Statement& s) {
    AuditEvent e;
    e.id = s.getColumn(0).getString();
    e.org_id = s.getColumn(1).getString();
    e.created_at = seconds_at(s, 2);
    const std::optional<AuditAction> action = parse_audit_action(s.getColumn(3).getText());
    if (!action) throw Error(ErrorCode::internal, "stored audit action is not a known action");
    e.action = *action;
    e.actor = {s.getColumn(4).getString(), s.getColumn(5).getString(), s.getColumn(6).getString()};
    e.target = {s.getColumn(7).getString(), s.getColumn(8).getString(), s.getColumn(9).getString()};
    e.ip = s.getColumn(10).getString();
    e.user_agent = s.getColumn(11).getString();
    e.changes = parse_stored_object(s.getColumn(12).getText());
    return e;
}

// Inside a write job, once it has changed something: the entry's idempotency record, then
// its event. A live record of the same scope refuses the job, and the job's savepoint
// takes the change back with it.
void write_journal(Connection& c, const JournalEntry& entry) {
    const AuditEvent& e = entry.event;
    if (const std::optional<IdempotencyRecord>& r = entry.idempotency) {
        StatementUse s(c, kUpsertIdempotency);
        s.bind(1, r->scope);
        s.bind(2, r->request);
        s.bind(3, std::int64_t{r->status});
        s.bind_blob(4, r->answer);
        s.bind(5, unix_seconds(r->expires_at));
        s.bind(6, unix_seconds(e.created_at));
        if (s->exec() == 0)
            throw Error(ErrorCode::conflict, "the Idempotency-Key has a record already",
                        "Idempotency-Key");
    }
    StatementUse s(c, kInsertAuditEvent);
    s.bind(1, stored_event_id(e));  // made here, on the writer: ids follow the commit order
    s.bind(2, e.org_id);
    s.bind(3, unix_seconds(e.created_at));
    s.bind(4, to_string(e.action));
    s.bind(5, e.actor.type);
    s.bind(6, e.actor.id);
    s.bind(7, e.actor.email);
    s.bind(8, e.target.type);
    s.bind(9, e.target.id);
    s.bind(10, e.target.name);
    s.bind(11, e.ip);
    s.bind(12, e.user_agent);
    s.bind(13, to_compact_json(e.changes));
    s->exec();
}

// For the writes whose entry the row completes. Inside the job: if it throws, the job's
// savepoint is rolled back and the exception reaches the caller.
void complete(JournalEntry& entry, const Chatbot& chatbot) {
    if (entry.complete) entry.complete(chatbot, entry);
}

std::int64_t to_unix_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

detail::ConnectionConfig make_config(const SqliteOptions& o) {
    return detail::ConnectionConfig{o.path, o.synchronous, o.busy_timeout, o.max_page_count};
}

std::unique_ptr<Connection> open_and_migrate(const detail::ConnectionConfig& config) {
    auto connection = std::make_unique<Connection>(config, detail::Role::writer);
    detail::migrate(*connection, config.path);
    return connection;
}

}  // namespace

struct SqliteStore::Impl {
    explicit Impl(SqliteOptions o)
        : options(std::move(o)),
          hub(detail::FileHub::open(options.path)),
          clock(options.clock ? options.clock : system_clock()),
          random(options.random ? options.random : system_random()),
          config(make_config(options)),
          // Migrate before any reader opens, so readers always see the current schema.
          writer(
              open_and_migrate(config),
              [config = config] {
                  return std::make_unique<Connection>(config, detail::Role::writer);
              },
              options.max_batch, options.on_commit),
          readers(config, options.read_connections) {}

    // Runs body on a read connection; engine errors become Error (see to_error).
    template <class F>
    auto read(const char* operation, F&& body) {
        auto lease = readers.acquire();
        try {
            return body(lease.connection());
        } catch (const SQLite::Exception& e) {
            if (detail::needs_reopen(e)) lease.discard();
            throw detail::to_error(e, operation);
        }
    }

    std::int64_t now_seconds() const { return to_unix_seconds(clock->now()); }
    std::int64_t now_millis() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   clock->now().time_since_epoch())
            .count();
    }

    SqliteOptions options;
    std::shared_ptr<detail::FileHub> hub;  // outlives the connections (declared first)
    std::shared_ptr<Clock> clock;
    std::shared_ptr<RandomSource> random;
    detail::ConnectionConfig config;
    detail::Writer writer;
    detail::ReaderPool readers;
};

SqliteStore::SqliteStore(SqliteOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

SqliteStore::~SqliteStore() {
    impl_->writer.finish_calls();  // while the readers the calls may use are still open
}

int SqliteStore::schema_version() noexcept {
    return detail::latest_schema_version();
}

// --- ChatbotStore ---

bool SqliteStore::insert(const Chatbot& chatbot, const NewKey& key, std::size_t max_in_org,
                         JournalEntry entry) {
    bool inserted = false;
    impl_->writer.run(
        "insert chatbot", "a chatbot with this id or key exists already", [&](Connection& c) {
            inserted = false;
            if (max_in_org != std::numeric_limits<std::size_t>::max()) {
                // Inside the write transaction: no other write can slip in between.
                StatementUse count(c, kCountOrgChatbots);
                count.bind(1, chatbot.org_id);
                count->executeStep();
                if (static_cast<std::size_t>(count->getColumn(0).getInt64()) >= max_in_org) return;
            }
            check_digest_free(c, key.digest);
            StatementUse s(c, kInsertChatbot);
            s.bind(1, chatbot.id);
            s.bind(2, chatbot.org_id);
            s.bind(3, chatbot.name);
            s.bind(4, key.prefix);
            s.bind(5, key.digest);
            s.bind(6, to_compact_json(chatbot.settings));
            s.bind(7, unix_seconds(chatbot.created_at));
            bind_optional(s, 8, key.expires_at);
            s->exec();
            write_journal(c, entry);
            inserted = true;
            impl_->writer.bump_after_commit(
                impl_->hub->chatbot_generations.counter(chatbot.org_id));
        });
    return inserted;
}

std::vector<Chatbot> SqliteStore::list(std::string_view org_id) {
    return impl_->read("list chatbots", [&](Connection& c) {
        std::vector<Chatbot> out;
        StatementUse s(c, kListChatbots);
        s.bind(1, org_id);
        while (s->executeStep()) out.push_back(chatbot_from_row(*s));
        return out;
    });
}

namespace {

// Runs a keyset page statement: ?1 org, ?2/?3 the position (or one before/after every
// row), ?4 the limit.
template <class Row>
std::vector<Row> read_page(Connection& c, const char* sql, std::string_view org_id,
                           const std::optional<PagePosition>& after, std::size_t limit,
                           std::int64_t unbounded_time, Row (*row)(SQLite::Statement&)) {
    std::vector<Row> out;
    StatementUse s(c, sql);
    s.bind(1, org_id);
    if (after) {
        s.bind(2, unix_seconds(after->created_at));
        s.bind(3, after->id);
    } else {
        s.bind(2, unbounded_time);
        s.bind(3, std::string_view());
    }
    s.bind(4, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
    while (s->executeStep()) out.push_back(row(*s));
    return out;
}

}  // namespace

std::vector<Chatbot> SqliteStore::list_page(std::string_view org_id,
                                            const std::optional<PagePosition>& after,
                                            std::size_t limit) {
    return impl_->read("list chatbots", [&](Connection& c) {
        return read_page(c, kListChatbotsPage, org_id, after, limit,
                         std::numeric_limits<std::int64_t>::max(), chatbot_from_row);
    });
}

std::optional<Chatbot> SqliteStore::get(std::string_view org_id, std::string_view id) {
    return impl_->read("get chatbot", [&](Connection& c) { return select_chatbot(c, org_id, id); });
}

std::optional<Chatbot> SqliteStore::update(std::string_view org_id, std::string_view id,
                                           const std::function<void(Chatbot&)>& mutate,
                                           JournalEntry entry) {
    std::optional<Chatbot> result;
    impl_->writer.run("update chatbot", nullptr, [&](Connection& c) {
        result.reset();
        std::optional<Chatbot> current = select_chatbot(c, org_id, id);
        if (!current) return;
        Chatbot changed = *current;
        mutate(changed);  // may throw: the job's savepoint is rolled back
        // Only name and settings are the caller's to change.
        current->name = std::move(changed.name);
        current->settings = std::move(changed.settings);
        complete(entry, *current);  // may throw too
        {
            StatementUse s(c, kUpdateChatbot);
            s.bind(1, current->name);
            s.bind(2, to_compact_json(current->settings));
            s.bind(3, current->id);
            s->exec();
        }
        write_journal(c, entry);
        result = std::move(current);
        impl_->writer.bump_after_commit(impl_->hub->chatbot_generations.counter(org_id));
    });
    return result;
}

bool SqliteStore::remove(std::string_view org_id, std::string_view id, JournalEntry entry) {
    bool removed = false;
    // Conversations, messages and analysis results go with it: ON DELETE CASCADE, in the
    // same transaction.
    impl_->writer.run("delete chatbot", nullptr, [&](Connection& c) {
        removed = false;
        std::optional<Chatbot> gone;
        {
            StatementUse s(c, kDeleteChatbot);
            s.bind(1, id);
            s.bind(2, org_id);
            if (!s->executeStep()) return;
            gone = chatbot_from_row(*s);
            s->executeStep();  // finishes the statement (RETURNING yields one row here)
        }
        complete(entry, *gone);
        write_journal(c, entry);
        removed = true;
        impl_->writer.bump_after_commit(impl_->hub->key_generation);  // cached lookups are stale
        impl_->writer.bump_after_commit(impl_->hub->chatbot_generations.counter(org_id));
    });
    return removed;
}

std::optional<Chatbot> SqliteStore::replace_key(
    std::string_view org_id, std::string_view id, const NewKey& key,
    std::optional<std::chrono::sys_seconds> previous_until, JournalEntry entry) {
    std::optional<Chatbot> result;
    impl_->writer.run("replace key", "another chatbot has this key already", [&](Connection& c) {
        result.reset();
        check_digest_free(c, key.digest);
        std::optional<Chatbot> after;
        {
            StatementUse s(c, kReplaceKey);
            s.bind(1, key.digest);
            s.bind(2, key.prefix);
            s.bind(3, id);
            s.bind(4, org_id);
            bind_optional(s, 5, previous_until);
            s.bind(6, unix_seconds(key.issued_at));
            bind_optional(s, 7, key.expires_at);
            if (!s->executeStep()) return;
            after = chatbot_from_row(*s);
            s->executeStep();  // finishes the statement (RETURNING yields one row here)
        }
        complete(entry, *after);
        write_journal(c, entry);
        result = std::move(after);
        impl_->writer.bump_after_commit(impl_->hub->key_generation);  // cached lookups are stale
        impl_->writer.bump_after_commit(impl_->hub->chatbot_generations.counter(org_id));
    });
    return result;
}

std::optional<bool> SqliteStore::drop_previous_key(std::string_view org_id, std::string_view id,
                                                   std::chrono::sys_seconds now,
                                                   JournalEntry entry) {
    std::optional<bool> result;
    bool present = false;
    impl_->writer.run("end grace period", nullptr, [&](Connection& c) {
        result.reset();
        present = false;
        {
            StatementUse s(c, kSelectPreviousKey);
            s.bind(1, id);
            s.bind(2, org_id);
            if (!s->executeStep()) return;
            present = s->getColumn(0).getInt() != 0;
            const auto until = optional_seconds_at(*s, 1);
            result = present && until && *until > now;
        }
        if (!present) return;
        {
            StatementUse drop(c, kDropPreviousKey);
            drop.bind(1, id);
            drop->exec();
        }
        impl_->writer.bump_after_commit(impl_->hub->key_generation);  // cached lookups are stale
        // Only a key that was still accepted is news for the audit log.
        if (!*result) return;
        const std::optional<Chatbot> chatbot = select_chatbot(c, org_id, id);
        if (!chatbot) throw Error(ErrorCode::internal, "chatbot vanished inside its write");
        complete(entry, *chatbot);
        write_journal(c, entry);
    });
    return result;
}

std::optional<ChatbotKeys> SqliteStore::keys(std::string_view org_id, std::string_view id) {
    return impl_->read("read keys", [&](Connection& c) -> std::optional<ChatbotKeys> {
        StatementUse s(c, kSelectKeys);
        s.bind(1, id);
        s.bind(2, org_id);
        if (!s->executeStep()) return std::nullopt;
        ChatbotKeys keys{KeyState{s->getColumn(0).getString(), seconds_at(*s, 1),
                                  optional_seconds_at(*s, 2), optional_seconds_at(*s, 3)},
                         std::nullopt};
        if (!s->getColumn(4).isNull())
            keys.previous = KeyState{s->getColumn(4).getString(), seconds_at(*s, 5),
                                     optional_seconds_at(*s, 6), optional_seconds_at(*s, 7)};
        return keys;
    });
}

std::optional<KeyOwner> SqliteStore::find_by_key_digest(const Digest& digest) {
    return impl_->read("find chatbot by key", [&](Connection& c) -> std::optional<KeyOwner> {
        StatementUse s(c, kFindByDigest);
        s.bind(1, digest);
        if (!s->executeStep()) return std::nullopt;
        return KeyOwner{s->getColumn(0).getString(), s->getColumn(1).getString(),
                        s->getColumn(2).getInt() == 0 ? KeySlot::current : KeySlot::previous,
                        optional_seconds_at(*s, 3)};
    });
}

void SqliteStore::record_key_usage(std::span<const KeyUsage> usage) {
    if (usage.empty()) return;
    impl_->writer.run("record key usage", nullptr, [&](Connection& c) {
        StatementUse current(c, kRecordCurrentKeyUse);
        StatementUse previous(c, kRecordPreviousKeyUse);
        for (const KeyUsage& u : usage) {
            for (StatementUse* s : {&current, &previous}) {
                (*s)->tryReset();
                s->bind(1, u.digest);
                s->bind(2, unix_seconds(u.last_used_at));
                (*s)->exec();
            }
        }
    });
}

void SqliteStore::submit(std::unique_ptr<GroupCommitCall> call) {
    impl_->writer.submit_call(std::move(call));
}

std::optional<std::uint64_t> SqliteStore::key_generation() const noexcept {
    return impl_->hub->key_generation.load();
}

std::optional<std::uint64_t> SqliteStore::chatbot_generation(
    std::string_view org_id) const noexcept {
    return impl_->hub->chatbot_generations.load(org_id);
}

std::optional<std::uint64_t> SqliteStore::session_generation() const noexcept {
    return impl_->hub->session_generation.load();
}

std::optional<CaptureResult> SqliteStore::append_capture(std::string_view chatbot_id,
                                                         const CaptureBatch& batch) {
    // Drawn before the write transaction; only used when the conversation is new.
    const std::string new_conversation_id = generate_uuid_v4(*impl_->random);
    const std::int64_t now_ms = impl_->now_millis();
    std::optional<CaptureResult> result;
    impl_->writer.run("store capture", nullptr, [&](Connection& c) {
        result.reset();
        {
            StatementUse exists(c, kChatbotExists);
            exists.bind(1, chatbot_id);
            if (!exists->executeStep()) return;  // deleted (or never existed): write nothing
        }
        CaptureResult r;
        {
            StatementUse s(c, kUpsertConversation);
            s.bind(1, new_conversation_id);
            s.bind(2, chatbot_id);
            s.bind(3, batch.external_conversation_id);
            if (batch.external_user_id) {
                s.bind(4, *batch.external_user_id);
            } else {
                s.bind_null(4);
            }
            s.bind(5, to_compact_json(batch.metadata));
            s.bind(6, now_ms / 1000);
            if (!s->executeStep()) {
                throw Error(ErrorCode::internal, "conversation upsert returned no row");
            }
            r.conversation_id = s->getColumn(0).getString();
            s->executeStep();
        }
        StatementUse m(c, kInsertMessage);
        m.bind(1, r.conversation_id);
        m.bind(6, now_ms);
        for (const CapturedMessage& message : batch.messages) {
            m->tryReset();
            m.bind(2, message.role);
            m.bind(3, message.content);
            if (message.external_id) {
                m.bind(4, *message.external_id);
            } else {
                m.bind_null(4);
            }
            if (message.sent_at) {
                m.bind(5, static_cast<std::int64_t>(message.sent_at->time_since_epoch().count()));
            } else {
                m.bind_null(5);
            }
            r.messages_stored += static_cast<std::size_t>(m->exec());
        }
        result = std::move(r);
    });
    return result;
}

bool SqliteStore::record_analysis(std::string_view chatbot_id, std::string_view conversation_id,
                                  std::string_view kind, std::string_view result_json) {
    bool recorded = false;
    const std::int64_t now = impl_->now_seconds();
    impl_->writer.run("record analysis", nullptr, [&](Connection& c) {
        StatementUse s(c, kRecordAnalysis);
        s.bind(1, conversation_id);
        s.bind(2, chatbot_id);
        s.bind(3, kind);
        s.bind(4, result_json);
        s.bind(5, now);
        recorded = s->exec() > 0;
    });
    return recorded;
}

ChatbotDataCounts SqliteStore::count_data(std::string_view chatbot_id) {
    return impl_->read("count chatbot data", [&](Connection& c) {
        // One statement, so the three counts come from one snapshot.
        StatementUse s(c, kCountData);
        s.bind(1, chatbot_id);
        s->executeStep();
        ChatbotDataCounts counts;
        counts.conversations = static_cast<std::size_t>(s->getColumn(0).getInt64());
        counts.messages = static_cast<std::size_t>(s->getColumn(1).getInt64());
        counts.analysis_results = static_cast<std::size_t>(s->getColumn(2).getInt64());
        return counts;
    });
}

void SqliteStore::ping() {
    impl_->read("ping", [](Connection& c) {
        StatementUse s(c, kPing);
        s->executeStep();
    });
}

// --- AccountStore ---

Organization SqliteStore::find_or_create_organization(std::string_view name,
                                                      std::string_view new_id) {
    auto select_by_name = [&](Connection& c) -> std::optional<Organization> {
        StatementUse s(c, kSelectOrgByName);
        s.bind(1, name);
        if (!s->executeStep()) return std::nullopt;
        return Organization{s->getColumn(0).getString(), s->getColumn(1).getString()};
    };
    // Most calls find an existing organization: answer those without a write.
    if (auto existing = impl_->read("find organization", select_by_name)) return *existing;

    std::optional<Organization> result;
    const std::int64_t now = impl_->now_seconds();
    impl_->writer.run("create organization", "an organization with this id exists already",
                      [&](Connection& c) {
                          {
                              StatementUse s(c, kInsertOrg);
                              s.bind(1, new_id);
                              s.bind(2, name);
                              s.bind(3, now);
                              s->exec();
                          }
                          result = select_by_name(c);
                      });
    if (!result) throw Error(ErrorCode::internal, "organization vanished after its insert");
    return *result;
}

std::optional<Organization> SqliteStore::find_organization(std::string_view id) {
    return impl_->read("find organization", [&](Connection& c) -> std::optional<Organization> {
        StatementUse s(c, kSelectOrgById);
        s.bind(1, id);
        if (!s->executeStep()) return std::nullopt;
        return Organization{s->getColumn(0).getString(), s->getColumn(1).getString()};
    });
}

std::vector<Organization> SqliteStore::list_organizations() {
    return impl_->read("list organizations", [](Connection& c) {
        std::vector<Organization> out;
        StatementUse s(c, kListOrgs);
        while (s->executeStep())
            out.push_back(Organization{s->getColumn(0).getString(), s->getColumn(1).getString()});
        return out;
    });
}

void SqliteStore::insert_user(const User& user, std::string_view email_lower,
                              std::string_view password_hash, JournalEntry entry) {
    impl_->writer.run("insert user", "a user with this id or email exists already",
                      [&](Connection& c) {
                          StatementUse s(c, kInsertUser);
                          s.bind(1, user.id);
                          s.bind(2, user.org_id);
                          s.bind(3, user.email);
                          s.bind(4, email_lower);
                          s.bind(5, password_hash);
                          s.bind(6, unix_seconds(user.created_at));
                          s.bind(7, to_string(user.role));
                          s->exec();
                          write_journal(c, entry);
                      });
}

std::optional<std::pair<User, std::string>> SqliteStore::find_user_by_email(
    std::string_view email_lower) {
    return impl_->read("find user",
                       [&](Connection& c) -> std::optional<std::pair<User, std::string>> {
                           StatementUse s(c, kSelectUserByEmail);
                           s.bind(1, email_lower);
                           if (!s->executeStep()) return std::nullopt;
                           User user = user_from_row(*s);
                           return std::pair{std::move(user), s->getColumn(5).getString()};
                       });
}

std::size_t SqliteStore::count_users() {
    return impl_->read("count users", [](Connection& c) {
        StatementUse s(c, kCountUsers);
        s->executeStep();
        return static_cast<std::size_t>(s->getColumn(0).getInt64());
    });
}

std::vector<User> SqliteStore::list_users(std::string_view org_id) {
    return impl_->read("list users", [&](Connection& c) {
        std::vector<User> out;
        StatementUse s(c, kListUsers);
        s.bind(1, org_id);
        while (s->executeStep()) out.push_back(user_from_row(*s));
        return out;
    });
}

std::vector<User> SqliteStore::list_users_page(std::string_view org_id,
                                               const std::optional<PagePosition>& after,
                                               std::size_t limit) {
    return impl_->read("list users", [&](Connection& c) {
        return read_page(c, kListUsersPage, org_id, after, limit,
                         std::numeric_limits<std::int64_t>::min(), user_from_row);
    });
}

std::optional<User> SqliteStore::find_user(std::string_view org_id, std::string_view user_id) {
    return impl_->read("find user", [&](Connection& c) { return select_user(c, org_id, user_id); });
}

MemberChange SqliteStore::set_role(std::string_view org_id, std::string_view user_id, Role role,
                                   JournalEntry entry) {
    MemberChange change = MemberChange::not_found;
    impl_->writer.run("change role", nullptr, [&](Connection& c) {
        change = MemberChange::not_found;
        const std::optional<User> user = select_user(c, org_id, user_id);
        if (!user) return;
        if (role != Role::owner && only_owner(c, *user)) {
            change = MemberChange::last_owner;
            return;
        }
        StatementUse s(c, kUpdateRole);
        s.bind(1, org_id);
        s.bind(2, user_id);
        s.bind(3, to_string(role));
        s->exec();
        write_journal(c, entry);
        change = MemberChange::done;
        // Sessions cached with the old role are stale once this commits.
        impl_->writer.bump_after_commit(impl_->hub->session_generation);
    });
    return change;
}

MemberChange SqliteStore::remove_user(std::string_view org_id, std::string_view user_id,
                                      JournalEntry entry) {
    MemberChange change = MemberChange::not_found;
    impl_->writer.run("remove user", nullptr, [&](Connection& c) {
        change = MemberChange::not_found;
        const std::optional<User> user = select_user(c, org_id, user_id);
        if (!user) return;
        if (only_owner(c, *user)) {
            change = MemberChange::last_owner;
            return;
        }
        StatementUse s(c, kDeleteUser);
        s.bind(1, org_id);
        s.bind(2, user_id);
        s->exec();
        write_journal(c, entry);
        change = MemberChange::done;
        // The user's cached sessions are stale once this commits.
        impl_->writer.bump_after_commit(impl_->hub->session_generation);
    });
    return change;
}

void SqliteStore::insert_invitation(const Invitation& invitation, std::string_view email_lower,
                                    const Digest& token_digest, JournalEntry entry) {
    impl_->writer.run("insert invitation", "an invitation with this id or token exists already",
                      [&](Connection& c) {
                          StatementUse s(c, kInsertInvitation);
                          s.bind(1, invitation.id);
                          s.bind(2, invitation.org_id);
                          s.bind(3, invitation.email);
                          s.bind(4, email_lower);
                          s.bind(5, to_string(invitation.role));
                          s.bind(6, token_digest);
                          s.bind(7, unix_seconds(invitation.created_at));
                          s.bind(8, unix_seconds(invitation.expires_at));
                          s->exec();
                          write_journal(c, entry);
                      });
}

std::vector<Invitation> SqliteStore::list_invitations(std::string_view org_id,
                                                      std::chrono::sys_seconds now) {
    return impl_->read("list invitations", [&](Connection& c) {
        std::vector<Invitation> out;
        StatementUse s(c, kListInvitations);
        s.bind(1, org_id);
        s.bind(2, unix_seconds(now));
        while (s->executeStep()) out.push_back(invitation_from_row(*s));
        return out;
    });
}

bool SqliteStore::revoke_invitation(std::string_view org_id, std::string_view id,
                                    std::chrono::sys_seconds now, JournalEntry entry) {
    bool revoked = false;
    impl_->writer.run("revoke invitation", nullptr, [&](Connection& c) {
        revoked = false;
        {
            StatementUse s(c, kRevokeInvitation);
            s.bind(1, org_id);
            s.bind(2, unix_seconds(now));
            s.bind(3, id);
            if (!s->executeStep()) return;
            entry.event.target.name = s->getColumn(0).getString();
            s->executeStep();  // finishes the statement (RETURNING yields one row here)
        }
        write_journal(c, entry);
        revoked = true;
    });
    return revoked;
}

std::pair<InvitationAcceptance, std::optional<User>> SqliteStore::accept_invitation(
    const Digest& token_digest, std::chrono::sys_seconds now, std::string_view new_user_id,
    std::string_view password_hash, JournalEntry entry) {
    std::pair<InvitationAcceptance, std::optional<User>> result;
    // One job: the writer runs one at a time, so two accepts of one token take turns and
    // the second finds the invitation used.
    impl_->writer.run("accept invitation", "a user with this id exists already",
                      [&](Connection& c) {
                          result = {InvitationAcceptance::invalid, std::nullopt};
                          Invitation invitation;
                          std::string email_lower;
                          {
                              StatementUse s(c, kSelectPendingInvitation);
                              s.bind(1, token_digest);
                              s.bind(2, unix_seconds(now));
                              if (!s->executeStep()) return;
                              invitation = invitation_from_row(*s);
                              email_lower = s->getColumn(6).getString();
                          }
                          {
                              StatementUse s(c, kUserEmailExists);
                              s.bind(1, email_lower);
                              if (s->executeStep()) {
                                  result.first = InvitationAcceptance::email_taken;
                                  return;
                              }
                          }
                          User user{std::string(new_user_id), invitation.org_id, invitation.email,
                                    invitation.role, now};
                          {
                              StatementUse s(c, kInsertUser);
                              s.bind(1, user.id);
                              s.bind(2, user.org_id);
                              s.bind(3, user.email);
                              s.bind(4, email_lower);
                              s.bind(5, password_hash);
                              s.bind(6, unix_seconds(user.created_at));
                              s.bind(7, to_string(user.role));
                              s->exec();
                          }
                          StatementUse s(c, kMarkInvitationAccepted);
                          s.bind(1, invitation.id);
                          s.bind(2, unix_seconds(now));
                          s->exec();
                          // What the entry learns from the invitation (AccountStore's
                          // contract): the new member is both actor and target.
                          entry.event.org_id = user.org_id;
                          entry.event.actor = {"user", user.id, user.email};
                          entry.event.target = {"member", user.id, user.email};
                          write_journal(c, entry);
                          result = {InvitationAcceptance::accepted, std::move(user)};
                      });
    return result;
}

void SqliteStore::insert_session(const SessionRecord& session, JournalEntry entry) {
    impl_->writer.run("insert session", "this session exists already", [&](Connection& c) {
        StatementUse s(c, kInsertSession);
        s.bind(1, session.token_digest);
        s.bind(2, session.user_id);
        s.bind(3, session.org_id);
        s.bind(4, static_cast<std::int64_t>(session.expires_at.time_since_epoch().count()));
        s->exec();
        write_journal(c, entry);
    });
}

std::optional<SessionRecord> SqliteStore::find_session(const Digest& token_digest) {
    return impl_->read("find session", [&](Connection& c) -> std::optional<SessionRecord> {
        StatementUse s(c, kSelectSession);
        s.bind(1, token_digest);
        if (!s->executeStep()) return std::nullopt;
        SessionRecord r;
        r.token_digest = token_digest;
        r.user_id = s->getColumn(0).getString();
        r.org_id = s->getColumn(1).getString();
        r.expires_at = seconds_at(*s, 2);
        r.role = role_at(*s, 3);
        r.email = s->getColumn(4).getString();
        return r;
    });
}

bool SqliteStore::delete_session(const Digest& token_digest, JournalEntry entry) {
    bool deleted = false;
    impl_->writer.run("delete session", nullptr, [&](Connection& c) {
        {
            StatementUse s(c, kDeleteSession);
            s.bind(1, token_digest);
            deleted = s->exec() > 0;
        }
        if (deleted) write_journal(c, entry);
        impl_->writer.bump_after_commit(impl_->hub->session_generation);
    });
    return deleted;
}

std::size_t SqliteStore::delete_expired_sessions(std::chrono::sys_seconds now) {
    std::size_t deleted = 0;
    impl_->writer.run("delete expired sessions", nullptr, [&](Connection& c) {
        StatementUse s(c, kDeleteExpiredSessions);
        s.bind(1, static_cast<std::int64_t>(now.time_since_epoch().count()));
        deleted = static_cast<std::size_t>(s->exec());
    });
    return deleted;
}

std::optional<IdempotencyRecord> SqliteStore::find_idempotency_record(
    const Digest& scope, std::chrono::sys_seconds now) {
    return impl_->read(
        "find idempotency record", [&](Connection& c) -> std::optional<IdempotencyRecord> {
            StatementUse s(c, kSelectIdempotency);
            s.bind(1, scope);
            s.bind(2, unix_seconds(now));
            if (!s->executeStep()) return std::nullopt;
            return IdempotencyRecord{scope, digest_at(*s, 0), s->getColumn(1).getInt(),
                                     blob_at(*s, 2), seconds_at(*s, 3)};
        });
}

// --- JournalStore ---

std::vector<AuditEvent> SqliteStore::list_audit_events(std::string_view org_id,
                                                       const AuditQuery& query,
                                                       const std::optional<PagePosition>& after,
                                                       std::size_t limit) {
    constexpr std::int64_t kEarliest = std::numeric_limits<std::int64_t>::min();
    constexpr std::int64_t kLatest = std::numeric_limits<std::int64_t>::max();
    return impl_->read("list audit events", [&](Connection& c) {
        std::vector<AuditEvent> out;
        StatementUse s(c, kListAuditEvents);
        s.bind(1, org_id);
        if (after) {
            s.bind(2, unix_seconds(after->created_at));
            s.bind(3, after->id);
        } else {
            s.bind(2, kLatest);
            s.bind(3, std::string_view());
        }
        s.bind(4, query.since ? unix_seconds(*query.since) : kEarliest);
        s.bind(5, query.until ? unix_seconds(*query.until) : kLatest);
        auto bind_filter = [&](int index, const std::optional<std::string>& value) {
            if (value) {
                s.bind(index, *value);
            } else {
                s.bind_null(index);
            }
        };
        bind_filter(
            6, query.action ? std::optional<std::string>(to_string(*query.action)) : std::nullopt);
        bind_filter(7, query.target_id);
        bind_filter(8, query.actor_id);
        s.bind(9, sql_limit(limit));
        while (s->executeStep()) out.push_back(audit_event_from_row(*s));
        return out;
    });
}

std::size_t SqliteStore::prune_audit_events(std::chrono::sys_seconds cutoff, std::size_t max) {
    std::size_t deleted = 0;
    impl_->writer.run("prune audit events", nullptr, [&](Connection& c) {
        StatementUse s(c, kPruneAuditEvents);
        s.bind(1, unix_seconds(cutoff));
        s.bind(2, sql_limit(max));
        deleted = static_cast<std::size_t>(s->exec());
    });
    return deleted;
}

std::size_t SqliteStore::prune_idempotency_records(std::chrono::sys_seconds now, std::size_t max) {
    std::size_t deleted = 0;
    impl_->writer.run("prune idempotency records", nullptr, [&](Connection& c) {
        StatementUse s(c, kPruneIdempotency);
        s.bind(1, unix_seconds(now));
        s.bind(2, sql_limit(max));
        deleted = static_cast<std::size_t>(s->exec());
    });
    return deleted;
}

// --- Diagnostics ---

ConnectionSettings SqliteStore::writer_settings() {
    ConnectionSettings settings;
    impl_->writer.run("read settings", nullptr, [&](Connection& c) { settings = c.settings(); });
    return settings;
}

ConnectionSettings SqliteStore::reader_settings() {
    return impl_->read("read settings", [](Connection& c) { return c.settings(); });
}

}  // namespace chatbotmgr::sqlite
