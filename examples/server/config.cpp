#include "config.hpp"

#include <cctype>
#include <limits>

#include <boost/asio/ip/address.hpp>

namespace chatbotmgr::server {

namespace {

std::size_t parse_count(const std::string& text, const std::string& what, std::size_t min,
                        std::size_t max) {
    if (text.empty() || text.size() > 9) throw UsageError(what + ": expected a number, got \"" + text + "\"");
    std::size_t n = 0;
    for (char c : text) {
        if (c < '0' || c > '9') throw UsageError(what + ": expected a number, got \"" + text + "\"");
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

}  // namespace

std::string usage() {
    return R"(Usage:
  chatbotmgr-server serve [--listen HOST:PORT] [--db PATH] [--threads N]
                          [--session-ttl DURATION] [--public-origin URL] [--access-log on|off]
  chatbotmgr-server user add --db PATH --email EMAIL --org NAME   (password on stdin)

serve flags (each also from the environment; flags win):
  --listen HOST:PORT      CHATBOTMGR_LISTEN         default 127.0.0.1:8080 (port 0: any free port)
  --db PATH               CHATBOTMGR_DB             default ./chatbotmgr.db (SQLite, created if missing)
  --threads N             CHATBOTMGR_THREADS        I/O threads, default one per CPU
  --session-ttl DURATION  CHATBOTMGR_SESSION_TTL    e.g. 12h, 30m, 3600s, 2d; default 12h
  --public-origin URL     CHATBOTMGR_PUBLIC_ORIGIN  default http://<listen>; cookie-authenticated
                                                    writes must send this Origin
  --access-log on|off     CHATBOTMGR_ACCESS_LOG     one line per request on stderr; default on
)";
}

std::chrono::seconds parse_duration(const std::string& text, const std::string& what) {
    if (text.empty()) throw UsageError(what + ": empty duration");
    std::string digits = text;
    long long unit = 1;
    switch (text.back()) {
        case 's': unit = 1; digits.pop_back(); break;
        case 'm': unit = 60; digits.pop_back(); break;
        case 'h': unit = 3600; digits.pop_back(); break;
        case 'd': unit = 86400; digits.pop_back(); break;
        default: break;
    }
    if (digits.empty() || digits.size() > 9)
        throw UsageError(what + ": expected a duration like 12h, 30m or 3600s, got \"" + text + "\"");
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
    if (scheme_end == std::string::npos) throw UsageError("--public-origin: expected http(s)://host[:port]");
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
    port = static_cast<std::uint16_t>(parse_count(text.substr(colon + 1), "--listen port", 0, 65535));
}

Command parse_command_line(const std::vector<std::string>& args,
                           const std::function<std::optional<std::string>(const char*)>& env) {
    if (args.empty()) throw UsageError("missing command (serve or user add)");
    if (args[0] == "-h" || args[0] == "--help" || args[0] == "help") return HelpRequest{usage()};

    if (args[0] == "serve") {
        ServeConfig c;
        if (auto v = env("CHATBOTMGR_LISTEN")) parse_listen(*v, c.listen_host, c.listen_port);
        if (auto v = env("CHATBOTMGR_DB")) c.storage.sqlite_path = *v;
        if (auto v = env("CHATBOTMGR_THREADS")) c.threads = parse_count(*v, "CHATBOTMGR_THREADS", 1, 256);
        if (auto v = env("CHATBOTMGR_SESSION_TTL")) c.session_ttl = parse_duration(*v, "CHATBOTMGR_SESSION_TTL");
        if (auto v = env("CHATBOTMGR_PUBLIC_ORIGIN")) c.public_origin = parse_origin(*v);
        if (auto v = env("CHATBOTMGR_ACCESS_LOG")) {
            if (*v != "on" && *v != "off") throw UsageError("CHATBOTMGR_ACCESS_LOG: on or off");
            c.access_log = *v == "on";
        }
        Flags flags(args, 1);
        std::string name, value;
        while (flags.next(name, value)) {
            if (name == "--help") return HelpRequest{usage()};
            if (name == "--listen") parse_listen(value, c.listen_host, c.listen_port);
            else if (name == "--db") {
                if (value.empty()) throw UsageError("--db: empty path");
                c.storage.sqlite_path = value;
            } else if (name == "--threads") c.threads = parse_count(value, "--threads", 1, 256);
            else if (name == "--session-ttl") c.session_ttl = parse_duration(value, "--session-ttl");
            else if (name == "--public-origin") c.public_origin = parse_origin(value);
            else if (name == "--access-log") {
                if (value != "on" && value != "off") throw UsageError("--access-log: on or off");
                c.access_log = value == "on";
            } else
                throw UsageError("serve: unknown flag " + name);
        }
        return c;
    }

    if (args[0] == "user") {
        if (args.size() < 2 || args[1] != "add")
            throw UsageError("user: the only subcommand is \"user add\"");
        UserAddConfig c;
        bool have_db = false;
        if (auto v = env("CHATBOTMGR_DB")) {
            c.storage.sqlite_path = *v;
            have_db = true;
        }
        Flags flags(args, 2);
        std::string name, value;
        while (flags.next(name, value)) {
            if (name == "--help") return HelpRequest{usage()};
            if (name == "--db") {
                c.storage.sqlite_path = value;
                have_db = !value.empty();
            } else if (name == "--email") c.email = value;
            else if (name == "--org") c.org = value;
            else
                throw UsageError("user add: unknown flag " + name);
        }
        if (!have_db) throw UsageError("user add: --db PATH is required");
        if (c.email.empty()) throw UsageError("user add: --email EMAIL is required");
        if (c.org.empty()) throw UsageError("user add: --org NAME is required");
        return c;
    }
    throw UsageError("unknown command \"" + args[0] + "\" (expected serve or user add)");
}

}  // namespace chatbotmgr::server
