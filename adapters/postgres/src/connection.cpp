#include "connection.hpp"

#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>

#include "schema.hpp"

namespace chatbotmgr::postgres::detail {
namespace {

// An empty value must still be a non-null pointer: libpq reads null as SQL NULL.
constexpr char kEmpty[] = "";

// libpq reports errors of the server's idle-time messages (a FATAL before the server
// closes the connection) and NOTICEs through this; we detect the loss ourselves and keep
// the process's stderr clean.
void ignore_notice(void*, const char*) {}

std::string trimmed_libpq_message(PGconn* conn) {
    std::string msg = conn ? PQerrorMessage(conn) : "out of memory";
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    std::replace_if(
        msg.begin(), msg.end(), [](char c) { return c == '\n' || c == '\t'; }, ' ');
    return msg;
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.starts_with(prefix);
}

// Which failures make the server unusable for this request (unavailable) and which of them
// also mean this connection is finished.
struct Classified {
    ErrorCode code;
    bool connection_gone;
};

Classified classify(std::string_view state) {
    if (state == "23505") return {ErrorCode::conflict, false};
    if (starts_with(state, "08")) return {ErrorCode::unavailable, true};  // connection exception
    if (state == "57P01" || state == "57P02" || state == "57P03")         // shutdown, crash
        return {ErrorCode::unavailable, true};
    if (state == "57014" || state == "55P03" || state == "40001" || state == "40P01" ||
        state == "25006" || starts_with(state, "53") || starts_with(state, "58"))
        return {ErrorCode::unavailable, false};  // timeout, lock, conflict retry, resources
    if (state == "22021" || state == "22P05")    // NUL byte or text the encoding cannot hold
        return {ErrorCode::invalid_argument, false};
    return {ErrorCode::internal, false};
}

}  // namespace

std::int64_t Result::int64(int row, int column) const {
    const std::string_view t = text(row, column);
    std::int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc{} || ptr != t.data() + t.size())
        throw Error(ErrorCode::internal, "postgres: expected an integer column");
    return v;
}

std::size_t Result::affected() const {
    const char* n = PQcmdTuples(result_.get());
    std::size_t v = 0;
    std::from_chars(n, n + std::char_traits<char>::length(n), v);
    return v;
}

Params& Params::text(std::string_view value) {
    values_.push_back(value.empty() ? kEmpty : value.data());
    lengths_.push_back(static_cast<int>(value.size()));
    formats_.push_back(1);
    return *this;
}

Params& Params::optional_text(const std::optional<std::string>& value) {
    return value ? text(std::string_view(*value)) : null();
}

Params& Params::bytes(const Digest& value) {
    values_.push_back(reinterpret_cast<const char*>(value.data()));
    lengths_.push_back(static_cast<int>(value.size()));
    formats_.push_back(1);
    return *this;
}

Params& Params::bytes(std::string_view value) {
    return text(value);  // binary format: bytea's wire form is the bytes themselves
}

Params& Params::int64(std::int64_t value) {
    owned_.push_back(std::to_string(value));
    values_.push_back(owned_.back().c_str());
    lengths_.push_back(0);
    formats_.push_back(0);  // text: binary int8 would need the exact type and byte order
    return *this;
}

Params& Params::null() {
    values_.push_back(nullptr);
    lengths_.push_back(0);
    formats_.push_back(0);
    return *this;
}

std::unique_ptr<Connection> Connection::open(const ConnectSettings& settings) {
    // Later entries override earlier ones: the conninfo string (expanded from "dbname")
    // comes first, our fixed settings after it.
    const std::string timeout =
        std::to_string(std::max<std::chrono::seconds::rep>(2, settings.connect_timeout.count()));
    const std::array<const char*, 5> keys{"dbname", "fallback_application_name", "connect_timeout",
                                          "client_encoding", nullptr};
    const std::array<const char*, 5> values{settings.conninfo.c_str(), "chatbotmgr",
                                            timeout.c_str(), "UTF8", nullptr};
    PGconn* raw = PQconnectdbParams(keys.data(), values.data(), 1);
    if (!raw || PQstatus(raw) != CONNECTION_OK) {
        std::string msg = "postgres: cannot connect: " + trimmed_libpq_message(raw);
        PQfinish(raw);
        throw DbError(ErrorCode::unavailable, std::move(msg), "");
    }
    std::unique_ptr<Connection> conn(new Connection(raw, settings));
    if (PQsetnonblocking(raw, 1) != 0) conn->fail_connection("set non-blocking mode");
    // Durability is part of the contract; set it explicitly whatever the server default.
    // lock_timeout 0: lock waits are bounded by statement_timeout, whatever the server or
    // role default; the write batches shorten it inside their transactions only
    // (group_commit.hpp).
    const std::string setup = "SET synchronous_commit = on; SET statement_timeout = " +
                              std::to_string(settings.statement_timeout.count()) +
                              "; SET lock_timeout = 0; SET TIME ZONE 'UTC'";
    conn->exec_simple(setup.c_str());
    return conn;
}

