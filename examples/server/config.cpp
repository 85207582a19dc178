#include "config.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace chatbotmgr::server {

namespace {

std::size_t parse_count(const std::string& text, const std::string& what, std::size_t min,
                        std::size_t max) {
    if (text.empty() || text.size() > 9)
        throw UsageError(what + ": expected a number, got \"" + text + "\"");
    std::size_t n = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            throw UsageError(what + ": expected a number, got \"" + text + "\"");
        n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    if (n < min || n > max)
        throw UsageError(what + ": must be between " + std::to_string(min) + " and " +
                         std::to_string(max));
    return n;
}

// Walks "--name value" and "--name=value" pairs.
class Flags {
  public:
    Flags(const std::vector<std::string>& args, std::size_t first) : args_(args), i_(first) {}

    // False at the end; otherwise name and value of the next flag.
    bool next(std::string& name, std::string& value) {
        if (i_ >= args_.size()) return false;
        const std::string& arg = args_[i_++];
        if (arg == "-h" || arg == "--help") {
            name = "--help";
            value.clear();
            return true;
        }
        if (arg.rfind("--", 0) != 0) throw UsageError("unexpected argument \"" + arg + "\"");
        auto eq = arg.find('=');
        if (eq != std::string::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            return true;
        }
        name = arg;
        if (i_ >= args_.size()) throw UsageError(name + ": missing value");
        value = args_[i_++];
        return true;
    }

  private:
    const std::vector<std::string>& args_;
    std::size_t i_;
};

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
    return v.rfind("postgresql://", 0) == 0 || v.rfind("postgres://", 0) == 0;
}

// The storage of serve and user add: environment first, then flags, flags winning.
class StorageFlags {
  public:
    StorageFlags(StorageConfig& c,
                 const std::function<std::optional<std::string>(const char*)>& env)
        : c_(c) {
        if (auto v = env("CHATBOTMGR_DB")) {
            c_.sqlite_path = *v;
            env_path_ = !v->empty();
        }
        if (auto v = env("CHATBOTMGR_STORAGE"))
            env_path_ = apply(*v, "CHATBOTMGR_STORAGE") || env_path_;
        if (auto v = env("CHATBOTMGR_PG_POOL"))
            c_.postgres_pool = parse_count(*v, "CHATBOTMGR_PG_POOL", 1, 1000);
    }

    // False when name is not a storage flag.
    bool take(const std::string& name, const std::string& value) {
        if (name == "--db") {
            if (value.empty()) throw UsageError("--db: empty path");
            if (flag_db_) throw UsageError("--db: given twice");
            c_.sqlite_path = value;
            flag_db_ = true;
        } else if (name == "--storage") {
            if (flag_storage_) throw UsageError("--storage: given twice");
            flag_storage_path_ = apply(value, "--storage");
            flag_storage_ = true;
        } else if (name == "--pg-pool") {
            c_.postgres_pool = parse_count(value, "--pg-pool", 1, 1000);
        } else {
            return false;
        }
        return true;
    }

    // Settles flags against each other and against the environment; true when the
    // storage was named anywhere (a PostgreSQL URL or an SQLite path).
    bool finish() {
        if (flag_db_ && flag_storage_) {
            if (c_.postgres_url)
                throw UsageError(
                    "--db names an SQLite file but --storage a PostgreSQL database; "
                    "give one");
            if (flag_storage_path_)
                throw UsageError("--db and --storage sqlite:PATH both name the file; give one");
        }
        // An explicit --db beats a PostgreSQL URL from the environment.
        if (flag_db_ && !flag_storage_) c_.postgres_url.reset();
        return c_.postgres_url || flag_db_ || flag_storage_path_ || env_path_;
    }

  private:
    // One --storage value; true when it named an SQLite file. The value is never echoed:
    // it may hold a password.
    bool apply(const std::string& value, const std::string& what) {
        if (is_postgres_url(value)) {
            c_.postgres_url = value;
            return false;
        }
        if (value == "sqlite" || value.rfind("sqlite:", 0) == 0) {
            c_.postgres_url.reset();
            if (value.size() <= 7) return false;
            c_.sqlite_path = value.substr(7);
            return true;
        }
        throw UsageError(what +
                         ": expected postgres://..., postgresql://..., sqlite:PATH or sqlite");
    }

