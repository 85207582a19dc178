// Outages on a real server: terminated backends, refused connections, lock waits past the
// statement timeout, and a frozen network. Every failure must be Error(unavailable), no
// call may hang past its timeout, and the same store object must heal by itself.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/postgres/postgres_store.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "chatbotmgr/testing/journal_entry.hpp"
#include "pg_test_support.hpp"

using namespace chatbotmgr;
using cbm_pg_test::AdminConn;
using cbm_pg_test::bot;
using cbm_pg_test::digest_of;
using cbm_pg_test::options_for;
using cbm_pg_test::TempDatabase;
using cbm_pg_test::wait_for_lock_waiter;
using chatbotmgr::postgres::PostgresStore;

using chatbotmgr::testing::code_of;

namespace {

// An update's mutate. (Assigning the literal itself, c.name = "x", gives GCC 12 at -O3 a
// false -Wrestrict where it is inlined.)
void rename_to_x(Chatbot& c) {
    c.name = std::string("x");
}

// Calls f until it succeeds, at most `attempts` times with a short pause; every failure on
// the way must be unavailable. Returns the number of failures, or -1 if it never succeeded
// or failed any other way.
template <class F>
int failures_until_success(F&& f, int attempts = 50) {
    for (int i = 0; i < attempts; ++i) {
        const auto code = code_of(f);
        if (!code) return i;
        if (*code != ErrorCode::unavailable) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return -1;
}

}  // namespace

TEST_CASE("pg faults: terminated backends heal by themselves", "[postgres]") {
    TempDatabase db;
    PostgresStore store(options_for(db.conninfo()));
    store.insert(bot("a"), digest_of(1));
    // Open several pooled connections at once.
    {
        std::vector<std::thread> ts;
        for (int i = 0; i < 4; ++i) ts.emplace_back([&] { (void)store.list("o"); });
        for (auto& t : ts) t.join();
    }

    AdminConn admin(db.conninfo());
    // A call blocked on a row lock loses its backend mid-statement: unavailable, at once.
    admin.exec("BEGIN");
    admin.exec("SELECT id FROM chatbots WHERE id = 'a' FOR UPDATE");
    std::optional<ErrorCode> blocked_result;
    std::thread blocked([&] {
        blocked_result = code_of(
            [&] { store.update("o", "a", rename_to_x, chatbotmgr::testing::journal_entry()); });
    });
    REQUIRE(wait_for_lock_waiter(admin, db));
    CHECK(db.terminate_backends(admin) >= 1);
    blocked.join();
    CHECK(blocked_result == ErrorCode::unavailable);
    admin.exec("ROLLBACK");

    // Idle pooled connections were terminated too; the same object recovers.
    CHECK(failures_until_success([&] { (void)store.get("o", "a"); }) >= 0);
    for (int i = 0; i < 20; ++i) CHECK_FALSE(code_of([&] { (void)store.list("o"); }));
    CHECK(store.get("o", "a")->name == "Bot");  // the interrupted update wrote nothing
}

TEST_CASE("pg faults: refused connections are unavailable until the server lets us in",
          "[postgres]") {
    TempDatabase db;
    PostgresStore store(options_for(db.conninfo()));
    store.insert(bot("a"), digest_of(1));

    AdminConn maintenance(cbm_pg_test::maintenance_conninfo());
    maintenance.exec("ALTER DATABASE \"" + db.name() + "\" ALLOW_CONNECTIONS false");
    db.terminate_backends(maintenance);
    // The outage: no connection can be made; every call fails the same typed way.
    // (A call may first meet a pooled connection not yet told of its termination.)
    int unavailable = 0;
    for (int i = 0; i < 10; ++i) {
        const auto code = code_of([&] { store.ping(); });
        if (code == ErrorCode::unavailable) ++unavailable;
        CHECK((!code || code == ErrorCode::unavailable));
    }
    CHECK(unavailable >= 9);
    CHECK(code_of([&] { (void)store.get("o", "a"); }) == ErrorCode::unavailable);
    CHECK(code_of([&] { store.insert(bot("b"), digest_of(2)); }) == ErrorCode::unavailable);

    maintenance.exec("ALTER DATABASE \"" + db.name() + "\" ALLOW_CONNECTIONS true");
    CHECK(failures_until_success([&] { store.ping(); }) == 0);
    CHECK(store.get("o", "a"));
    CHECK_FALSE(store.get("o", "b"));
}

TEST_CASE("pg faults: a lock wait past statement_timeout is unavailable, not a hang",
          "[postgres]") {
    TempDatabase db;
    auto opts = options_for(db.conninfo());
    opts.statement_timeout = std::chrono::milliseconds(300);
    PostgresStore store(opts);
    store.insert(bot("a"), digest_of(1));

    AdminConn admin(db.conninfo());
    admin.exec("BEGIN");
    admin.exec("SELECT id FROM chatbots WHERE id = 'a' FOR UPDATE");
    CHECK(code_of([&] {
              store.update("o", "a", rename_to_x, chatbotmgr::testing::journal_entry());
          }) == ErrorCode::unavailable);
    CHECK(code_of([&] { store.remove("o", "a", chatbotmgr::testing::journal_entry()); }) ==
          ErrorCode::unavailable);
    admin.exec("ROLLBACK");

    // Same connections, no reconnect needed: the server only cancelled the statement.
    CHECK(store
              .update(
                  "o", "a", [](Chatbot& c) { c.name = "after"; },
                  chatbotmgr::testing::journal_entry())
              ->name == "after");
    CHECK(store.remove("o", "a", chatbotmgr::testing::journal_entry()));
}

TEST_CASE("pg faults: a frozen network is unavailable after network_timeout, then heals",
          "[postgres]") {
    TempDatabase db;
    { PostgresStore migrate(options_for(db.conninfo())); }
    cbm_pg_test::FreezableProxy proxy(db.conninfo());
    const std::string via_proxy = cbm_pg_test::conninfo_with(
        db.conninfo(),
        {{"host", "127.0.0.1"}, {"port", std::to_string(proxy.port())}, {"sslmode", "disable"}});
    auto opts = options_for(via_proxy);
    opts.network_timeout = std::chrono::milliseconds(1000);
    opts.connect_timeout = std::chrono::seconds(2);
    PostgresStore store(opts);
    store.insert(bot("a"), digest_of(1));

    proxy.set_frozen(true);
    // The pooled connection gets no reply: network_timeout.
    CHECK(code_of([&] { (void)store.get("o", "a"); }) == ErrorCode::unavailable);
    // It was dropped; a new one cannot complete its handshake: connect_timeout.
    CHECK(code_of([&] { (void)store.get("o", "a"); }) == ErrorCode::unavailable);

    proxy.set_frozen(false);
    CHECK(failures_until_success([&] { (void)store.get("o", "a"); }) >= 0);
    CHECK(store.find_by_key_digest(digest_of(1)));
}