Connection::Connection(PGconn* conn, const ConnectSettings& settings)
    : conn_(conn), network_timeout_(settings.network_timeout) {
    PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
}

Connection::~Connection() {
    PQfinish(conn_);
}

bool Connection::reusable() noexcept {
    if (broken_ || in_pipeline_ || PQstatus(conn_) != CONNECTION_OK ||
        PQtransactionStatus(conn_) != PQTRANS_IDLE)
        return false;
    pollfd p{PQsocket(conn_), POLLIN, 0};
    if (p.fd < 0) return false;
    const int r = ::poll(&p, 1, 0);
    // We never LISTEN, so an idle connection only becomes readable when the server is
    // closing it (terminated backend, shutdown) or it hung up.
    return r == 0;
}

void Connection::rollback_quietly() noexcept {
    if (broken_ || PQstatus(conn_) != CONNECTION_OK) {
        broken_ = true;
        return;
    }
    try {
        if (in_pipeline_) (void)sync();  // drain what was sent; its outcome no longer matters
        exec_simple("ROLLBACK");
    } catch (...) {
        broken_ = true;
    }
}

void Connection::check_sent(int ok, std::string_view what) {
    if (!ok) fail_connection(what);
}

void Connection::check_idle(std::string_view what) {
    if (in_pipeline_)
        throw Error(ErrorCode::internal,
                    "postgres: " + std::string(what) + " while pipelined statements are unsynced");
}

std::optional<std::size_t> Connection::slot_of(const std::string& sql) {
    if (const auto it = dynamic_.find(sql); it != dynamic_.end()) return it->second;
    if (dynamic_.size() == kDynamicSlots) return std::nullopt;
    const std::size_t slot = static_cast<std::size_t>(Stmt::count_) + dynamic_.size();
    dynamic_.emplace(sql, slot);
    return slot;
}

Result Connection::exec_prepared(std::size_t slot, const char* sql, const Params& params) {
    check_idle("query");
    const std::string name = "cbm" + std::to_string(slot);
    if (!prepared_.test(slot)) {
        check_sent(PQsendPrepare(conn_, name.c_str(), sql, 0, nullptr), "prepare");
        finish("prepare");
        prepared_.set(slot);
    }
    check_sent(PQsendQueryPrepared(conn_, name.c_str(), params.size(), params.values(),
                                   params.lengths(), params.formats(), 0),
               "query");
    return finish("query");
}

Result Connection::exec(Stmt statement, const Params& params) {
    return exec_prepared(static_cast<std::size_t>(statement), statement_sql(statement), params);
}

Result Connection::exec(const std::string& sql, const Params& params) {
    if (const auto slot = slot_of(sql)) return exec_prepared(*slot, sql.c_str(), params);
    check_idle("query");
    check_sent(PQsendQueryParams(conn_, sql.c_str(), params.size(), nullptr, params.values(),
                                 params.lengths(), params.formats(), 0),
               "query");
    return finish("query");
}

Result Connection::exec_simple(const char* sql) {
    check_idle("query");
    check_sent(PQsendQuery(conn_, sql), "query");
    return finish("query");
}

void Connection::enter_pipeline() {
    if (in_pipeline_) return;
    if (broken_) fail_connection("pipeline");
    if (PQenterPipelineMode(conn_) != 1) fail_connection("enter pipeline mode");
    in_pipeline_ = true;
}

void Connection::send_prepared(std::size_t slot, const char* sql, const Params& params) {
    enter_pipeline();
    const std::string name = "cbm" + std::to_string(slot);
    if (!prepared_.test(slot) && !preparing_.test(slot)) {
        check_sent(PQsendPrepare(conn_, name.c_str(), sql, 0, nullptr), "prepare");
        sent_.push_back(Sent{true, slot});
        preparing_.set(slot);
    }
    check_sent(PQsendQueryPrepared(conn_, name.c_str(), params.size(), params.values(),
                                   params.lengths(), params.formats(), 0),
               "query");
    sent_.push_back(Sent{false, slot});
    ++pending_statements_;
}

void Connection::send(Stmt statement, const Params& params) {
    send_prepared(static_cast<std::size_t>(statement), statement_sql(statement), params);
}

void Connection::send(const std::string& sql, const Params& params) {
    if (const auto slot = slot_of(sql)) return send_prepared(*slot, sql.c_str(), params);
    enter_pipeline();
    check_sent(PQsendQueryParams(conn_, sql.c_str(), params.size(), nullptr, params.values(),
                                 params.lengths(), params.formats(), 0),
               "query");
    sent_.push_back(Sent{false, kSlots});
    ++pending_statements_;
}

