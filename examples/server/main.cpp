// chatbotmgr-server: the bundled HTTP server.
//
//   chatbotmgr-server serve [--listen 127.0.0.1:8080] [--db ./chatbotmgr.db] ...
//   chatbotmgr-server serve --storage postgresql://app@db.internal/chatbotmgr ...
//   chatbotmgr-server user add (--db PATH | --storage URL) --email EMAIL --org NAME
//                              [--role ROLE]             (password on stdin)
//   chatbotmgr-server user list (--db PATH | --storage URL) [--org NAME]
//   chatbotmgr-server user set-role (--db PATH | --storage URL) --email EMAIL --role ROLE
//   chatbotmgr-server backup --db PATH --to FILE
//   chatbotmgr-server restore --from FILE --db PATH [--force]
//   chatbotmgr-server migrate --from PATH --to postgres://...
//
// Exit codes: 0 success (and clean stop on SIGTERM/SIGINT), 1 runtime failure (storage,
// listen address, user exists, no such user or organization, last owner), 2 bad command
// line.
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <boost/json/object.hpp>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/audit.hpp"
#include "chatbotmgr/beast/api.hpp"
#include "chatbotmgr/beast/metrics_listener.hpp"
#include "chatbotmgr/beast/server.hpp"
#include "chatbotmgr/beast/session_check.hpp"
#include "chatbotmgr/chatbot.hpp"
#include "chatbotmgr/clock.hpp"
#if defined(CHATBOTMGR_SERVER_WITH_DASHBOARD)
#include "chatbotmgr/dashboard/dashboard.hpp"
#endif
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/sqlite/backup.hpp"
#include "config.hpp"
#include "storage.hpp"
#ifdef CHATBOTMGR_SERVER_WITH_PROMETHEUS
#include "chatbotmgr/prometheus/prometheus_metrics.hpp"
#endif
#ifdef CHATBOTMGR_SERVER_WITH_POSTGRES
#include "migrate.hpp"
#endif

namespace {

using namespace chatbotmgr;
using namespace chatbotmgr::server;

constexpr const char* kProgram = "chatbotmgr-server";
constexpr const char* kAdminEmail = "admin@example.com";
constexpr const char* kAdminOrg = "Default Organization";

void fail(const std::string& message) {
    std::fprintf(stderr, "%s: %s\n", kProgram, message.c_str());
}

// 24 characters from a 32-letter alphabet (no 0/o/1/l): 120 bits from the CSPRNG.
std::string generate_password() {
    static constexpr char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
    std::byte bytes[24];
    system_random()->fill(bytes);
    std::string out;
    for (std::byte b : bytes) out += alphabet[static_cast<unsigned>(b) % 32];  // 256 % 32 == 0
    return out;
}

// On an empty database: one organization and one admin user, credentials printed once. The
// admin is an owner, said explicitly: the organization may exist already (a start that
// stopped between creating it and the user), and add_user's default would then be member.
// Instances that start together on one empty PostgreSQL database all find no users; the
// unique email lets exactly one insert win (the organization is found-or-created by its
// unique name), and the others take the conflict as "bootstrapped elsewhere".
void bootstrap_admin(Accounts& accounts) {
    if (accounts.has_users()) return;
    const std::string password = generate_password();
    try {
        accounts.add_user(kAdminEmail, kAdminOrg, password, Role::owner);
    } catch (const Error& e) {
        if (e.code() == ErrorCode::conflict) {
            std::fprintf(stderr, "%s: another instance created the first user meanwhile\n",
                         kProgram);
            return;
        }
        throw;
    }
    std::printf(
        "%s: the database had no users; created organization \"%s\" and its admin user.\n"
        "  email:    %s\n"
        "  password: %s\n"
        "This password is shown only now. Add more users with \"%s user add\".\n",
        kProgram, kAdminOrg, kAdminEmail, password.c_str(), kProgram);
    std::fflush(stdout);
}

// Once at start and then once an hour: removes expired sessions, audit events past the
// retention and expired idempotency records, so no table grows without bound (the one
// janitor of Accounts::delete_expired_sessions and AuditLog::prune, which deletes in
// bounded batches). Runs on a thread of its own: the deletion blocks on storage.
class Janitor {
  public:
    Janitor(std::shared_ptr<Accounts> accounts, std::shared_ptr<AuditLog> audit_log)
        : accounts_(std::move(accounts)),
          audit_log_(std::move(audit_log)),
          thread_([this] { loop(); }) {}
    ~Janitor() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

