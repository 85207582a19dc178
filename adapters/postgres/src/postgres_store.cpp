#include "chatbotmgr/postgres/postgres_store.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "connection.hpp"
#include "group_commit.hpp"
#include "pool.hpp"
#include "schema.hpp"

namespace chatbotmgr::postgres {

using detail::DbError;
using detail::Params;
using detail::Result;
using detail::Stmt;
using detail::Tx;

namespace {

// Columns in the order of kChatbotColumns (schema.cpp).
Chatbot chatbot_at(const Result& r, int row) {
    Chatbot c;
    c.id = r.string(row, 0);
    c.org_id = r.string(row, 1);
    c.name = r.string(row, 2);
    c.key_prefix = r.string(row, 3);
    c.settings = parse_stored_object(r.string(row, 4));
    c.created_at = std::chrono::sys_seconds(std::chrono::seconds(r.int64(row, 5)));
    return c;
}

std::optional<Chatbot> first_chatbot(const Result& r) {
    if (r.rows() == 0) return std::nullopt;
    return chatbot_at(r, 0);
}

std::chrono::sys_seconds seconds_at(const Result& r, int row, int column) {
    return std::chrono::sys_seconds(std::chrono::seconds(r.int64(row, column)));
}

std::int64_t unix_seconds(std::chrono::sys_seconds t) {
    return static_cast<std::int64_t>(t.time_since_epoch().count());
}

std::optional<std::chrono::sys_seconds> optional_seconds_at(const Result& r, int row, int column) {
    if (r.is_null(row, column)) return std::nullopt;
    return seconds_at(r, row, column);
}

Params& optional_seconds(Params& p, const std::optional<std::chrono::sys_seconds>& t) {
    return t ? p.int64(unix_seconds(*t)) : p.null();
}

// The digest's uniqueness across current and previous keys (each column has its own
// unique index; a 128-bit random key makes a collision a broken random source): queues
// Stmt::digest_taken; a row in its result is the conflict.
std::size_t add_digest_check(Tx& tx, const Digest& digest) {
    Params p;
    p.bytes(digest);
    return tx.add(Stmt::digest_taken, p);
}

[[noreturn]] void throw_digest_taken() {
    throw Error(ErrorCode::conflict, "postgres: a chatbot has this key already");
}

Role role_at(const Result& r, int row, int column) {
    const std::optional<Role> role = role_from_string(r.text(row, column));
    if (!role) throw Error(ErrorCode::internal, "postgres: stored role is not a known role");
    return *role;
}

// Columns in the order of user_query (schema.cpp).
User user_at(const Result& r, int row) {
    return User{r.string(row, 0), r.string(row, 1), r.string(row, 2), role_at(r, row, 3),
                seconds_at(r, row, 4)};
}

// Columns in the order of kInvitationColumns (schema.cpp).
Invitation invitation_at(const Result& r, int row) {
    return Invitation{r.string(row, 0),   r.string(row, 1),      r.string(row, 2),
                      role_at(r, row, 3), seconds_at(r, row, 4), seconds_at(r, row, 5)};
}

// A bytea read through encode(..., 'hex').
std::string from_hex(std::string_view hex) {
    const auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        throw Error(ErrorCode::internal, "postgres: expected hex text");
    };
    if (hex.size() % 2 != 0) throw Error(ErrorCode::internal, "postgres: expected hex text");
    std::string out(hex.size() / 2, '\0');
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<char>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
    return out;
}

Digest digest_from_hex(std::string_view hex) {
    const std::string bytes = from_hex(hex);
    Digest d{};
    if (bytes.size() != d.size()) throw Error(ErrorCode::internal, "postgres: bad digest length");
    std::copy(bytes.begin(), bytes.end(), d.begin());
    return d;
}

// Columns in the order of kAuditColumns (schema.cpp).
AuditEvent event_at(const Result& r, int row) {
    AuditEvent e;
    e.id = r.string(row, 0);
    e.org_id = r.string(row, 1);
    e.created_at = seconds_at(r, row, 2);
    const std::optional<AuditAction> action = parse_audit_action(r.text(row, 3));
    if (!action) throw Error(ErrorCode::internal, "postgres: stored action is not a known action");
    e.action = *action;
    e.actor = {r.string(row, 4), r.string(row, 5), r.string(row, 6)};
    e.target = {r.string(row, 7), r.string(row, 8), r.string(row, 9)};
    e.ip = r.string(row, 10);
    e.user_agent = r.string(row, 11);
    e.changes = parse_stored_object(r.text(row, 12));
    return e;
}

// For the writes whose entry the row completes (journal.hpp). If it throws, the caller's
// transaction rolls back and the exception propagates.
void complete(JournalEntry& entry, const Chatbot& chatbot) {
    if (entry.complete) entry.complete(chatbot, entry);
}

// What accept_invitation's entry learns from the invitation (AccountStore's contract).
void complete_joined(JournalEntry& entry, const User& user) {
    entry.event.org_id = user.org_id;
    entry.event.actor = {"user", user.id, user.email};
    entry.event.target = {"member", user.id, user.email};
}

// Where add_journal queued the idempotency record's insert, if any.
struct JournalAt {
    std::optional<std::size_t> record;
};

// Queues the entry inside the job's transaction, after its change: the idempotency record
// first (a refusal rolls the change back with it), then the event. Taking the record's row
// last, after every lock of the change, keeps two writes of one scope from waiting on each
// other in a cycle: the second waits for the first to commit, then finds its live record
// and fails. That wait must end in the first one's outcome, not in the batch's short lock
// timeout, hence unbounded_lock_waits (it comes after user code, where a job never runs
// again).
JournalAt add_journal(Tx& tx, const JournalEntry& entry) {
    JournalAt at;
    const AuditEvent& e = entry.event;
    if (entry.idempotency) {
        const IdempotencyRecord& r = *entry.idempotency;
        Params p;
        p.bytes(r.scope)
            .bytes(r.request)
            .int64(r.status)
            .bytes(std::string_view(r.answer))
            .int64(unix_seconds(r.expires_at))
            .int64(unix_seconds(e.created_at));
        tx.unbounded_lock_waits();
        at.record = tx.add(Stmt::put_idempotency_record, p);
    }
    const std::string changes = to_compact_json(e.changes);  // Params keeps a view
    // Made at the insert, inside the transaction: close to the commit order, exactly so only
    // for the writes of one instance that do not overlap.
    const std::string id = stored_event_id(e);
    Params p;
    p.text(id)
        .text(e.org_id)
        .int64(unix_seconds(e.created_at))
        .text(to_string(e.action))
        .text(e.actor.type)
        .text(e.actor.id)
        .text(e.actor.email)
        .text(e.target.type)
        .text(e.target.id)
        .text(e.target.name)
        .text(e.ip)
        .text(e.user_agent)
        .text(changes);
    tx.add(Stmt::insert_audit_event, p);
    return at;
}

// A live record of the scope leaves the insert without a row: the write is refused.
void check_journal(const std::vector<Result>& results, JournalAt at) {
    if (at.record && results.at(*at.record).affected() == 0)
        throw Error(ErrorCode::conflict, "postgres: the Idempotency-Key has a record already",
                    "Idempotency-Key");
}

// The end of a journaled write whose change is queued: the entry goes out in the same
// round trip. Without an idempotency record nothing can refuse the write any more, so that
// round trip also ends the job (and commits the batch when the job is its last); with one,
// its insert's outcome is checked first.
void journal_and_finish(Tx& tx, const JournalEntry& entry) {
    const JournalAt at = add_journal(tx, entry);
    if (!at.record) {
        tx.finish();
        return;
    }
    check_journal(tx.round_trip(), at);
    tx.keep();
}

// Orders the jobs of a write batch (group_commit.hpp): batches that lock the same rows
// take them in the same order. The class comes first: organization-wide locks (a create's
// quota lock, the member changes' organization row), then chatbot rows (with the
// conversation a capture upserts), then the rest. Parts are separated by NUL, which no id
// contains.
std::string lock_key(char lock_class, std::string_view first, std::string_view second = {}) {
    std::string key;
    key.reserve(2 + first.size() + second.size());
    key += lock_class;
    key += first;
    key += '\0';
    key += second;
    return key;
}

// The lane of a write (GroupCommit's affinity): writes that lock the same rows share one,
// and with it its batches, instead of waiting on each other from two batches of this
// process; the others spread over the lanes.
std::size_t lane_of(char lock_class, std::string_view first, std::string_view second = {}) {
    std::size_t h = std::hash<std::string_view>{}(first) ^ static_cast<unsigned char>(lock_class);
    if (!second.empty()) h = h * 1'000'003 ^ std::hash<std::string_view>{}(second);
    return h;
}

std::string scope_of(const JournalEntry& entry) {
    if (!entry.idempotency) return {};
    const Digest& d = entry.idempotency->scope;
    return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

void require(bool ok, const char* field, const char* message) {
    if (!ok) throw Error(ErrorCode::invalid_argument, message, field);
}

// Messages per INSERT statement: 4 parameters each, far below libpq's 65,535 limit.
// Captures up to this size (the core allows 100 messages) take one round trip.
constexpr std::size_t kMessagesPerStatement = 500;

void add_messages(Params& p, std::span<const CapturedMessage> messages) {
    for (const CapturedMessage& m : messages) {
        p.optional_text(m.external_id).text(m.role).text(m.content);
        if (m.sent_at)
            p.int64(m.sent_at->time_since_epoch().count());
        else
            p.null();
    }
}

}  // namespace

struct PostgresStore::Impl {
    explicit Impl(PostgresOptions opts)
        : options(std::move(opts)),
          clock(options.clock ? options.clock : system_clock()),
          random(options.random ? options.random : system_random()),
          pool(detail::ConnectSettings{options.conninfo, options.connect_timeout,
                                       options.statement_timeout, options.network_timeout},
               options.pool_size, options.acquire_timeout),
          writes(pool, detail::GroupCommit::Settings{
                           options.max_batch,
                           options.write_lanes == 0 ? options.pool_size : options.write_lanes,
                           // Below statement_timeout, or a lock wait would end as a
                           // statement timeout, which fails the write.
                           std::min(options.batch_lock_timeout, options.statement_timeout / 2),
                           options.on_commit}) {}

