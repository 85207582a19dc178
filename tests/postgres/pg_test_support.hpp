// Test support for the PostgreSQL tests: the cluster named by CHATBOTMGR_TEST_PG, a fresh
// database per test, a raw libpq admin connection, and a TCP proxy that can freeze (a
// network partition on demand).
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "chatbotmgr/postgres/postgres_store.hpp"

namespace cbm_pg_test {

// conninfo of the maintenance database: $CHATBOTMGR_TEST_PG, else the value CMake was
// configured with. Throws when neither is set.
std::string maintenance_conninfo();

// The same conninfo with some keywords replaced (e.g. {"dbname", "x"}), in keyword form.
std::string conninfo_with(const std::string& conninfo,
                          const std::vector<std::pair<std::string, std::string>>& overrides);

// One value of a conninfo ("" when absent).
std::string conninfo_value(const std::string& conninfo, const std::string& keyword);

// A plain libpq connection for the test's own SQL (setup, inspection, sabotage).
class AdminConn {
  public:
    explicit AdminConn(const std::string& conninfo);
    ~AdminConn();
    AdminConn(const AdminConn&) = delete;
    AdminConn& operator=(const AdminConn&) = delete;
    // Runs SQL; returns the first column of the first row ("" when none). Throws
    // std::runtime_error on failure.
    std::string exec(const std::string& sql);
    std::string exec(const std::string& sql, const std::vector<std::string>& params);

  private:
    PGconn* conn_;
};

// A database created for one test and dropped (WITH (FORCE)) afterwards.
class TempDatabase {
  public:
    TempDatabase();
    ~TempDatabase();
    TempDatabase(const TempDatabase&) = delete;
    TempDatabase& operator=(const TempDatabase&) = delete;
    const std::string& name() const { return name_; }
    const std::string& conninfo() const { return conninfo_; }
    // Terminates every backend connected to this database except the caller's; returns
    // how many.
    int terminate_backends(AdminConn& admin) const;

  private:
    std::string name_;
    std::string conninfo_;
};

chatbotmgr::postgres::PostgresOptions options_for(const std::string& conninfo);

// A digest of 32 equal bytes, and a chatbot with this id in organization "o".
chatbotmgr::Digest digest_of(unsigned char seed);
chatbotmgr::Chatbot bot(std::string id);

// Waits (bounded, about 10 s) until a backend of db waits for a lock.
bool wait_for_lock_waiter(AdminConn& admin, const TempDatabase& db);

// Forwards 127.0.0.1:port() to the cluster. While frozen it accepts connections but moves
// no bytes, like a partitioned network: no error ever reaches the client.
class FreezableProxy {
  public:
    explicit FreezableProxy(const std::string& upstream_conninfo);
    ~FreezableProxy();
    FreezableProxy(const FreezableProxy&) = delete;
    FreezableProxy& operator=(const FreezableProxy&) = delete;
    int port() const { return port_; }
    void set_frozen(bool frozen) { frozen_ = frozen; }

  private:
    int connect_upstream() const;
    void run();

    std::string upstream_host_;
    int upstream_port_ = 5432;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> frozen_{false};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace cbm_pg_test