  private:
    void loop() {
        std::unique_lock lock(mutex_);
        do {
            lock.unlock();
            clean();
            lock.lock();
        } while (!cv_.wait_for(lock, std::chrono::hours(1), [this] { return stop_; }));
    }

    void clean() {
        try {
            accounts_->delete_expired_sessions();
        } catch (const std::exception& e) {
            fail(std::string("removing expired sessions: ") + e.what());
        }
        try {
            audit_log_->prune();
        } catch (const std::exception& e) {
            fail(std::string("pruning the audit log: ") + e.what());
        }
    }

    std::shared_ptr<Accounts> accounts_;
    std::shared_ptr<AuditLog> audit_log_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;  // last: starts once the rest is ready
};

// The metrics of --metrics-listen and their listener; both null when it is off.
struct Metrics {
#ifdef CHATBOTMGR_SERVER_WITH_PROMETHEUS
    std::shared_ptr<chatbotmgr::prometheus::PrometheusMetrics> sink;
#else
    std::shared_ptr<beast::MetricsSink> sink;
#endif
    std::unique_ptr<beast::MetricsListener> listener;

    CommitObserver commit_observer() const {
#ifdef CHATBOTMGR_SERVER_WITH_PROMETHEUS
        if (sink)
            return [sink = sink](std::chrono::nanoseconds d, std::size_t batch) {
                sink->storage_committed(d, batch);
            };
#endif
        return {};
    }
};

// Binds the metrics listener of --metrics-listen (throws Error when it cannot).
Metrics open_metrics(const ServeConfig& config) {
    Metrics m;
    if (!config.metrics_host) return m;
#ifdef CHATBOTMGR_SERVER_WITH_PROMETHEUS
    m.sink = std::make_shared<chatbotmgr::prometheus::PrometheusMetrics>();
    beast::MetricsListenerOptions options;
    options.address = *config.metrics_host;
    options.port = config.metrics_port;
    m.listener = std::make_unique<beast::MetricsListener>(
        options, [sink = m.sink] { return sink->scrape(); });
    return m;
#else
    throw Error(ErrorCode::invalid_argument,
                "this build has no metrics (prometheus-cpp was not found)");
#endif
}

int serve(const ServeConfig& config) {
    // The address first: it is the cheaper thing to find taken (nothing is accepted before
    // start(), so clients wait in the backlog while the storage opens).
    beast::ServerOptions server_options;
    server_options.address = config.listen_host;
    server_options.port = config.listen_port;
    server_options.io_threads = config.threads;
    server_options.max_connections = config.max_connections;
    server_options.max_connections_per_address = config.max_connections_per_address;
    server_options.max_requests_per_connection = config.max_requests_per_connection;
    server_options.max_connection_lifetime = config.max_connection_lifetime;
    server_options.max_buffered_body_bytes = config.max_buffered_body_bytes;
    server_options.access_log = config.access_log;
    server_options.access_log_format =
        config.log_json ? beast::AccessLogFormat::json : beast::AccessLogFormat::text;
#if defined(CHATBOTMGR_SERVER_WITH_DASHBOARD)
    if (config.dashboard) server_options.fallback = dashboard::handler();
#endif
    std::unique_ptr<beast::Server> server;
    Metrics metrics;
    try {
        metrics = open_metrics(config);
        server_options.metrics = metrics.sink;
        server = std::make_unique<beast::Server>(server_options);
    } catch (const Error& e) {
        fail(e.what());  // "cannot listen on 127.0.0.1:8080: Address already in use"
        return 1;
    }

    Storage storage;
    try {
        storage = open_storage(config.storage, metrics.commit_observer());
    } catch (const std::exception& e) {
        fail("cannot open the " + describe(config.storage) + ": " + e.what());
        return 1;
    }

    RegistryOptions registry_options;
    registry_options.max_chatbots_per_org = config.max_chatbots_per_org;
    auto registry = std::make_shared<ChatbotRegistry>(storage.chatbots, registry_options);
    AccountsOptions account_options;
    account_options.session_ttl = config.session_ttl;
    auto accounts = std::make_shared<Accounts>(storage.accounts, account_options);
    try {
        bootstrap_admin(*accounts);
    } catch (const std::exception& e) {
        fail(std::string("cannot create the first user: ") + e.what());
        return 1;
    }

    beast::ApiOptions api_options;
    // Unset: the Server gives the Api the origin of the address it bound.
    api_options.public_origin = config.public_origin.value_or("");
    const std::size_t io_threads =
        config.threads ? config.threads : std::max(1u, std::thread::hardware_concurrency());
    api_options.blocking_threads = std::max<std::size_t>(4, 2 * io_threads);
    api_options.login_threads = config.login_threads;
    api_options.login_queue = config.login_queue;
    api_options.login_max_failures = config.login_max_failures;
    api_options.login_max_failures_per_address = config.login_max_failures_per_address;
    api_options.rate_limit_max_clients = config.rate_limit_max_clients;
    api_options.max_parsed_json_bytes = static_cast<std::size_t>(config.max_parsed_json_bytes);
    api_options.max_large_bodies = config.max_large_bodies;
    api_options.trusted_proxies = config.trusted_proxies;
    api_options.forwarded_header = config.proxy_header_forwarded
                                       ? beast::ForwardedHeader::forwarded
                                       : beast::ForwardedHeader::x_forwarded_for;
    // PostgreSQL: the store runs at most one batch per write lane (one lane per pooled
    // connection), so write threads beyond the pool would only queue (and lengthen the
    // tail); measured, 32 were slower than 8 (docs/POSTGRES.md).
    if (config.storage.postgres_url)
        api_options.write_threads =
            std::min(api_options.write_threads, config.storage.postgres_pool);
    api_options.metrics = metrics.sink;
    api_options.cached_reads_inline = config.inline_reads;
    if (config.grouped_writes && storage.group_commit) {
        api_options.group_commit = storage.group_commit;
        api_options.write_threads = 4;  // only bodies over 64 KiB still take one
    }
    AuditLogOptions audit_options;
    audit_options.retention = config.audit_retention;
    auto audit_log = std::make_shared<AuditLog>(storage.journal, audit_options);
    api_options.audit_log = audit_log;
    auto api = std::make_shared<beast::Api>(
        registry, std::make_shared<beast::AccountsSessionCheck>(accounts), api_options, accounts);

    auto janitor = std::make_unique<Janitor>(accounts, audit_log);
    server->start(api);
    server->stop_on_signals();
    if (metrics.listener)
        std::printf("%s: metrics at %s\n", kProgram, metrics.listener->url().c_str());
    std::printf("%s: listening on %s (public origin %s)\n", kProgram,
                server->bound_origin().c_str(), api->options().public_origin.c_str());
    std::fflush(stdout);

    // run() returns once a signal has stopped the server and the last connection is gone.
    server->run();
    std::fprintf(stderr, "%s: stopping\n", kProgram);

    api->stop();  // blocking work still queued finishes here
    try {
        registry->flush_key_usage();  // last_used_at survives a clean stop
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: could not write when keys were last used: %s\n", kProgram,
                     e.what());
    }
    janitor.reset();
    server.reset();
    api.reset();
    accounts.reset();
    registry.reset();
    storage = {};  // closes the database after its last write
    std::fprintf(stderr, "%s: stopped\n", kProgram);
    return 0;
}