    std::int64_t now_seconds() const {
        return std::chrono::duration_cast<std::chrono::seconds>(clock->now().time_since_epoch())
            .count();
    }

    PostgresOptions options;
    std::shared_ptr<Clock> clock;
    std::shared_ptr<RandomSource> random;
    detail::Pool pool;
    detail::GroupCommit writes;  // after the pool: destroyed first, once its callers are gone
};

namespace {

// PostgreSQL caches the ids of 64 subtransactions per backend (PGPROC_MAX_CACHED_SUBXIDS);
// a transaction with more writing savepoints overflows it, and every snapshot on the server
// then has to look subtransactions up in pg_subtrans.
constexpr std::size_t kMaxBatch = 64;

PostgresOptions validated(PostgresOptions options) {
    require(options.pool_size >= 1, "pool_size", "pool_size must be at least 1");
    require(options.connect_timeout.count() > 0, "connect_timeout",
            "connect_timeout must be positive");
    require(options.statement_timeout.count() > 0, "statement_timeout",
            "statement_timeout must be positive");
    require(options.network_timeout.count() > 0, "network_timeout",
            "network_timeout must be positive");
    require(options.acquire_timeout.count() > 0, "acquire_timeout",
            "acquire_timeout must be positive");
    require(options.max_batch >= 1 && options.max_batch <= kMaxBatch, "max_batch",
            "max_batch must be 1 to 64");
    require(options.write_lanes <= options.pool_size, "write_lanes",
            "write_lanes must not exceed pool_size");
    require(options.batch_lock_timeout.count() > 0, "batch_lock_timeout",
            "batch_lock_timeout must be positive");
    char* err = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(options.conninfo.c_str(), &err);
    // libpq's message may quote part of the string (a password): never pass it on.
    PQfreemem(err);
    require(parsed != nullptr, "conninfo", "conninfo is not a valid libpq connection string");
    PQconninfoFree(parsed);
    return options;
}

}  // namespace

PostgresStore::PostgresStore(PostgresOptions options)
    : impl_(std::make_unique<Impl>(validated(std::move(options)))) {
    auto conn = impl_->pool.acquire();
    const Result enc = conn->exec_simple("SHOW server_encoding");
    require(enc.rows() == 1 && enc.text(0, 0) == "UTF8", "conninfo",
            "the database must use the UTF8 encoding");
    detail::migrate(*conn, impl_->options.migrate);
}

PostgresStore::~PostgresStore() = default;

int PostgresStore::schema_version() noexcept {
    return detail::latest_schema_version();
}

// The writes below run as jobs of the write batches (group_commit.hpp): each body queues
// statements and sends them in as few round trips as its decisions allow. A body may run a
// second time when its first run met another transaction's locks before any user code
// (mutate, complete): so it sets its outputs from scratch.

bool PostgresStore::insert(const Chatbot& chatbot, const NewKey& key, std::size_t max_in_org,
                           JournalEntry entry) {
    const std::string settings = to_compact_json(chatbot.settings);  // Params keeps a view
    const bool limited = max_in_org != std::numeric_limits<std::size_t>::max();
    bool inserted = false;
    impl_->writes.run(
        lock_key('a', chatbot.org_id, scope_of(entry)), lane_of('a', chatbot.org_id), [&](Tx& tx) {
            inserted = false;
            // Round trip 1: the quota lock, then the count in a new statement (a new snapshot:
            // what another create of this organization committed while we waited is counted),
            // and the digest check.
            Params org;
            org.text(chatbot.org_id);
            std::size_t count = 0;
            if (limited) {
                tx.add(Stmt::lock_org_chatbots, org);
                count = tx.add(Stmt::count_org_chatbots, org);
            }
            const std::size_t taken = add_digest_check(tx, key.digest);
            const std::vector<Result> r = tx.round_trip();
            if (limited && static_cast<std::size_t>(r.at(count).int64(0, 0)) >= max_in_org) return;
            if (r.at(taken).rows() > 0) throw_digest_taken();
            // Round trip 2: the insert and the journal.
            Params p;
            p.text(chatbot.id)
                .text(chatbot.org_id)
                .text(chatbot.name)
                .text(key.prefix)
                .bytes(key.digest)
                .text(settings)
                .int64(unix_seconds(chatbot.created_at));
            optional_seconds(p, key.expires_at);
            tx.add(Stmt::insert_chatbot, p);
            journal_and_finish(tx, entry);
            inserted = true;
        });
    return inserted;
}

std::vector<Chatbot> PostgresStore::list(std::string_view org_id) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.text(org_id);
    const Result r = conn->exec(Stmt::list_chatbots, p);
    std::vector<Chatbot> out;
    out.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) out.push_back(chatbot_at(r, i));
    return out;
}

