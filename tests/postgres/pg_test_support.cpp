#include "pg_test_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <stdexcept>
#include <thread>

#include "pg_test_config.hpp"  // generated: kConfiguredConninfo

namespace cbm_pg_test {
namespace {

std::string quote_value(const std::string& v) {
    std::string out = "'";
    for (char c : v) {
        if (c == '\\' || c == '\'') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('\'');
    return out;
}

std::map<std::string, std::string> parse_conninfo(const std::string& conninfo) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
    if (!opts) {
        std::string msg = err ? err : "invalid conninfo";
        PQfreemem(err);
        throw std::runtime_error("CHATBOTMGR_TEST_PG: " + msg);
    }
    std::map<std::string, std::string> out;
    for (PQconninfoOption* o = opts; o->keyword; ++o)
        if (o->val && *o->val) out[o->keyword] = o->val;
    PQconninfoFree(opts);
    return out;
}

std::string random_suffix() {
    std::random_device rd;
    std::uniform_int_distribution<unsigned> dist(0, 15);
    std::string s;
    for (int i = 0; i < 16; ++i) s.push_back("0123456789abcdef"[dist(rd)]);
    return s;
}

void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

}  // namespace

std::string maintenance_conninfo() {
    if (const char* env = std::getenv("CHATBOTMGR_TEST_PG"); env && *env) return env;
    if (*kConfiguredConninfo) return kConfiguredConninfo;
    throw std::runtime_error(
        "CHATBOTMGR_TEST_PG is not set: start a cluster with scripts/pg-test-cluster.sh");
}

std::string conninfo_with(const std::string& conninfo,
                          const std::vector<std::pair<std::string, std::string>>& overrides) {
    auto values = parse_conninfo(conninfo);
    for (const auto& [k, v] : overrides) values[k] = v;
    std::string out;
    for (const auto& [k, v] : values) {
        if (!out.empty()) out.push_back(' ');
        out += k + "=" + quote_value(v);
    }
    return out;
}

std::string conninfo_value(const std::string& conninfo, const std::string& keyword) {
    const auto values = parse_conninfo(conninfo);
    const auto it = values.find(keyword);
    return it == values.end() ? std::string() : it->second;
}

AdminConn::AdminConn(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
        std::string msg = PQerrorMessage(conn_);
        PQfinish(conn_);
        throw std::runtime_error("admin connection failed: " + msg);
    }
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
}

AdminConn::~AdminConn() {
    PQfinish(conn_);
}

std::string AdminConn::exec(const std::string& sql) {
    return exec(sql, {});
}

std::string AdminConn::exec(const std::string& sql, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    PGresult* r = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        std::string msg = PQresultErrorMessage(r);
        PQclear(r);
        throw std::runtime_error("admin SQL failed: " + sql + ": " + msg);
    }
    std::string out = (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0)
                          ? std::string(PQgetvalue(r, 0, 0))
                          : std::string();
    PQclear(r);
    return out;
}

TempDatabase::TempDatabase() : name_("cbm_test_" + random_suffix()) {
    AdminConn admin(maintenance_conninfo());
    admin.exec("CREATE DATABASE \"" + name_ + "\" ENCODING 'UTF8' TEMPLATE template0");
    conninfo_ = conninfo_with(maintenance_conninfo(), {{"dbname", name_}});
}

TempDatabase::~TempDatabase() {
    try {
        AdminConn admin(maintenance_conninfo());
        admin.exec("DROP DATABASE IF EXISTS \"" + name_ + "\" WITH (FORCE)");
    } catch (...) {
        // Best effort: a leftover database dies with the throwaway cluster.
    }
}

int TempDatabase::terminate_backends(AdminConn& admin) const {
    return std::stoi(
        admin.exec("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                   "WHERE datname = $1 AND pid <> pg_backend_pid()",
                   {name_}));
}

chatbotmgr::postgres::PostgresOptions options_for(const std::string& conninfo) {
    chatbotmgr::postgres::PostgresOptions o;
    o.conninfo = conninfo;
    o.pool_size = 4;
    return o;
}