// The storage of a user command; nullopt (after a message) when it cannot be opened.
// must_exist: an SQLite file that is not there is an error rather than created (a typo in
// --db must not answer "no users").
std::optional<Storage> open_for(const char* command, const StorageConfig& config,
                                bool must_exist = true) {
    const std::string& path = config.sqlite_path;
    std::error_code ec;
    if (must_exist && !config.postgres_url && path != ":memory:" && !path.starts_with("file:") &&
        !std::filesystem::exists(path, ec)) {
        fail(std::string(command) + ": there is no SQLite database \"" + path + "\"");
        return std::nullopt;
    }
    try {
        return open_storage(config);
    } catch (const std::exception& e) {
        fail("cannot open the " + describe(config) + ": " + e.what());
        // SqliteStore's refusal of a file that another process holds (file_hub.cpp).
        if (!config.postgres_url && std::string_view(e.what()).find(
                                        "another process has it open") != std::string_view::npos)
            fail(std::string(command) +
                 ": is a chatbotmgr-server serving this file? A server keeps its SQLite file to "
                 "itself: stop it, run this command, start it again; or manage the members on "
                 "the web as an owner or admin (/api/v1/members). On PostgreSQL the user "
                 "commands work while servers run.");
        return std::nullopt;
    }
}

// The key of AccountStore::find_user_by_email.
std::string lowercase_ascii(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// One field of a user line: a control character (which the core never stores in an email or
// an organization name) as \xHH, so that tabs and newlines only ever separate.
std::string line_field(std::string_view text) {
    std::string out;
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7F) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 0xF];
        } else {
            out += c;
        }
    }
    return out;
}