namespace {

// Runs a keyset page statement ($1 org, $2/$3 the position or unbounded_time and "", $4
// the limit) and converts its rows.
template <class Row>
std::vector<Row> read_page(detail::Connection& conn, Stmt statement, std::string_view org_id,
                           const std::optional<PagePosition>& after, std::size_t limit,
                           std::int64_t unbounded_time, Row (*row)(const Result&, int)) {
    Params p;
    p.text(org_id);
    if (after)
        p.int64(unix_seconds(after->created_at)).text(after->id);
    else
        p.int64(unbounded_time).text("");
    p.int64(static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
    const Result r = conn.exec(statement, p);
    std::vector<Row> out;
    out.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) out.push_back(row(r, i));
    return out;
}

}  // namespace

std::vector<Chatbot> PostgresStore::list_page(std::string_view org_id,
                                              const std::optional<PagePosition>& after,
                                              std::size_t limit) {
    auto conn = impl_->pool.acquire();
    return read_page(*conn, Stmt::list_chatbots_page, org_id, after, limit,
                     std::numeric_limits<std::int64_t>::max(), chatbot_at);
}

std::optional<Chatbot> PostgresStore::get(std::string_view org_id, std::string_view id) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.text(org_id).text(id);
    return first_chatbot(conn->exec(Stmt::get_chatbot, p));
}