Connection::Round Connection::sync() {
    Round round;
    if (!in_pipeline_) return round;
    constexpr std::string_view what = "pipeline";
    check_sent(PQpipelineSync(conn_), what);
    auto deadline = std::chrono::steady_clock::now() + network_timeout_;
    flush(deadline, what);
    round.results.reserve(pending_statements_);
    for (const Sent& sent : sent_) {
        // Each command's results end with a null.
        Result kept;
        while (PGresult* r = next_result(deadline, what)) {
            deadline = std::chrono::steady_clock::now() + network_timeout_;  // a reply came
            Result res(r);
            const ExecStatusType st = PQresultStatus(r);
            if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
                if (!round.error) {
                    round.error = error_of(res, sent.prepare ? "prepare" : "query");
                    round.failed = round.results.size();  // a prepare's: its statement's
                }
            } else if (st == PGRES_PIPELINE_ABORTED) {
                // skipped after an earlier failure
            } else if (sent.prepare) {
                prepared_.set(sent.slot);
            } else {
                kept = std::move(res);
            }
        }
        if (!sent.prepare) round.results.push_back(std::move(kept));
    }
    {
        PGresult* r = next_result(deadline, what);
        const Result sync_result(r);
        if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC) fail_connection(what);
    }
    sent_.clear();
    preparing_.reset();
    pending_statements_ = 0;
    if (PQexitPipelineMode(conn_) != 1) fail_connection("leave pipeline mode");
    in_pipeline_ = false;
    if (PQstatus(conn_) != CONNECTION_OK) fail_connection(what);
    return round;
}

PGresult* Connection::next_result(std::chrono::steady_clock::time_point deadline,
                                  std::string_view what) {
    while (PQisBusy(conn_)) {
        wait_socket(POLLIN, deadline, what);
        if (!PQconsumeInput(conn_)) fail_connection(what);
    }
    return PQgetResult(conn_);
}

void Connection::wait_socket(short events, std::chrono::steady_clock::time_point deadline,
                             std::string_view what) {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            broken_ = true;
            throw DbError(
                ErrorCode::unavailable,
                "postgres: " + std::string(what) + ": no reply within the network timeout", "");
        }
        pollfd p{PQsocket(conn_), events, 0};
        if (p.fd < 0) fail_connection(what);
        const int r = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
        if (r > 0) return;
        if (r < 0 && errno != EINTR) fail_connection(what);
    }
}

// Non-blocking mode: pushes out what libpq could not send at once, reading meanwhile so
// that a server blocked on a full output buffer never waits for us.
void Connection::flush(std::chrono::steady_clock::time_point deadline, std::string_view what) {
    for (;;) {
        const int f = PQflush(conn_);
        if (f == 0) break;
        if (f < 0) fail_connection(what);
        wait_socket(POLLIN | POLLOUT, deadline, what);
        if (!PQconsumeInput(conn_)) fail_connection(what);
    }
}

Result Connection::finish(std::string_view what) {
    const auto deadline = std::chrono::steady_clock::now() + network_timeout_;
    flush(deadline, what);
    Result error;
    Result last;
    for (;;) {
        PGresult* r = next_result(deadline, what);
        if (!r) break;
        Result res(r);
        const ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
            if (!error) error = std::move(res);
        } else {
            last = std::move(res);
        }
    }
    if (error) fail_result(error, what);
    if (PQstatus(conn_) != CONNECTION_OK) fail_connection(what);
    return last;
}

void Connection::fail_connection(std::string_view what) {
    broken_ = true;
    throw DbError(ErrorCode::unavailable,
                  "postgres: " + std::string(what) + ": " + trimmed_libpq_message(conn_), "");
}

void Connection::fail_result(const Result& result, std::string_view what) {
    throw error_of(result, what);
}

DbError Connection::error_of(const Result& result, std::string_view what) {
    const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
    if (!state || PQstatus(conn_) != CONNECTION_OK) {
        // libpq's own error: the connection is gone.
        fail_connection(what);
    }
    const Classified c = classify(state);
    if (c.connection_gone) broken_ = true;
    // Only the primary message: DETAIL may quote values (a digest, an email).
    const char* primary = PQresultErrorField(result.get(), PG_DIAG_MESSAGE_PRIMARY);
    return DbError(c.code,
                   "postgres: " + std::string(what) + " failed: " + (primary ? primary : "error") +
                       " (SQLSTATE " + state + ")",
                   state);
}

Transaction::Transaction(Connection& conn) : conn_(conn) {
    conn_.exec_simple("BEGIN");
}

Transaction::~Transaction() {
    if (!done_) conn_.rollback_quietly();
}

void Transaction::commit() {
    done_ = true;  // whatever happens now, the transaction is over (or the connection is)
    conn_.exec_simple("COMMIT");
}

}  // namespace chatbotmgr::postgres::detail