// The line of user list and user set-role (documented in --help): email, role,
// organization name, created; separated by tabs.
void print_user_line(const User& user, const Organization& org) {
    const std::string line = line_field(user.email) + '\t' + std::string(to_string(user.role)) +
                             '\t' + line_field(org.name) + '\t' + format_rfc3339(user.created_at) +
                             '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
}

// 0, or 1 after a message when standard output could not be written.
int flush_stdout(const char* command) {
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        fail(std::string(command) + ": cannot write to standard output");
        return 1;
    }
    return 0;
}

int user_add(const UserAddConfig& config) {
    std::string password;
    if (!std::getline(std::cin, password) && password.empty()) {
        fail("user add: expected the password on standard input");
        return 1;
    }
    if (!password.empty() && password.back() == '\r') password.pop_back();

    auto storage = open_for("user add", config.storage, /*must_exist=*/false);
    if (!storage) return 1;
    Accounts accounts(storage->accounts);
    try {
        auto [user, org] = accounts.add_user(config.email, config.org, password, config.role);
        const boost::json::object out{
            {"user_id", user.id}, {"org_id", org.id}, {"role", to_string(user.role)}};
        std::printf("%s\n", to_compact_json(out).c_str());
        return flush_stdout("user add");
    } catch (const Error& e) {
        if (e.code() == ErrorCode::conflict)
            fail("user add: a user with this email exists already");
        else
            fail(std::string("user add: ") + e.what());
        return 1;
    }
}

int user_list(const UserListConfig& config) {
    auto storage = open_for("user list", config.storage);
    if (!storage) return 1;
    AccountStore& store = *storage->accounts;
    try {
        std::vector<Organization> orgs = store.list_organizations();
        if (config.org) {
            std::erase_if(orgs, [&](const Organization& o) { return o.name != *config.org; });
            if (orgs.empty()) {
                fail("user list: no organization is named \"" + *config.org +
                     "\" (names are exact, letter case included)");
                return 1;
            }
        }
        for (const Organization& org : orgs)
            for (const User& user : store.list_users(org.id)) print_user_line(user, org);
    } catch (const Error& e) {
        fail(std::string("user list: ") + e.what());
        return 1;
    }
    return flush_stdout("user list");
}

int user_set_role(const UserSetRoleConfig& config) {
    auto storage = open_for("user set-role", config.storage);
    if (!storage) return 1;
    AccountStore& store = *storage->accounts;
    try {
        const auto found = store.find_user_by_email(lowercase_ascii(config.email));
        if (!found) {
            fail("user set-role: no user has the email \"" + config.email + "\"");
            return 1;
        }
        const User& user = found->first;
        // A user's organization is never deleted; its id would do as a name.
        const Organization org =
            store.find_organization(user.org_id).value_or(Organization{user.org_id, user.org_id});
        // Through Accounts, so the change is journaled; the store keeps the last-owner rule
        // in the same transaction.
        Accounts accounts(storage->accounts);
        User changed;
        try {
            changed = accounts.set_role(config.email, config.role);
        } catch (const Error& e) {
            if (e.code() == ErrorCode::not_found) {
                fail("user set-role: " + user.email + " was removed meanwhile");
                return 1;
            }
            if (e.code() != ErrorCode::conflict) throw;
            fail("user set-role: " + user.email + " is the only owner of \"" + org.name +
                 "\", and an organization keeps at least one owner; make another of its "
                 "users an owner first (user set-role --email OTHER --role owner)");
            return 1;
        }
        print_user_line(changed, org);
    } catch (const Error& e) {
        fail(std::string("user set-role: ") + e.what());
        return 1;
    }
    return flush_stdout("user set-role");
}