std::optional<Chatbot> PostgresStore::update(std::string_view org_id, std::string_view id,
                                             const std::function<void(Chatbot&)>& mutate,
                                             JournalEntry entry) {
    std::optional<Chatbot> updated;
    impl_->writes.run(lock_key('b', id), lane_of('b', id), [&](Tx& tx) {
        updated.reset();
        // Round trip 1: the row, locked: concurrent read-modify-writes of one chatbot take
        // turns.
        Params key;
        key.text(org_id).text(id);
        tx.add(Stmt::get_chatbot_for_update, key);
        std::optional<Chatbot> row = first_chatbot(tx.round_trip().at(0));
        if (!row) return;
        tx.user_code();
        Chatbot changed = *row;
        mutate(changed);  // may throw: the job rolls back, nothing is written
        row->name = std::move(changed.name);
        row->settings = std::move(changed.settings);
        complete(entry, *row);  // may throw too
        // Round trip 2: the update and the journal.
        const std::string settings = to_compact_json(row->settings);  // Params keeps a view
        Params p;
        p.text(org_id).text(id).text(row->name).text(settings);
        tx.add(Stmt::update_chatbot, p);
        journal_and_finish(tx, entry);
        updated = std::move(row);
    });
    return updated;
}

bool PostgresStore::remove(std::string_view org_id, std::string_view id, JournalEntry entry) {
    bool removed = false;
    impl_->writes.run(lock_key('b', id), lane_of('b', id), [&](Tx& tx) {
        removed = false;
        Params p;
        p.text(org_id).text(id);
        // ON DELETE CASCADE removes conversations, messages and analysis results in the
        // same statement, hence the same transaction.
        tx.add(Stmt::delete_chatbot, p);
        const std::optional<Chatbot> row = first_chatbot(tx.round_trip().at(0));
        if (!row) return;
        tx.user_code();
        complete(entry, *row);
        journal_and_finish(tx, entry);
        removed = true;
    });
    return removed;
}

std::optional<Chatbot> PostgresStore::replace_key(
    std::string_view org_id, std::string_view id, const NewKey& key,
    std::optional<std::chrono::sys_seconds> previous_until, JournalEntry entry) {
    std::optional<Chatbot> replaced;
    impl_->writes.run(lock_key('b', id), lane_of('b', id), [&](Tx& tx) {
        replaced.reset();
        // Round trip 1: the digest check and the update together. A taken digest refuses
        // the job, which rolls the update back.
        const std::size_t taken = add_digest_check(tx, key.digest);
        Params p;
        p.text(org_id).text(id).bytes(key.digest).text(key.prefix);
        optional_seconds(p, previous_until).int64(unix_seconds(key.issued_at));
        optional_seconds(p, key.expires_at);
        const std::size_t update = tx.add(Stmt::replace_key, p);
        std::vector<Result> r;
        try {
            r = tx.round_trip();
        } catch (const DbError& e) {
            // The digest is another chatbot's current key (its unique index).
            if (e.sqlstate() == "23505") throw_digest_taken();
            throw;
        }
        if (r.at(taken).rows() > 0) throw_digest_taken();
        std::optional<Chatbot> row = first_chatbot(r.at(update));
        if (!row) return;
        tx.user_code();
        complete(entry, *row);
        journal_and_finish(tx, entry);
        replaced = std::move(row);
    });
    return replaced;
}

std::optional<bool> PostgresStore::drop_previous_key(std::string_view org_id, std::string_view id,
                                                     std::chrono::sys_seconds now,
                                                     JournalEntry entry) {
    std::optional<bool> dropped;
    impl_->writes.run(lock_key('b', id), lane_of('b', id), [&](Tx& tx) {
        dropped.reset();
        Params p;
        p.text(org_id).text(id);
        tx.add(Stmt::drop_previous_key, p);
        const std::vector<Result> r = tx.round_trip();
        if (r.at(0).rows() == 0) return;
        const auto until = optional_seconds_at(r.at(0), 0, 7);
        const bool live = r.at(0).text(0, 6) == "t" && until && *until > now;
        // Only ending a grace that was still running is a change a team sees.
        if (live) {
            tx.user_code();
            complete(entry, chatbot_at(r.at(0), 0));
            journal_and_finish(tx, entry);
        } else {
            tx.keep();  // an expired previous key is cleared all the same
        }
        dropped = live;
    });
    return dropped;
}