    StorageConfig& c_;
    bool env_path_ = false;
    bool flag_db_ = false;
    bool flag_storage_ = false;
    bool flag_storage_path_ = false;
};

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
    return R"(Usage:
  chatbotmgr-server serve [--listen HOST:PORT] [--db PATH | --storage URL] [--pg-pool N]
                          [--threads N] [--max-connections N] [--session-ttl DURATION]
                          [--public-origin URL] [--access-log on|off]
  chatbotmgr-server user add (--db PATH | --storage URL) --email EMAIL --org NAME
                                                               (password on stdin)

serve flags (each also from the environment; flags win):
  --listen HOST:PORT      CHATBOTMGR_LISTEN         default 127.0.0.1:8080 (port 0: any free port)
  --db PATH               CHATBOTMGR_DB             default ./chatbotmgr.db (SQLite, created if missing)
  --storage URL           CHATBOTMGR_STORAGE        postgres://... or postgresql://... (a libpq URI):
                                                    PostgreSQL, shared by any number of instances;
                                                    sqlite:PATH: the same as --db PATH; default SQLite
  --pg-pool N             CHATBOTMGR_PG_POOL        most PostgreSQL connections; default 8
  --threads N             CHATBOTMGR_THREADS        I/O threads, default one per CPU
  --max-connections N     CHATBOTMGR_MAX_CONNECTIONS  open connections at most (more get a
                                                    503 and are closed); default 1024
  --session-ttl DURATION  CHATBOTMGR_SESSION_TTL    e.g. 12h, 30m, 3600s, 2d; default 12h
  --public-origin URL     CHATBOTMGR_PUBLIC_ORIGIN  default http://<listen>; cookie-authenticated
                                                    writes must send this Origin
  --access-log on|off     CHATBOTMGR_ACCESS_LOG     one line per request on stderr; default on

user add takes --db, --storage and --pg-pool (and their variables) the same way.
A PostgreSQL password is best kept out of the command line: PGPASSWORD or ~/.pgpass.
)";
}

std::chrono::seconds parse_duration(const std::string& text, const std::string& what) {
    if (text.empty()) throw UsageError(what + ": empty duration");
    std::string digits = text;
    long long unit = 1;
    switch (text.back()) {
        case 's':
            unit = 1;
            digits.pop_back();
            break;
        case 'm':
            unit = 60;
            digits.pop_back();
            break;
        case 'h':
            unit = 3600;
            digits.pop_back();
            break;
        case 'd':
            unit = 86400;
            digits.pop_back();
            break;
        default:
            break;
    }
    if (digits.empty() || digits.size() > 9)
        throw UsageError(what + ": expected a duration like 12h, 30m or 3600s, got \"" + text +
                         "\"");
    long long n = 0;
    for (char c : digits) {
        if (c < '0' || c > '9')
            throw UsageError(what + ": expected a duration like 12h, 30m or 3600s, got \"" + text +
                             "\"");
        n = n * 10 + (c - '0');
    }
    if (n == 0) throw UsageError(what + ": must be more than zero");
    if (n * unit > 366LL * 86400) throw UsageError(what + ": at most 366 days");
    return std::chrono::seconds(n * unit);
}

std::string parse_origin(const std::string& text) {
    std::string o = text;
    while (!o.empty() && o.back() == '/') o.pop_back();
    std::size_t scheme_end = o.find("://");
    if (scheme_end == std::string::npos)
        throw UsageError("--public-origin: expected http(s)://host[:port]");
    std::string scheme = o.substr(0, scheme_end);
    for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (scheme != "http" && scheme != "https")
        throw UsageError("--public-origin: the scheme must be http or https");
    std::string rest = o.substr(scheme_end + 3);
    if (rest.empty() || rest.find_first_of("/?#@ ") != std::string::npos)
        throw UsageError("--public-origin: expected http(s)://host[:port] without a path");
    for (char& c : rest) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return scheme + "://" + rest;
}