// The summary backup and restore print: the file, then one line per table.
void print_summary(const char* done, const sqlite::DatabaseSummary& s) {
    std::printf("%s: %s \"%s\": %llu bytes, schema version %d, integrity_check %s\n", kProgram,
                done, s.path.c_str(), static_cast<unsigned long long>(s.bytes), s.schema_version,
                s.integrity.c_str());
    for (const auto& [table, rows] : s.row_counts)
        std::printf("  %-24s %lld rows\n", table.c_str(), static_cast<long long>(rows));
}

int backup(const BackupConfig& config) {
    try {
        print_summary("backup written to", sqlite::backup_database(config.db, config.to));
    } catch (const Error& e) {
        fail(std::string("backup: ") + e.what());
        return 1;
    }
    return flush_stdout("backup");
}

int restore(const RestoreConfig& config) {
    try {
        print_summary("restored", sqlite::restore_database(config.from, config.db, config.force));
    } catch (const Error& e) {
        fail(std::string("restore: ") + e.what());
        if (std::string_view(e.what()).find("another process has it open") !=
            std::string_view::npos)
            fail(std::string("restore: a chatbotmgr-server (or another command) holds ")
                     .append(config.db)
                     .append("; stop it first"));
        return 1;
    }
    return flush_stdout("restore");
}

int migrate(const MigrateConfig& config) {
#ifdef CHATBOTMGR_SERVER_WITH_POSTGRES
    try {
        const MigrationReport report = migrate_sqlite_to_postgres(config.from, config.to);
        std::printf("%s: migrated \"%s\" to %s\n", kProgram, config.from.c_str(),
                    redact_url(config.to).c_str());
        for (const auto& [table, rows] : report.rows)
            std::printf("  %-24s %lld rows\n", table.c_str(), static_cast<long long>(rows));
        std::printf(
            "  verified: row counts, and %lld key and token digests, key prefixes, password hashes "
            "and roles equal\n",
            static_cast<long long>(report.digests_checked));
    } catch (const Error& e) {
        // The store's refusal of a file a server holds says so; PostgreSQL messages never
        // carry the URL's password.
        fail(e.what());
        return 1;
    }
    return flush_stdout("migrate");
#else
    (void)config;
    fail("migrate: this build has no PostgreSQL support (libpq was not found)");
    return 1;
#endif
}

}  // namespace

int main(int argc, char** argv) {
    // A closed stderr or stdout must not kill the server; writes then just fail.
    std::signal(SIGPIPE, SIG_IGN);
#if defined(__GLIBC__)
    // Blocks of 256 KiB and more (request bodies, large answers, parsed arrays) come
    // straight from the system and go back to it when freed. glibc would otherwise raise
    // this threshold after the first such block is freed and keep later ones in its
    // arenas, so a burst of large requests would leave the process at its peak size.
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
    std::vector<std::string> args(argv + 1, argv + argc);
    Command command;
    try {
        command = parse_command_line(args);
    } catch (const UsageError& e) {
        fail(e.what());
        std::fprintf(stderr, "Run \"%s --help\" for usage.\n", kProgram);
        return 2;
    }
    try {
        if (auto* help = std::get_if<HelpRequest>(&command)) {
            std::fputs(help->text.c_str(), stdout);
            return 0;
        }
        if (auto* serve_config = std::get_if<ServeConfig>(&command)) return serve(*serve_config);
        if (auto* list = std::get_if<UserListConfig>(&command)) return user_list(*list);
        if (auto* set_role = std::get_if<UserSetRoleConfig>(&command))
            return user_set_role(*set_role);
        if (auto* b = std::get_if<BackupConfig>(&command)) return backup(*b);
        if (auto* r = std::get_if<RestoreConfig>(&command)) return restore(*r);
        if (auto* m = std::get_if<MigrateConfig>(&command)) return migrate(*m);
        return user_add(std::get<UserAddConfig>(command));
    } catch (const std::exception& e) {
        fail(e.what());
        return 1;
    }
}