std::optional<ChatbotKeys> PostgresStore::keys(std::string_view org_id, std::string_view id) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.text(org_id).text(id);
    const Result r = conn->exec(Stmt::select_keys, p);
    if (r.rows() == 0) return std::nullopt;
    ChatbotKeys keys{KeyState{r.string(0, 0), seconds_at(r, 0, 1), optional_seconds_at(r, 0, 2),
                              optional_seconds_at(r, 0, 3)},
                     std::nullopt};
    if (!r.is_null(0, 4))
        keys.previous = KeyState{r.string(0, 4), seconds_at(r, 0, 5), optional_seconds_at(r, 0, 6),
                                 optional_seconds_at(r, 0, 7)};
    return keys;
}

std::optional<KeyOwner> PostgresStore::find_by_key_digest(const Digest& digest) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.bytes(digest);
    const Result r = conn->exec(Stmt::find_by_key_digest, p);
    if (r.rows() == 0) return std::nullopt;
    return KeyOwner{r.string(0, 0), r.string(0, 1),
                    r.int64(0, 2) == 0 ? KeySlot::current : KeySlot::previous,
                    optional_seconds_at(r, 0, 3)};
}

void PostgresStore::record_key_usage(std::span<const KeyUsage> usage) {
    if (usage.empty()) return;
    // In digest order: two instances flushing at once lock the rows in the same order.
    std::vector<const KeyUsage*> sorted;
    sorted.reserve(usage.size());
    for (const KeyUsage& u : usage) sorted.push_back(&u);
    std::sort(sorted.begin(), sorted.end(),
              [](const KeyUsage* a, const KeyUsage* b) { return a->digest < b->digest; });
    // One job, one round trip for all the updates.
    impl_->writes.run(lock_key('z', ""), lane_of('z', ""), [&](Tx& tx) {
        for (const KeyUsage* u : sorted) {
            Params p;
            p.bytes(u->digest).int64(unix_seconds(u->last_used_at));
            tx.add(Stmt::record_key_use, p);
        }
        tx.finish();
    });
}

std::optional<CaptureResult> PostgresStore::append_capture(std::string_view chatbot_id,
                                                           const CaptureBatch& batch) {
    const std::int64_t now = impl_->now_seconds();
    const std::string new_id = generate_uuid_v4(*impl_->random);
    const std::span<const CapturedMessage> messages(batch.messages);
    const std::string metadata = to_compact_json(batch.metadata);  // Params keeps a view
    std::optional<CaptureResult> out;
    impl_->writes.run(
        lock_key('b', chatbot_id, batch.external_conversation_id),
        lane_of('b', chatbot_id, batch.external_conversation_id), [&](Tx& tx) {
            out.reset();
            Params conv;
            conv.text(new_id)
                .text(chatbot_id)
                .text(batch.external_conversation_id)
                .optional_text(batch.external_user_id)
                .text(metadata)
                .int64(now);
            try {
                if (!messages.empty() && messages.size() <= kMessagesPerStatement) {
                    // The usual case: one statement, so one round trip (with the savepoint's
                    // start and end, and the batch's COMMIT when it is the last job).
                    add_messages(conv, messages);
                    tx.add(detail::capture_sql(messages.size()), conv);
                    const std::vector<Result> r = tx.finish();
                    if (r.at(0).rows() == 0) return;  // no such chatbot: nothing written
                    out = CaptureResult{r.at(0).string(0, 0),
                                        static_cast<std::size_t>(r.at(0).int64(0, 1))};
                    return;
                }
                tx.add(Stmt::upsert_conversation, conv);
                const std::vector<Result> r = tx.round_trip();
                if (r.at(0).rows() == 0) return;
                CaptureResult result{r.at(0).string(0, 0), 0};
                // Every chunk in one round trip.
                for (std::size_t begin = 0; begin < messages.size();
                     begin += kMessagesPerStatement) {
                    const auto chunk = messages.subspan(
                        begin, std::min(kMessagesPerStatement, messages.size() - begin));
                    Params p;
                    p.text(result.conversation_id).int64(now);
                    add_messages(p, chunk);
                    tx.add(detail::insert_messages_sql(chunk.size()), p);
                }
                for (const Result& inserted : tx.finish())
                    result.messages_stored += inserted.affected();
                out = std::move(result);
            } catch (const DbError& e) {
                // The chatbot was deleted between the EXISTS check and the foreign-key check.
                if (e.sqlstate() == detail::kForeignKeyViolation) return;
                throw;
            }
        });
    return out;
}

bool PostgresStore::record_analysis(std::string_view chatbot_id, std::string_view conversation_id,
                                    std::string_view kind, std::string_view result_json) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.text(chatbot_id)
        .text(conversation_id)
        .text(kind)
        .text(result_json)
        .int64(impl_->now_seconds());
    try {
        return conn->exec(Stmt::record_analysis, p).affected() > 0;
    } catch (const DbError& e) {
        if (e.sqlstate() == detail::kForeignKeyViolation) return false;  // deleted meanwhile
        throw;
    }
}