void parse_listen(const std::string& text, std::string& host, std::uint16_t& port) {
    std::size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0)
        throw UsageError("--listen: expected HOST:PORT, got \"" + text + "\"");
    std::string h = text.substr(0, colon);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    boost::system::error_code ec;
    boost::asio::ip::make_address(h, ec);
    if (ec) throw UsageError("--listen: \"" + h + "\" is not an IP address");
    host = h;
    port =
        static_cast<std::uint16_t>(parse_count(text.substr(colon + 1), "--listen port", 0, 65535));
}

Command parse_command_line(const std::vector<std::string>& args,
                           const std::function<std::optional<std::string>(const char*)>& env) {
    if (args.empty()) throw UsageError("missing command (serve or user add)");
    if (args[0] == "-h" || args[0] == "--help" || args[0] == "help") return HelpRequest{usage()};

    if (args[0] == "serve") {
        ServeConfig c;
        StorageFlags storage(c.storage, env);
        if (auto v = env("CHATBOTMGR_LISTEN")) parse_listen(*v, c.listen_host, c.listen_port);
        if (auto v = env("CHATBOTMGR_THREADS"))
            c.threads = parse_count(*v, "CHATBOTMGR_THREADS", 1, 256);
        if (auto v = env("CHATBOTMGR_MAX_CONNECTIONS"))
            c.max_connections = parse_count(*v, "CHATBOTMGR_MAX_CONNECTIONS", 1, 1'000'000);
        if (auto v = env("CHATBOTMGR_SESSION_TTL"))
            c.session_ttl = parse_duration(*v, "CHATBOTMGR_SESSION_TTL");
        if (auto v = env("CHATBOTMGR_PUBLIC_ORIGIN")) c.public_origin = parse_origin(*v);
        if (auto v = env("CHATBOTMGR_ACCESS_LOG")) {
            if (*v != "on" && *v != "off") throw UsageError("CHATBOTMGR_ACCESS_LOG: on or off");
            c.access_log = *v == "on";
        }
        Flags flags(args, 1);
        std::string name, value;
        while (flags.next(name, value)) {
            if (name == "--help") return HelpRequest{usage()};
            if (storage.take(name, value)) continue;
            if (name == "--listen")
                parse_listen(value, c.listen_host, c.listen_port);
            else if (name == "--threads")
                c.threads = parse_count(value, "--threads", 1, 256);
            else if (name == "--max-connections")
                c.max_connections = parse_count(value, "--max-connections", 1, 1'000'000);
            else if (name == "--session-ttl")
                c.session_ttl = parse_duration(value, "--session-ttl");
            else if (name == "--public-origin")
                c.public_origin = parse_origin(value);
            else if (name == "--access-log") {
                if (value != "on" && value != "off") throw UsageError("--access-log: on or off");
                c.access_log = value == "on";
            } else
                throw UsageError("serve: unknown flag " + name);
        }
        storage.finish();
        return c;
    }

    if (args[0] == "user") {
        if (args.size() < 2 || args[1] != "add")
            throw UsageError("user: the only subcommand is \"user add\"");
        UserAddConfig c;
        StorageFlags storage(c.storage, env);
        Flags flags(args, 2);
        std::string name, value;
        while (flags.next(name, value)) {
            if (name == "--help") return HelpRequest{usage()};
            if (storage.take(name, value)) continue;
            if (name == "--email")
                c.email = value;
            else if (name == "--org")
                c.org = value;
            else
                throw UsageError("user add: unknown flag " + name);
        }
        if (!storage.finish()) throw UsageError("user add: --db PATH or --storage URL is required");
        if (c.email.empty()) throw UsageError("user add: --email EMAIL is required");
        if (c.org.empty()) throw UsageError("user add: --org NAME is required");
        return c;
    }
    throw UsageError("unknown command \"" + args[0] + "\" (expected serve or user add)");
}

}  // namespace chatbotmgr::server
