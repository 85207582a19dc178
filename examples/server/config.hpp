// Command line and environment of chatbotmgr-server.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "chatbotmgr/role.hpp"

namespace chatbotmgr::server {

// Where the data lives: SQLite at sqlite_path (the default), or PostgreSQL when
// postgres_url is set (--storage postgres://...).
struct StorageConfig {
    std::string sqlite_path = "./chatbotmgr.db";
    // A libpq URI (postgres:// or postgresql://); may carry a password, so print it only
    // through describe().
    std::optional<std::string> postgres_url;
    std::size_t postgres_pool = 8;  // most connections to PostgreSQL
};

// For messages: "SQLite database \"PATH\"" or "PostgreSQL database postgresql://u:***@h/db"
// (any password redacted).
std::string describe(const StorageConfig& storage);

// A libpq URI with the password of its user part and any password= parameter replaced
// by "***".
std::string redact_url(const std::string& url);

struct ServeConfig {
    std::string listen_host = "127.0.0.1";
    std::uint16_t listen_port = 8080;
    StorageConfig storage;
    std::size_t threads = 0;  // I/O threads; 0: one per hardware thread
    std::size_t max_connections = 1'024;
    // Per-connection and per-client limits of beast::ServerOptions; 0 turns one off.
    std::size_t max_connections_per_address = 64;
    std::size_t max_requests_per_connection = 10'000;
    std::chrono::seconds max_connection_lifetime = std::chrono::minutes(10);
    std::uint64_t max_buffered_body_bytes = 64ULL * 1024 * 1024;
    std::size_t max_chatbots_per_org = 10'000;  // RegistryOptions::max_chatbots_per_org
    // Limits of beast::ApiOptions (docs/SECURITY.md names each threat).
    std::size_t login_threads = 2;        // password hashing, and nothing else
    std::size_t login_queue = 16;         // logins waiting for one of them; more get a 503
    std::size_t login_max_failures = 10;  // per client and account
    std::size_t login_max_failures_per_address = 100;  // per client, any account
    std::size_t rate_limit_max_clients = 10'000;       // entries of each rate limiter
    std::uint64_t max_parsed_json_bytes = 4 * 1024 * 1024;
    std::size_t max_large_bodies = 4;  // bodies over 64 KiB parsed at once
    // CIDR blocks whose X-Forwarded-For (or Forwarded) names the client; empty: none.
    std::vector<std::string> trusted_proxies;
    bool proxy_header_forwarded = false;  // true: Forwarded; false: X-Forwarded-For
    std::chrono::seconds session_ttl = std::chrono::hours(12);
    std::chrono::seconds audit_retention = std::chrono::days(180);
    std::optional<std::string> public_origin;  // default: http://<listen>
    bool access_log = true;
    // SQLite: writes run on the store's writer thread and are answered after their group
    // commit (ApiOptions::group_commit); off: on write threads that wait for the commit.
    bool grouped_writes = true;
    // Cached chatbot reads are answered on the I/O thread (ApiOptions::cached_reads_inline).
    bool inline_reads = true;
    bool log_json = false;  // --log-format json: the access log as JSON lines
    // --metrics-listen HOST:PORT: GET /metrics there (Prometheus text); unset: off.
    std::optional<std::string> metrics_host;
    std::uint16_t metrics_port = 0;
    bool dashboard = true;  // serve chatbotmgr::dashboard at / (--no-dashboard: off)
};

struct UserAddConfig {
    StorageConfig storage;
    std::string email;
    std::string org;
    // --role; nullopt: the core's default (owner when this creates the organization,
    // member otherwise).
    std::optional<Role> role;
};

// user list: every user, or those of the organization named --org.
struct UserListConfig {
    StorageConfig storage;
    std::optional<std::string> org;
};

// user set-role: for an operator locked out of the web.
struct UserSetRoleConfig {
    StorageConfig storage;
    std::string email;
    Role role = Role::member;
};

// backup: an online copy of a (possibly live) SQLite database.
struct BackupConfig {
    std::string db;
    std::string to;
};

// restore: a backup copied over a database that no process holds.
struct RestoreConfig {
    std::string from;
    std::string db;
    bool force = false;  // --force: replace an existing database
};

// migrate: an SQLite database copied into an empty PostgreSQL database.
struct MigrateConfig {
    std::string from;  // SQLite file
    std::string to;    // postgres:// URL (may carry a password: print it through redact_url)
};

struct HelpRequest {
    std::string text;
};

using Command = std::variant<ServeConfig, UserAddConfig, UserListConfig, UserSetRoleConfig,
                             BackupConfig, RestoreConfig, MigrateConfig, HelpRequest>;

// A flag or value the user got wrong; what() is the message to print.
class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// args excludes the program name. Each flag of serve, and --db, --storage and --pg-pool of
// the user commands, can also come from the process environment as CHATBOTMGR_<FLAG> (--pg-pool:
// CHATBOTMGR_PG_POOL); a flag wins over its variable. A bad value in either throws
// UsageError naming the flag or the variable.
Command parse_command_line(const std::vector<std::string>& args);

// The --help text, generated from the option declarations.
std::string usage();

// "12h", "30m", "45s", "2d", "3600" (seconds). Throws UsageError.
std::chrono::seconds parse_duration(const std::string& text, const std::string& what);

// The origin of a URL without path ("https://bots.example.com"); throws UsageError.
std::string parse_origin(const std::string& text, const std::string& what);

// "HOST:PORT" or "[v6]:PORT"; throws UsageError.
void parse_listen(const std::string& text, const std::string& what, std::string& host,
                  std::uint16_t& port);

}  // namespace chatbotmgr::server