FreezableProxy::FreezableProxy(const std::string& upstream_conninfo) {
    upstream_host_ = conninfo_value(upstream_conninfo, "host");
    if (upstream_host_.empty()) upstream_host_ = "/var/run/postgresql";
    if (upstream_host_ == "localhost") upstream_host_ = "127.0.0.1";
    if (const std::string p = conninfo_value(upstream_conninfo, "port"); !p.empty())
        upstream_port_ = std::stoi(p);

    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        close_fd(listen_fd_);
        throw std::runtime_error("proxy: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
}

FreezableProxy::~FreezableProxy() {
    stop_ = true;
    thread_.join();
    close_fd(listen_fd_);
}

int FreezableProxy::connect_upstream() const {
    if (!upstream_host_.empty() && upstream_host_[0] == '/') {
        const std::string path = upstream_host_ + "/.s.PGSQL." + std::to_string(upstream_port_);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (path.size() >= sizeof addr.sun_path) return -1;
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
            return fd;
        close_fd(fd);
        return -1;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(upstream_port_));
    if (::inet_pton(AF_INET, upstream_host_.c_str(), &addr.sin_addr) != 1) return -1;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
    close_fd(fd);
    return -1;
}

void FreezableProxy::run() {
    struct Pair {
        int client;
        int server;
    };
    std::vector<Pair> pairs;
    char buf[16384];
    // Copies what is readable on from to to; false when either side is finished.
    auto pump = [&](int from, int to) {
        const ssize_t n = ::recv(from, buf, sizeof buf, 0);
        if (n <= 0) return false;
        for (ssize_t off = 0; off < n;) {
            const ssize_t w =
                ::send(to, buf + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
            if (w <= 0) return false;
            off += w;
        }
        return true;
    };
    while (!stop_) {
        const bool frozen = frozen_;
        const std::size_t polled = frozen ? 0 : pairs.size();
        std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
        if (!frozen)
            for (const Pair& p : pairs) {
                fds.push_back({p.client, POLLIN, 0});
                fds.push_back({p.server, POLLIN, 0});
            }
        if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
        if (fds[0].revents & POLLIN) {
            int client = ::accept(listen_fd_, nullptr, nullptr);
            if (client >= 0) {
                int server = connect_upstream();
                if (server < 0)
                    close_fd(client);
                else
                    pairs.push_back({client, server});
            }
        }
        if (frozen) continue;
        std::vector<Pair> alive;
        for (std::size_t i = 0; i < polled; ++i) {
            Pair p = pairs[i];
            const short cr = fds[1 + 2 * i].revents;
            const short sr = fds[2 + 2 * i].revents;
            bool ok = true;
            if (cr & (POLLIN | POLLHUP | POLLERR)) ok = pump(p.client, p.server);
            if (ok && (sr & (POLLIN | POLLHUP | POLLERR))) ok = pump(p.server, p.client);
            if (ok) {
                alive.push_back(p);
            } else {
                close_fd(p.client);
                close_fd(p.server);
            }
        }
        // Pairs accepted during this round have no poll entry yet; keep them.
        for (std::size_t i = polled; i < pairs.size(); ++i) alive.push_back(pairs[i]);
        pairs = std::move(alive);
    }
    for (Pair& p : pairs) {
        close_fd(p.client);
        close_fd(p.server);
    }
}

bool wait_for_lock_waiter(AdminConn& admin, const TempDatabase& db) {
    for (int i = 0; i < 400; ++i) {
        if (admin.exec("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND "
                       "wait_event_type = 'Lock'",
                       {db.name()}) != "0")
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
}

chatbotmgr::Digest digest_of(unsigned char seed) {
    chatbotmgr::Digest d{};
    d.fill(seed);
    return d;
}

chatbotmgr::Chatbot bot(std::string id) {
    return chatbotmgr::Chatbot{
        std::move(id),    "o", "Bot",
        "ob_live_abcdef", {},  std::chrono::sys_seconds(std::chrono::seconds(1))};
}

}  // namespace cbm_pg_test
