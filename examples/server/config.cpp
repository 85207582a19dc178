#include "config.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <string_view>

#include <boost/asio/ip/address.hpp>
#include <boost/program_options.hpp>

namespace chatbotmgr::server {

namespace po = boost::program_options;

namespace {

// --- Values -----------------------------------------------------------------------------

// 1 to 9 decimal digits: small enough that no conversion overflows.
bool is_number(const std::string& text) {
    return !text.empty() && text.size() <= 9 &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::size_t parse_count(const std::string& text, const std::string& what, std::size_t min,
                        std::size_t max) {
    if (!is_number(text)) throw UsageError(what + ": expected a number, got \"" + text + "\"");
    const std::size_t n = std::stoul(text);
    if (n < min || n > max)
        throw UsageError(what + ": must be between " + std::to_string(min) + " and " +
                         std::to_string(max));
    return n;
}

// A byte count of up to 15 digits (petabytes); std::size_t counts stop at 9 digits.
std::uint64_t parse_bytes(const std::string& text, const std::string& what) {
    if (text.empty() || text.size() > 15 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        throw UsageError(what + ": expected a number of bytes, got \"" + text + "\"");
    return std::stoull(text);
}

// Addresses or CIDR blocks ("10.0.0.0/8", "::1"), each value possibly a comma-separated
// list (how the environment variable gives several).
std::vector<std::string> parse_cidrs(const std::vector<std::string>& values,
                                     const std::string& what) {
    std::vector<std::string> out;
    for (const std::string& value : values) {
        std::istringstream list(value);
        for (std::string item; std::getline(list, item, ',');) {
            item.erase(0, item.find_first_not_of(' '));
            item.erase(item.find_last_not_of(' ') + 1);
            const std::size_t slash = item.find('/');
            boost::system::error_code ec;
            const auto address = boost::asio::ip::make_address(item.substr(0, slash), ec);
            bool ok = !ec;
            if (ok && slash != std::string::npos) {
                const std::string bits = item.substr(slash + 1);
                ok = !bits.empty() && bits.size() <= 3 &&
                     std::all_of(bits.begin(), bits.end(),
                                 [](char c) { return c >= '0' && c <= '9'; }) &&
                     std::stoul(bits) <= (address.is_v4() ? 32u : 128u);
            }
            if (!ok)
                throw UsageError(what +
                                 ": expected an IP address or CIDR block such as "
                                 "10.0.0.0/8, got \"" +
                                 item + "\"");
            out.push_back(item);
        }
    }
    return out;
}

bool parse_on_off(const std::string& text, const std::string& what) {
    if (text != "on" && text != "off") throw UsageError(what + ": on or off");
    return text == "on";
}

Role parse_role(const std::string& text, const std::string& what) {
    if (auto role = role_from_string(text)) return *role;
    throw UsageError(what + ": expected viewer, member, admin or owner, got \"" + text + "\"");
}

// "12h" for 43200 s: the largest unit that divides it.
std::string format_duration(std::chrono::seconds d) {
    const long long s = d.count();
    if (s % 86400 == 0) return std::to_string(s / 86400) + "d";
    if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
    if (s % 60 == 0) return std::to_string(s / 60) + "m";
    return std::to_string(s) + "s";
}

// A malformed escape stays as it is.
std::string percent_decode(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() &&
            std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
            out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

bool is_postgres_url(const std::string& v) {
    // The URI prefixes libpq itself recognizes.
    return v.starts_with("postgresql://") || v.starts_with("postgres://");
}

// --- The options: one declaration each ---------------------------------------------------
//
// A flag --NAME-OF-IT is also read from the variable CHATBOTMGR_NAME_OF_IT, except where
// noted (--email, --org and --role of the user commands). The defaults are the member
// initializers of config.hpp: default_value() only shows them in --help, and a defaulted
// entry of a variables_map is never applied (Source::operator[] skips it).

std::string env_variable(std::string_view option) {
    std::string name = "CHATBOTMGR_";
    for (char c : option)
        name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return name;
}

po::typed_value<std::string>* arg(const char* value_name) {
    return po::value<std::string>()->value_name(value_name);
}

po::typed_value<std::string>* arg(const char* value_name, const std::string& shown_default) {
    return arg(value_name)->default_value(shown_default);
}

// add_options() for flags that the environment can give as well: the help names the
// variable.
struct EnvOptions {
    po::options_description& options;

    EnvOptions& operator()(const char* name, const po::value_semantic* value,
                           const std::string& help) {
        options.add_options()(name, value, (help + "\n(env " + env_variable(name) + ")").c_str());
        return *this;
    }
};

constexpr unsigned kHelpWidth = 100;

// clang-format off
po::options_description storage_options() {
    const StorageConfig d;
    po::options_description o("Storage (serve and the user commands)", kHelpWidth, kHelpWidth / 2);
    EnvOptions{o}
        ("db", arg("PATH", d.sqlite_path), "SQLite database file, created if missing")
        ("storage", arg("URL"),
         "postgres://... or postgresql://... (a libpq URI): PostgreSQL, shared by any number "
         "of instances; sqlite:PATH: the same as --db PATH; sqlite or nothing: SQLite at --db")
        ("pg-pool", arg("N", std::to_string(d.postgres_pool)), "most PostgreSQL connections");
    return o;
}

po::options_description serve_options() {
    const ServeConfig d;
    po::options_description o("serve", kHelpWidth, kHelpWidth / 2);
    EnvOptions{o}
        ("listen", arg("HOST:PORT", d.listen_host + ":" + std::to_string(d.listen_port)),
         "address to listen on (port 0: any free port)")
        ("threads", arg("N"), "I/O threads; default one per CPU")
        ("max-connections", arg("N", std::to_string(d.max_connections)),
         "open connections at most (more get a 503 and are closed)")
        ("max-connections-per-address", arg("N", std::to_string(d.max_connections_per_address)),
         "open connections from one client address (IPv6: one /64) at most; more get a 503 "
         "and are closed; 0: no limit (behind a reverse proxy)")
        ("max-requests-per-connection", arg("N", std::to_string(d.max_requests_per_connection)),
         "requests per connection; the last answer closes it; 0: no limit")
        ("max-connection-lifetime", arg("DURATION", format_duration(d.max_connection_lifetime)),
         "the first answer on a connection past this age closes it; 0: no limit")
        ("max-buffered-body-bytes", arg("N", std::to_string(d.max_buffered_body_bytes)),
         "bytes of request bodies over 64 KiB read at once over all connections; a body "
         "that does not fit gets a 503 before it is read; 0: no limit")
        ("max-chatbots-per-org", arg("N", std::to_string(d.max_chatbots_per_org)),
         "chatbots one organization may hold; one more create is 409")
        ("login-threads", arg("N", std::to_string(d.login_threads)),
         "threads that hash passwords for logins (each about 64 MiB while it works); "
         "nothing else runs on them")
        ("login-queue", arg("N", std::to_string(d.login_queue)),
         "logins that may wait for a login thread; more get a 503 at once")
        ("login-max-failures", arg("N", std::to_string(d.login_max_failures)),
         "failed logins to one account from one client in 5 minutes, after which that "
         "client's logins to that account get 429 until the 5 minutes have passed")
        ("login-max-failures-per-address", arg("N", std::to_string(d.login_max_failures_per_address)),
         "failed logins from one client to any accounts in 5 minutes, after which all its "
         "logins get 429")
        ("rate-limit-max-clients", arg("N", std::to_string(d.rate_limit_max_clients)),
         "clients each rate limiter remembers (bounds its memory)")
        ("max-parsed-json-bytes", arg("N", std::to_string(d.max_parsed_json_bytes)),
         "bytes a request body may take once parsed; more is a 400")
        ("max-large-bodies", arg("N", std::to_string(d.max_large_bodies)),
         "bodies over 64 KiB parsed at once; more get a 503")
        ("trusted-proxy", po::value<std::vector<std::string>>()->value_name("CIDR"),
         "a reverse proxy (address or CIDR block, repeatable; the variable takes a comma-"
         "separated list) whose X-Forwarded-For names the client for the rate limits; "
         "from any other peer that header is ignored")
        ("proxy-header", arg("NAME", d.proxy_header_forwarded ? "forwarded" : "x-forwarded-for"),
         "the header the trusted proxies set: x-forwarded-for or forwarded (RFC 7239)")
        ("session-ttl", arg("DURATION", format_duration(d.session_ttl)),
         "login session lifetime, e.g. 12h, 30m, 3600s, 2d")
        ("audit-retention", arg("DURATION", format_duration(d.audit_retention)),
         "how long audit events are kept; older ones are deleted hourly (and at start)")
        ("public-origin", arg("URL"),
         "default http://<listen>; cookie-authenticated writes must send this Origin")
        ("grouped-writes", arg("on|off", d.grouped_writes ? "on" : "off"),
         "SQLite: run each write on the store's writer thread and answer it after its group "
         "commit (off: on write threads that each wait for the commit)")
        ("inline-reads", arg("on|off", d.inline_reads ? "on" : "off"),
         "answer a chatbot read whose session and answer are cached on the I/O thread, "
         "without the hop to a read thread (off: every read on a read thread)")
        ("access-log", arg("on|off", d.access_log ? "on" : "off"),
         "one line per request on stderr")
        ("log-format", arg("text|json", d.log_json ? "json" : "text"),
         "access-log lines as text, or as one JSON object each (time, level, method, route, "
         "path, status, duration_ms, bytes, request_id, client)")
        ("metrics-listen", arg("HOST:PORT"),
         "serve Prometheus metrics at GET /metrics on this separate address (no credentials: "
         "keep it private); default off")
        ("no-dashboard", po::value<std::string>()->zero_tokens()->implicit_value("1"),
         "do not serve the web dashboard at / (the variable: 1 or 0); the API is the same "
         "either way");
    return o;
}

po::options_description user_add_options() {
    po::options_description o("user add (the password comes on stdin)", kHelpWidth,
                              kHelpWidth / 2);
    o.add_options()
        ("email", arg("EMAIL"), "the new user's email (required)")
        ("org", arg("NAME"), "its organization, created if missing (required)")
        ("role", arg("ROLE"),
         "viewer, member, admin or owner; default owner when this creates the organization, "
         "member otherwise");
    return o;
}

po::options_description user_list_options() {
    po::options_description o("user list", kHelpWidth, kHelpWidth / 2);
    o.add_options()
        ("org", arg("NAME"), "only the users of the organization with exactly this name");
    return o;
}

po::options_description user_set_role_options() {
    po::options_description o("user set-role", kHelpWidth, kHelpWidth / 2);
    o.add_options()
        ("email", arg("EMAIL"), "the user's email, in any letter case (required)")
        ("role", arg("ROLE"), "viewer, member, admin or owner (required)");
    return o;
}

po::options_description backup_options() {
    po::options_description o("backup (SQLite; works while a server runs)", kHelpWidth,
                              kHelpWidth / 2);
    o.add_options()
        ("db", arg("PATH"), "the SQLite database to copy (required)")
        ("to", arg("FILE"), "the new backup file, mode 0600; must not exist (required)");
    return o;
}

po::options_description restore_options() {
    po::options_description o("restore (SQLite; no server may hold the database)", kHelpWidth,
                              kHelpWidth / 2);
    o.add_options()
        ("from", arg("FILE"), "a backup made by the backup command (required)")
        ("db", arg("PATH"), "the database to create or replace (required)")
        ("force", po::bool_switch(), "replace the database at --db when it exists");
    return o;
}

po::options_description migrate_options() {
    po::options_description o("migrate (SQLite to an empty PostgreSQL database)", kHelpWidth,
                              kHelpWidth / 2);
    o.add_options()
        ("from", arg("PATH"), "the SQLite database; no server may hold it (required)")
        ("to", arg("URL"), "postgres://... of an empty database (required)");
    return o;
}
// clang-format on

po::options_description help_option() {
    po::options_description o(kHelpWidth, kHelpWidth / 2);
    o.add_options()("help,h", "print this help");
    return o;
}

// --- Sources: the environment, then the command line over it ----------------------------

// The flags after the command words; throws UsageError naming the command.
po::variables_map parse_flags(const std::vector<std::string>& args, std::size_t first,
                              const po::options_description& options, const std::string& command) {
    po::options_description all = help_option();
    all.add(options);
    // Collects stray words, so that the message can name the first one.
    all.add_options()("unexpected", po::value<std::vector<std::string>>());
    po::positional_options_description positional;
    positional.add("unexpected", -1);

    po::variables_map vm;
    try {
        po::store(po::command_line_parser(std::vector(args.begin() + first, args.end()))
                      .options(all)
                      .positional(positional)
                      .style(po::command_line_style::unix_style &
                             ~po::command_line_style::allow_guessing)  // no --thr for --threads
                      .run(),
                  vm);
    } catch (const po::error& e) {
        throw UsageError(command + ": " + e.what());
    }
    if (vm.count("unexpected"))
        throw UsageError(command + ": unexpected argument \"" +
                         vm["unexpected"].as<std::vector<std::string>>().front() + "\"");
    return vm;
}

// The CHATBOTMGR_* variables of options; any other variable is ignored.
po::variables_map parse_environment(const po::options_description& options) {
    const auto option_of = [&options](const std::string& variable) -> std::string {
        for (const auto& option : options.options())
            if (env_variable(option->long_name()) == variable) return option->long_name();
        return {};  // not ours (CHATBOTMGR_TEST_PG, PATH, ...)
    };
    po::variables_map vm;
    po::store(po::parse_environment(options, option_of), vm);
    return vm;
}

// One source of values; messages name its flags (--threads) or variables
// (CHATBOTMGR_THREADS).
struct Source {
    const po::variables_map& values;
    bool environment;

    // The value when this source gave the option; nullptr otherwise (also for a default).
    const std::string* operator[](const char* option) const {
        auto it = values.find(option);
        if (it == values.end() || it->second.defaulted()) return nullptr;
        return &it->second.as<std::string>();
    }

    std::string name(const char* option) const {
        return environment ? env_variable(option) : std::string("--") + option;
    }
};

// --db, --storage and --pg-pool from one source; true when it named an SQLite file (--db
// PATH or --storage sqlite:PATH). The --storage value is never echoed: it may hold a
// password.
bool apply_storage(StorageConfig& c, const Source& s) {
    const std::string* db = s["db"];
    const std::string* storage = s["storage"];
    bool named_file = false;
    if (db) {
        if (db->empty()) throw UsageError(s.name("db") + ": empty path");
        c.sqlite_path = *db;
        c.postgres_url.reset();  // --db beats a PostgreSQL URL from the environment
        named_file = true;
    }
    if (storage) {
        // Within the environment CHATBOTMGR_STORAGE wins over CHATBOTMGR_DB; on the command
        // line the two flags must agree.
        const bool both_flags = db && !s.environment;
        if (is_postgres_url(*storage)) {
            if (both_flags)
                throw UsageError(
                    "--db names an SQLite file but --storage a PostgreSQL database; give one");
            c.postgres_url = *storage;
        } else if (*storage == "sqlite" || storage->starts_with("sqlite:")) {
            c.postgres_url.reset();
            if (storage->size() > 7) {
                if (both_flags)
                    throw UsageError("--db and --storage sqlite:PATH both name the file; give one");
                c.sqlite_path = storage->substr(7);
                named_file = true;
            }
        } else {
            throw UsageError(s.name("storage") +
                             ": expected postgres://..., postgresql://..., sqlite:PATH or sqlite");
        }
    }
    if (auto v = s["pg-pool"]) c.postgres_pool = parse_count(*v, s.name("pg-pool"), 1, 1000);
    return named_file;
}

// The storage of a user command: the environment, then the flags over it. It must be named
// somewhere: a bare "sqlite" names no file.
StorageConfig user_storage(const po::variables_map& flags, const std::string& command) {
    const po::variables_map env = parse_environment(storage_options());
    StorageConfig c;
    bool named_file = false;
    for (const Source& s : {Source{env, true}, Source{flags, false}})
        named_file = apply_storage(c, s) || named_file;
    if (!named_file && !c.postgres_url)
        throw UsageError(command + ": --db PATH or --storage URL is required");
    return c;
}

void apply_serve(ServeConfig& c, const Source& s) {
    if (auto v = s["listen"]) parse_listen(*v, s.name("listen"), c.listen_host, c.listen_port);
    if (auto v = s["threads"]) c.threads = parse_count(*v, s.name("threads"), 1, 256);
    if (auto v = s["max-connections"])
        c.max_connections = parse_count(*v, s.name("max-connections"), 1, 1'000'000);
    if (auto v = s["max-connections-per-address"])
        c.max_connections_per_address =
            parse_count(*v, s.name("max-connections-per-address"), 0, 1'000'000);
    if (auto v = s["max-requests-per-connection"])
        c.max_requests_per_connection =
            parse_count(*v, s.name("max-requests-per-connection"), 0, 999'999'999);
    if (auto v = s["max-connection-lifetime"])
        c.max_connection_lifetime = *v == "0"
                                        ? std::chrono::seconds::zero()
                                        : parse_duration(*v, s.name("max-connection-lifetime"));
    if (auto v = s["max-buffered-body-bytes"])
        c.max_buffered_body_bytes = parse_bytes(*v, s.name("max-buffered-body-bytes"));
    if (auto v = s["max-chatbots-per-org"])
        c.max_chatbots_per_org = parse_count(*v, s.name("max-chatbots-per-org"), 1, 100'000'000);
    if (auto v = s["login-threads"])
        c.login_threads = parse_count(*v, s.name("login-threads"), 1, 256);
    if (auto v = s["login-queue"])
        c.login_queue = parse_count(*v, s.name("login-queue"), 0, 1'000'000);
    if (auto v = s["login-max-failures"])
        c.login_max_failures = parse_count(*v, s.name("login-max-failures"), 1, 1'000'000);
    if (auto v = s["login-max-failures-per-address"])
        c.login_max_failures_per_address =
            parse_count(*v, s.name("login-max-failures-per-address"), 1, 1'000'000);
    if (auto v = s["rate-limit-max-clients"])
        c.rate_limit_max_clients =
            parse_count(*v, s.name("rate-limit-max-clients"), 1, 100'000'000);
    if (auto v = s["max-parsed-json-bytes"])
        c.max_parsed_json_bytes = parse_bytes(*v, s.name("max-parsed-json-bytes"));
    if (auto v = s["max-large-bodies"])
        c.max_large_bodies = parse_count(*v, s.name("max-large-bodies"), 1, 1'000'000);
    if (auto it = s.values.find("trusted-proxy"); it != s.values.end() && !it->second.defaulted())
        c.trusted_proxies =
            parse_cidrs(it->second.as<std::vector<std::string>>(), s.name("trusted-proxy"));
    if (auto v = s["proxy-header"]) {
        if (*v != "x-forwarded-for" && *v != "forwarded")
            throw UsageError(s.name("proxy-header") + ": x-forwarded-for or forwarded");
        c.proxy_header_forwarded = *v == "forwarded";
    }
    if (auto v = s["session-ttl"]) c.session_ttl = parse_duration(*v, s.name("session-ttl"));
    if (auto v = s["audit-retention"])
        c.audit_retention = parse_duration(*v, s.name("audit-retention"));
    if (auto v = s["public-origin"]) c.public_origin = parse_origin(*v, s.name("public-origin"));
    if (auto v = s["access-log"]) c.access_log = parse_on_off(*v, s.name("access-log"));
    if (auto v = s["grouped-writes"]) c.grouped_writes = parse_on_off(*v, s.name("grouped-writes"));
    if (auto v = s["inline-reads"]) c.inline_reads = parse_on_off(*v, s.name("inline-reads"));
    if (auto v = s["log-format"]) {
        if (*v != "text" && *v != "json") throw UsageError(s.name("log-format") + ": text or json");
        c.log_json = *v == "json";
    }
    if (auto v = s["metrics-listen"]) {
        std::string host;
        parse_listen(*v, s.name("metrics-listen"), host, c.metrics_port);
        c.metrics_host = host;
    }
    if (auto v = s["no-dashboard"]) {
        if (*v != "1" && *v != "0") throw UsageError(s.name("no-dashboard") + ": 1 or 0");
        c.dashboard = *v == "0";
    }
}

}  // namespace

std::string redact_url(const std::string& url) {
    const std::size_t scheme_end = url.find("://");
    if (scheme_end == std::string::npos) return url;
    const std::size_t start = scheme_end + 3;
    const std::size_t query = std::min(url.find('?', start), url.size());
    std::string out = url.substr(0, query);
    // user[:password]@host: take the last '@' before the query, so that a password with a
    // stray '@' or '/' in it is still hidden whole (over-redacting is harmless).
    const std::size_t at = out.rfind('@');
    if (at != std::string::npos && at >= start) {
        const std::size_t colon = out.find(':', start);
        if (colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
    // ?key=value&...: libpq percent-decodes the keys, so "pass%77ord" is a password too.
    char separator = '?';
    for (std::size_t pos = query; pos < url.size();) {
        const std::size_t end = std::min(url.find('&', pos + 1), url.size());
        const std::string_view param(url.data() + pos + 1, end - pos - 1);
        const std::size_t eq = param.find('=');
        out += separator;
        separator = '&';
        if (eq != std::string_view::npos && percent_decode(param.substr(0, eq)) == "password")
            out.append(param.substr(0, eq)).append("=***");
        else
            out.append(param);
        pos = end;
    }
    return out;
}

std::string describe(const StorageConfig& storage) {
    if (storage.postgres_url) return "PostgreSQL database " + redact_url(*storage.postgres_url);
    return "SQLite database \"" + storage.sqlite_path + "\"";
}

std::string usage() {
    po::options_description all(kHelpWidth, kHelpWidth / 2);
    all.add(serve_options())
        .add(storage_options())
        .add(user_add_options())
        .add(user_list_options())
        .add(user_set_role_options())
        .add(backup_options())
        .add(restore_options())
        .add(migrate_options())
        .add(help_option());
    std::ostringstream out;
    out << "Usage:\n"
           "  chatbotmgr-server serve [--listen HOST:PORT] [--db PATH | --storage URL] [...]\n"
           "  chatbotmgr-server user add (--db PATH | --storage URL) --email EMAIL --org NAME\n"
           "                             [--role ROLE]                 (password on stdin)\n"
           "  chatbotmgr-server user list (--db PATH | --storage URL) [--org NAME]\n"
           "  chatbotmgr-server user set-role (--db PATH | --storage URL) --email EMAIL --role "
           "ROLE\n"
           "  chatbotmgr-server backup --db PATH --to FILE\n"
           "  chatbotmgr-server restore --from FILE --db PATH [--force]\n"
           "  chatbotmgr-server migrate --from PATH --to postgres://...\n"
           "\n"
           "Roles, lowest first: viewer, member, admin, owner.\n"
           "\n"
           "user add prints {\"user_id\":\"...\",\"org_id\":\"...\",\"role\":\"...\"}.\n"
           "user list prints one line per user, by organization name, then oldest user first;\n"
           "the fields, separated by a tab: email, role, organization name, created (RFC 3339,\n"
           "UTC):\n"
           "  ada@example.com<TAB>owner<TAB>Acme<TAB>2025-01-31T09:30:00Z\n"
           "user set-role prints the user's line as it is afterwards; it refuses (exit 1) to\n"
           "demote the only owner of an organization.\n"
           "The user commands open the storage themselves. A server running on an SQLite file\n"
           "keeps it to itself: stop the server first, or use the web as an owner or admin. On\n"
           "PostgreSQL they work while servers run, and a role change applies to the user's\n"
           "next request on every instance.\n"
           "\n"
           "backup copies a consistent snapshot of an SQLite database, also while a server\n"
           "is writing to it, checks the copy (integrity_check, row counts) and prints them.\n"
           "restore checks a backup and copies it to --db; it refuses while a process holds\n"
           "--db, and refuses to replace an existing database without --force.\n"
           "migrate copies every organization, user, invitation, chatbot (all its keys),\n"
           "conversation, message and analysis result into an empty PostgreSQL database in\n"
           "one transaction, verifies the counts, digests and password hashes, and prints the\n"
           "rows per table; sessions are not copied (everyone logs in again).\n"
           "\n"
           "Exit codes: 0 success; 1 failure (storage, address in use, email taken, no such\n"
           "user or organization, last owner, backup or restore refused); 2 bad command line.\n"
           "\n"
           "A flag marked (env NAME) can come from the environment variable NAME instead; the\n"
           "flag wins over the variable. A PostgreSQL password is best kept out of the command\n"
           "line: PGPASSWORD or ~/.pgpass.\n"
        << all;
    return out.str();
}

std::chrono::seconds parse_duration(const std::string& text, const std::string& what) {
    if (text.empty()) throw UsageError(what + ": empty duration");
    constexpr std::string_view kSuffixes = "smhd";
    constexpr long long kUnits[] = {1, 60, 3600, 86400};
    const std::size_t suffix = kSuffixes.find(text.back());
    const long long unit = suffix == std::string_view::npos ? 1 : kUnits[suffix];
    const std::string digits =
        suffix == std::string_view::npos ? text : text.substr(0, text.size() - 1);
    if (!is_number(digits))
        throw UsageError(what + ": expected a duration like 12h, 30m or 3600s, got \"" + text +
                         "\"");
    const long long n = std::stoll(digits);
    if (n == 0) throw UsageError(what + ": must be more than zero");
    if (n * unit > 366LL * 86400) throw UsageError(what + ": at most 366 days");
    return std::chrono::seconds(n * unit);
}

std::string parse_origin(const std::string& text, const std::string& what) {
    std::string o = text;
    while (!o.empty() && o.back() == '/') o.pop_back();
    std::size_t scheme_end = o.find("://");
    if (scheme_end == std::string::npos)
        throw UsageError(what + ": expected http(s)://host[:port]");
    std::string scheme = o.substr(0, scheme_end);
    for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (scheme != "http" && scheme != "https")
        throw UsageError(what + ": the scheme must be http or https");
    std::string rest = o.substr(scheme_end + 3);
    if (rest.empty() || rest.find_first_of("/?#@ ") != std::string::npos)
        throw UsageError(what + ": expected http(s)://host[:port] without a path");
    for (char& c : rest) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return scheme + "://" + rest;
}

void parse_listen(const std::string& text, const std::string& what, std::string& host,
                  std::uint16_t& port) {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0)
        throw UsageError(what + ": expected HOST:PORT, got \"" + text + "\"");
    std::string h = text.substr(0, colon);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    boost::system::error_code ec;
    boost::asio::ip::make_address(h, ec);
    if (ec) throw UsageError(what + ": \"" + h + "\" is not an IP address");
    host = h;
    port =
        static_cast<std::uint16_t>(parse_count(text.substr(colon + 1), what + " port", 0, 65535));
}

Command parse_command_line(const std::vector<std::string>& args) {
    if (args.empty())
        throw UsageError(
            "missing command (serve, user add, user list, user set-role, backup, restore or "
            "migrate)");
    if (args[0] == "-h" || args[0] == "--help" || args[0] == "help") return HelpRequest{usage()};

    if (args[0] == "serve") {
        po::options_description options;
        options.add(storage_options()).add(serve_options());
        const po::variables_map flags = parse_flags(args, 1, options, "serve");
        if (flags.count("help")) return HelpRequest{usage()};
        const po::variables_map env = parse_environment(options);
        // The environment first, then the flags over it: a flag wins over its variable, and
        // a bad variable is reported even when a flag overrides it.
        ServeConfig c;
        for (const Source& s : {Source{env, true}, Source{flags, false}}) {
            apply_storage(c.storage, s);
            apply_serve(c, s);
        }
        return c;
    }

    if (args[0] == "backup" || args[0] == "restore") {
        const bool backup = args[0] == "backup";
        const po::variables_map flags =
            parse_flags(args, 1, backup ? backup_options() : restore_options(), args[0]);
        if (flags.count("help")) return HelpRequest{usage()};
        const Source command_line{flags, false};
        const auto required = [&](const char* option) {
            const std::string* v = command_line[option];
            if (!v || v->empty()) throw UsageError(args[0] + ": --" + option + " is required");
            return *v;
        };
        if (backup) return BackupConfig{required("db"), required("to")};
        return RestoreConfig{required("from"), required("db"), flags["force"].as<bool>()};
    }

    if (args[0] == "migrate") {
        const po::variables_map flags = parse_flags(args, 1, migrate_options(), "migrate");
        if (flags.count("help")) return HelpRequest{usage()};
        const Source command_line{flags, false};
        const std::string* from = command_line["from"];
        const std::string* to = command_line["to"];
        if (!from || from->empty()) throw UsageError("migrate: --from PATH is required");
        if (!to || !is_postgres_url(*to))
            throw UsageError("migrate: --to postgres://... (or postgresql://...) is required");
        return MigrateConfig{*from, *to};
    }

    if (args[0] == "user") {
        const std::string sub = args.size() > 1 ? args[1] : "";
        if (sub == "-h" || sub == "--help") return HelpRequest{usage()};
        if (sub == "add") {
            po::options_description options;
            options.add(storage_options()).add(user_add_options());
            const po::variables_map flags = parse_flags(args, 2, options, "user add");
            if (flags.count("help")) return HelpRequest{usage()};
            const Source command_line{flags, false};
            UserAddConfig c;
            c.storage = user_storage(flags, "user add");
            if (auto v = command_line["email"]) c.email = *v;
            if (auto v = command_line["org"]) c.org = *v;
            if (auto v = command_line["role"]) c.role = parse_role(*v, "user add: --role");
            if (c.email.empty()) throw UsageError("user add: --email EMAIL is required");
            if (c.org.empty()) throw UsageError("user add: --org NAME is required");
            return c;
        }
        if (sub == "list") {
            po::options_description options;
            options.add(storage_options()).add(user_list_options());
            const po::variables_map flags = parse_flags(args, 2, options, "user list");
            if (flags.count("help")) return HelpRequest{usage()};
            UserListConfig c;
            c.storage = user_storage(flags, "user list");
            if (auto v = Source{flags, false}["org"]) {
                if (v->empty()) throw UsageError("user list: --org: empty name");
                c.org = *v;
            }
            return c;
        }
        if (sub == "set-role") {
            po::options_description options;
            options.add(storage_options()).add(user_set_role_options());
            const po::variables_map flags = parse_flags(args, 2, options, "user set-role");
            if (flags.count("help")) return HelpRequest{usage()};
            const Source command_line{flags, false};
            UserSetRoleConfig c;
            c.storage = user_storage(flags, "user set-role");
            if (auto v = command_line["email"]) c.email = *v;
            if (c.email.empty()) throw UsageError("user set-role: --email EMAIL is required");
            const std::string* role = command_line["role"];
            if (!role) throw UsageError("user set-role: --role ROLE is required");
            c.role = parse_role(*role, "user set-role: --role");
            return c;
        }
        throw UsageError(sub.empty() ? "user: expected a subcommand: add, list or set-role"
                                     : "user: unknown subcommand \"" + sub +
                                           "\" (expected add, list or set-role)");
    }
    throw UsageError("unknown command \"" + args[0] +
                     "\" (expected serve, user add, user list, user set-role, backup, restore or "
                     "migrate)");
}

}  // namespace chatbotmgr::server