ChatbotDataCounts PostgresStore::count_data(std::string_view chatbot_id) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.text(chatbot_id);
    const Result r = conn->exec(Stmt::count_data, p);
    return ChatbotDataCounts{static_cast<std::size_t>(r.int64(0, 0)),
                             static_cast<std::size_t>(r.int64(0, 1)),
                             static_cast<std::size_t>(r.int64(0, 2))};
}

void PostgresStore::ping() {
    auto conn = impl_->pool.acquire();
    conn->exec(Stmt::ping, Params{});
}

Organization PostgresStore::find_or_create_organization(std::string_view name,
                                                        std::string_view new_id) {
    auto conn = impl_->pool.acquire();
    Params by_name;
    by_name.text(name);
    // Each statement sees what committed before it started (read committed), so after
    // our INSERT, or a concurrent one that made ours do nothing, the SELECT finds the row.
    for (int attempt = 0; attempt < 3; ++attempt) {
        const Result found = conn->exec(Stmt::find_org_by_name, by_name);
        if (found.rows() > 0) return Organization{found.string(0, 0), found.string(0, 1)};
        Params ins;
        ins.text(new_id).text(name);
        conn->exec(Stmt::insert_org, ins);
    }
    throw Error(ErrorCode::unavailable, "postgres: organization kept disappearing; try again");
}

std::optional<Organization> PostgresStore::find_organization(std::string_view id) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.text(id);
    const Result r = conn->exec(Stmt::find_org_by_id, p);
    if (r.rows() == 0) return std::nullopt;
    return Organization{r.string(0, 0), r.string(0, 1)};
}

std::vector<Organization> PostgresStore::list_organizations() {
    auto conn = impl_->pool.acquire();
    const Result r = conn->exec(Stmt::list_orgs, Params{});
    std::vector<Organization> out;
    out.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) out.push_back(Organization{r.string(i, 0), r.string(i, 1)});
    return out;
}

void PostgresStore::insert_user(const User& user, std::string_view email_lower,
                                std::string_view password_hash, JournalEntry entry) {
    impl_->writes.run(lock_key('c', email_lower), lane_of('c', email_lower), [&](Tx& tx) {
        Params p;
        p.text(user.id)
            .text(user.org_id)
            .text(user.email)
            .text(email_lower)
            .text(password_hash)
            .text(to_string(user.role))
            .int64(unix_seconds(user.created_at));
        tx.add(Stmt::insert_user, p);
        try {
            journal_and_finish(tx, entry);  // one round trip with the insert
        } catch (const DbError& e) {
            if (e.sqlstate() == detail::kForeignKeyViolation)
                throw Error(ErrorCode::invalid_argument, "no such organization", "org");
            throw;
        }
    });
}

std::optional<std::pair<User, std::string>> PostgresStore::find_user_by_email(
    std::string_view email_lower) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.text(email_lower);
    const Result r = conn->exec(Stmt::find_user_by_email, p);
    if (r.rows() == 0) return std::nullopt;
    return std::pair{user_at(r, 0), r.string(0, 5)};
}

std::size_t PostgresStore::count_users() {
    auto conn = impl_->pool.acquire();
    return static_cast<std::size_t>(conn->exec(Stmt::count_users, Params{}).int64(0, 0));
}

std::vector<User> PostgresStore::list_users(std::string_view org_id) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.text(org_id);
    const Result r = conn->exec(Stmt::list_users, p);
    std::vector<User> out;
    out.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) out.push_back(user_at(r, i));
    return out;
}

std::vector<User> PostgresStore::list_users_page(std::string_view org_id,
                                                 const std::optional<PagePosition>& after,
                                                 std::size_t limit) {
    auto conn = impl_->pool.acquire();
    return read_page(*conn, Stmt::list_users_page, org_id, after, limit,
                     std::numeric_limits<std::int64_t>::min(), user_at);
}

std::optional<User> PostgresStore::find_user(std::string_view org_id, std::string_view user_id) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.text(org_id).text(user_id);
    const Result r = conn->exec(Stmt::find_user, p);
    if (r.rows() == 0) return std::nullopt;
    return user_at(r, 0);
}

namespace {

// The member, read at the start of a member change, in one round trip: the organization's
// row lock, which every member change of the organization takes first, so they run one at
// a time on every instance (and never deadlock on each other's user rows); then the user
// and the organization's owner count, in statements that start once the lock is granted
// (read committed: they see every change committed before). nullopt when the user is not
// in the organization.
struct Member {
    User user;
    bool only_owner;  // the organization's only owner
};

std::optional<Member> lock_member(Tx& tx, std::string_view org_id, std::string_view user_id) {
    Params org;
    org.text(org_id);
    Params key;
    key.text(org_id).text(user_id);
    const std::size_t locked = tx.add(Stmt::lock_organization, org);
    const std::size_t found = tx.add(Stmt::find_user, key);
    const std::size_t owners = tx.add(Stmt::count_owners, org);
    const std::vector<Result> r = tx.round_trip();
    if (r.at(locked).rows() == 0 || r.at(found).rows() == 0) return std::nullopt;
    Member m{user_at(r.at(found), 0), false};
    m.only_owner = m.user.role == Role::owner && r.at(owners).int64(0, 0) <= 1;
    return m;
}

}  // namespace

MemberChange PostgresStore::set_role(std::string_view org_id, std::string_view user_id, Role role,
                                     JournalEntry entry) {
    MemberChange change = MemberChange::not_found;
    impl_->writes.run(lock_key('a', org_id), lane_of('a', org_id), [&](Tx& tx) {
        change = MemberChange::not_found;
        const std::optional<Member> member = lock_member(tx, org_id, user_id);
        if (!member) return;
        if (role != Role::owner && member->only_owner) {
            change = MemberChange::last_owner;
            return;
        }
        Params p;
        p.text(org_id).text(user_id).text(to_string(role));
        tx.add(Stmt::update_role, p);
        journal_and_finish(tx, entry);
        change = MemberChange::done;
    });
    return change;
}

MemberChange PostgresStore::remove_user(std::string_view org_id, std::string_view user_id,
                                        JournalEntry entry) {
    MemberChange change = MemberChange::not_found;
    impl_->writes.run(lock_key('a', org_id), lane_of('a', org_id), [&](Tx& tx) {
        change = MemberChange::not_found;
        const std::optional<Member> member = lock_member(tx, org_id, user_id);
        if (!member) return;
        if (member->only_owner) {
            change = MemberChange::last_owner;
            return;
        }
        Params p;
        p.text(org_id).text(user_id);
        // ON DELETE CASCADE deletes the user's sessions in the same statement.
        tx.add(Stmt::delete_user, p);
        journal_and_finish(tx, entry);
        change = MemberChange::done;
    });
    return change;
}

void PostgresStore::insert_invitation(const Invitation& invitation, std::string_view email_lower,
                                      const Digest& token_digest, JournalEntry entry) {
    impl_->writes.run(lock_key('d', invitation.org_id, invitation.id),
                      lane_of('d', invitation.org_id), [&](Tx& tx) {
                          Params p;
                          p.text(invitation.id)
                              .text(invitation.org_id)
                              .text(invitation.email)
                              .text(email_lower)
                              .text(to_string(invitation.role))
                              .bytes(token_digest)
                              .int64(unix_seconds(invitation.created_at))
                              .int64(unix_seconds(invitation.expires_at));
                          tx.add(Stmt::insert_invitation, p);
                          try {
                              journal_and_finish(tx, entry);  // one round trip with the insert
                          } catch (const DbError& e) {
                              if (e.sqlstate() == detail::kForeignKeyViolation)
                                  throw Error(ErrorCode::invalid_argument, "no such organization",
                                              "org");
                              throw;
                          }
                      });
}

std::vector<Invitation> PostgresStore::list_invitations(std::string_view org_id,
                                                        std::chrono::sys_seconds now) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.text(org_id).int64(unix_seconds(now));
    const Result r = conn->exec(Stmt::list_invitations, p);
    std::vector<Invitation> out;
    out.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) out.push_back(invitation_at(r, i));
    return out;
}

bool PostgresStore::revoke_invitation(std::string_view org_id, std::string_view id,
                                      std::chrono::sys_seconds now, JournalEntry entry) {
    bool revoked = false;
    impl_->writes.run(lock_key('d', org_id, id), lane_of('d', org_id), [&](Tx& tx) {
        revoked = false;
        Params p;
        p.text(org_id).int64(unix_seconds(now)).text(id);
        tx.add(Stmt::revoke_invitation, p);
        const std::vector<Result> r = tx.round_trip();
        if (r.at(0).rows() == 0) return;
        entry.event.target.name = r.at(0).string(0, 0);
        journal_and_finish(tx, entry);
        revoked = true;
    });
    return revoked;
}

std::pair<InvitationAcceptance, std::optional<User>> PostgresStore::accept_invitation(
    const Digest& token_digest, std::chrono::sys_seconds now, std::string_view new_user_id,
    std::string_view password_hash, JournalEntry entry) {
    std::pair<InvitationAcceptance, std::optional<User>> outcome;
    const std::string_view token(reinterpret_cast<const char*>(token_digest.data()),
                                 token_digest.size());
    impl_->writes.run(lock_key('d', token), lane_of('d', token), [&](Tx& tx) {
        outcome = {InvitationAcceptance::invalid, std::nullopt};
        // Round trip 1: locks the invitation: a concurrent accept of the same token waits
        // here, then finds it used.
        Params take;
        take.bytes(token_digest).int64(unix_seconds(now));
        tx.add(Stmt::take_invitation, take);
        const std::vector<Result> found = tx.round_trip();
        if (found.at(0).rows() == 0) return;
        const Invitation invitation = invitation_at(found.at(0), 0);
        const std::string email_lower = found.at(0).string(0, 6);
        User user{std::string(new_user_id), invitation.org_id, invitation.email, invitation.role,
                  now};
        // Round trip 2: the user, the invitation's use and the journal; all rolled back
        // when the email has an account.
        Params ins;
        ins.text(user.id)
            .text(user.org_id)
            .text(user.email)
            .text(email_lower)
            .text(password_hash)
            .text(to_string(user.role))
            .int64(unix_seconds(now));
        const std::size_t inserted = tx.add(Stmt::insert_invited_user, ins);
        Params used;
        used.text(invitation.id).int64(unix_seconds(now));
        tx.add(Stmt::mark_invitation_accepted, used);
        complete_joined(entry, user);
        const JournalAt at = add_journal(tx, entry);
        const std::vector<Result> r = tx.round_trip();
        if (r.at(inserted).rows() == 0) {
            outcome.first = InvitationAcceptance::email_taken;  // rolled back: still pending
            return;
        }
        check_journal(r, at);
        tx.keep();
        outcome = {InvitationAcceptance::accepted, std::move(user)};
    });
    return outcome;
}

void PostgresStore::insert_session(const SessionRecord& session, JournalEntry entry) {
    impl_->writes.run(lock_key('e', session.user_id), lane_of('e', session.user_id), [&](Tx& tx) {
        Params p;
        p.bytes(session.token_digest)
            .text(session.user_id)
            .text(session.org_id)
            .int64(session.expires_at.time_since_epoch().count());
        tx.add(Stmt::insert_session, p);
        try {
            journal_and_finish(tx, entry);  // one round trip with the insert
        } catch (const DbError& e) {
            if (e.sqlstate() == detail::kForeignKeyViolation)
                throw Error(ErrorCode::invalid_argument, "no such user", "user_id");
            throw;
        }
    });
}

std::optional<SessionRecord> PostgresStore::find_session(const Digest& token_digest) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.bytes(token_digest);
    const Result r = conn->exec(Stmt::find_session, p);
    if (r.rows() == 0) return std::nullopt;
    SessionRecord session;
    session.token_digest = token_digest;
    session.user_id = r.string(0, 0);
    session.org_id = r.string(0, 1);
    session.expires_at = seconds_at(r, 0, 2);
    session.role = role_at(r, 0, 3);
    session.email = r.string(0, 4);
    return session;
}

bool PostgresStore::delete_session(const Digest& token_digest, JournalEntry entry) {
    bool deleted = false;
    const std::string_view token(reinterpret_cast<const char*>(token_digest.data()),
                                 token_digest.size());
    impl_->writes.run(lock_key('e', token), lane_of('e', token), [&](Tx& tx) {
        deleted = false;
        // One round trip: the delete with the journal, which is rolled back with the job
        // when there was no such session.
        Params p;
        p.bytes(token_digest);
        const std::size_t removed = tx.add(Stmt::delete_session, p);
        const JournalAt at = add_journal(tx, entry);
        const std::vector<Result> r = tx.round_trip();
        if (r.at(removed).affected() == 0) return;
        check_journal(r, at);
        tx.keep();
        deleted = true;
    });
    return deleted;
}

std::size_t PostgresStore::delete_expired_sessions(std::chrono::sys_seconds now) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.int64(now.time_since_epoch().count());
    return conn->exec(Stmt::delete_expired_sessions, p).affected();
}

std::optional<IdempotencyRecord> PostgresStore::find_idempotency_record(
    const Digest& scope, std::chrono::sys_seconds now) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.bytes(scope).int64(unix_seconds(now));
    const Result r = conn->exec(Stmt::find_idempotency_record, p);
    if (r.rows() == 0) return std::nullopt;
    return IdempotencyRecord{scope, digest_from_hex(r.text(0, 0)), static_cast<int>(r.int64(0, 1)),
                             from_hex(r.text(0, 2)), seconds_at(r, 0, 3)};
}

namespace {

std::int64_t row_limit(std::size_t limit) {
    return static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX));
}

}  // namespace

std::vector<AuditEvent> PostgresStore::list_audit_events(std::string_view org_id,
                                                         const AuditQuery& query,
                                                         const std::optional<PagePosition>& after,
                                                         std::size_t limit) {
    // In the parameter order of audit_events_sql.
    Params p;
    p.text(org_id);
    if (query.action) p.text(to_string(*query.action));
    if (query.target_id) p.text(*query.target_id);
    if (query.actor_id) p.text(*query.actor_id);
    if (query.since) p.int64(unix_seconds(*query.since));
    if (query.until) p.int64(unix_seconds(*query.until));
    if (after) p.int64(unix_seconds(after->created_at)).text(after->id);
    p.int64(row_limit(limit));
    auto conn = impl_->pool.acquire();
    const Result r = conn->exec(detail::audit_events_sql(query, after.has_value()), p);
    std::vector<AuditEvent> out;
    out.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) out.push_back(event_at(r, i));
    return out;
}

std::size_t PostgresStore::prune_audit_events(std::chrono::sys_seconds cutoff, std::size_t max) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.int64(unix_seconds(cutoff)).int64(row_limit(max));
    return conn->exec(Stmt::prune_audit_events, p).affected();
}

std::size_t PostgresStore::prune_idempotency_records(std::chrono::sys_seconds now,
                                                     std::size_t max) {
    auto conn = impl_->pool.acquire();
    Params p;
    p.int64(unix_seconds(now)).int64(row_limit(max));
    return conn->exec(Stmt::prune_idempotency_records, p).affected();
}

}  // namespace chatbotmgr::postgres
