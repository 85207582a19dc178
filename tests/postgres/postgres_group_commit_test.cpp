// Group commit on PostgreSQL (adapters/postgres/src/group_commit.hpp), on a real server:
// concurrent writes share commits, at most max_batch per commit; a job that fails is rolled
// back alone while the others of its batch commit; when the batch's transaction dies, every
// job of it fails with unavailable, nothing is written and no body runs twice; a job that
// meets another transaction's lock before any user code leaves the batch and runs again on
// its own (the only second run), while one past user code fails; jobs run in lock-key
// order.
//
// Batches are formed on purpose: a first job holds its batch open (it waits inside its
// body) while the others queue up behind it -- GroupCommit::callers() tells when all of
// them have -- so that they commit together next. Through the store, which shows no queue,
// the test waits a moment after the threads have started, like the SQLite writer's tests.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "chatbotmgr/capture.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/postgres/postgres_store.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "chatbotmgr/testing/journal_entry.hpp"
#include "connection.hpp"
#include "group_commit.hpp"
#include "numbered.hpp"
#include "pg_test_support.hpp"
#include "pool.hpp"
#include "storage/gate.hpp"

using namespace chatbotmgr;
using cbm_pg_test::AdminConn;
using cbm_pg_test::bot;
using cbm_pg_test::digest_of;
using cbm_pg_test::options_for;
using cbm_pg_test::TempDatabase;
using cbm_pg_test::wait_for_lock_waiter;
using chatbotmgr::postgres::PostgresStore;
using chatbotmgr::postgres::detail::ConnectSettings;
using chatbotmgr::postgres::detail::GroupCommit;
using chatbotmgr::postgres::detail::Params;
using chatbotmgr::postgres::detail::Pool;
using chatbotmgr::postgres::detail::Tx;
using chatbotmgr::test::Gate;
using chatbotmgr::test::numbered;
using chatbotmgr::testing::code_of;

namespace {

// Long enough for started threads to reach the store's queue (only where the queue cannot
// be watched: through the store).
constexpr auto kSettle = std::chrono::milliseconds(300);

// The batch sizes on_commit reported, in commit order.
class Commits {
  public:
    GroupCommit::CommitObserver observer() {
        return [this](std::chrono::nanoseconds, std::size_t n) {
            std::lock_guard lock(mutex_);
            sizes_.push_back(n);
        };
    }
    std::vector<std::size_t> sizes() {
        std::lock_guard lock(mutex_);
        return sizes_;
    }

  private:
    std::mutex mutex_;
    std::vector<std::size_t> sizes_;
};

// What a job's call ended with.
struct Outcome {
    bool returned = false;
    std::optional<ErrorCode> code;  // an Error
    std::string message;            // its message, or another exception's
};

template <class F>
Outcome outcome_of(F&& f) {
    Outcome o;
    try {
        f();
        o.returned = true;
    } catch (const Error& e) {
        o.code = e.code();
        o.message = e.what();
    } catch (const std::exception& e) {
        o.message = e.what();
    }
    return o;
}

// A GroupCommit over a pool on a fresh database with a scratch table t (id, v).
class Fixture {
  public:
    explicit Fixture(std::size_t max_batch = 64,
                     std::chrono::milliseconds lock_timeout = std::chrono::milliseconds(100),
                     std::size_t lanes = 1)
        : admin(db.conninfo()),
          pool(ConnectSettings{db.conninfo()}, 8, std::chrono::seconds(10)),
          gc(std::make_unique<GroupCommit>(
              pool, GroupCommit::Settings{max_batch, lanes, lock_timeout, commits.observer()})) {
        admin.exec("CREATE TABLE t (id integer PRIMARY KEY, v text NOT NULL)");
    }

    // Waits (bounded, so a broken queue fails instead of hanging) until n callers are
    // inside GroupCommit::run().
    bool wait_for_callers(std::size_t n) const {
        for (int i = 0; i < 4000; ++i) {
            if (gc->callers() >= n) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return false;
    }
    std::string value(int id) {
        return admin.exec("SELECT coalesce((SELECT v FROM t WHERE id = $1::integer), '-')",
                          {std::to_string(id)});
    }
    int rows() { return std::stoi(admin.exec("SELECT count(*) FROM t")); }

    TempDatabase db;
    AdminConn admin;
    Pool pool;
    Commits commits;
    std::unique_ptr<GroupCommit> gc;
};

void add_insert(Tx& tx, int id, std::string_view v) {
    Params p;
    p.int64(id).text(v);
    tx.add("INSERT INTO t (id, v) VALUES ($1::integer, $2::text)", p);
}

void insert(Tx& tx, int id, std::string_view v) {
    add_insert(tx, id, v);
    tx.finish();
}

void add_update(Tx& tx, int id, std::string_view v) {
    Params p;
    p.int64(id).text(v);
    tx.add("UPDATE t SET v = $2::text WHERE id = $1::integer", p);
}

// Holds a batch open: a job (lock key "", first in its batch) that waits inside its body
// until released, then inserts row 0.
class HeldBatch {
  public:
    explicit HeldBatch(GroupCommit& gc)
        : thread_([this, &gc] {
              gc.run("", [this](Tx& tx) {
                  inside_.open();
                  release_.wait();
                  insert(tx, 0, "held");
              });
          }) {
        inside_.wait();
    }
    ~HeldBatch() {
        release();
        thread_.join();
    }
    void release() { release_.open(); }

  private:
    Gate inside_;
    Gate release_;
    std::thread thread_;
};

std::string key_of(int i) {
    return std::string(1, static_cast<char>('a' + i / 26)) + static_cast<char>('a' + i % 26);
}

}  // namespace

TEST_CASE("pg group commit: jobs queued behind a batch commit together, at most max_batch each",
          "[postgres][group-commit]") {
    constexpr std::size_t kMaxBatch = 8;
    constexpr int kJobs = 20;
    Fixture f(kMaxBatch);
    std::vector<Outcome> outcomes(kJobs);
    {
        HeldBatch held(*f.gc);
        std::vector<std::thread> threads;
        for (int i = 1; i <= kJobs; ++i)
            threads.emplace_back([&, i] {
                outcomes[i - 1] =
                    outcome_of([&] { f.gc->run(key_of(i), [&](Tx& tx) { insert(tx, i, "v"); }); });
            });
        REQUIRE(f.wait_for_callers(kJobs + 1));
        held.release();
        for (auto& t : threads) t.join();
    }
    for (const Outcome& o : outcomes) {
        INFO(o.message);
        CHECK(o.returned);
    }
    CHECK(f.rows() == kJobs + 1);
    // The held job alone, then the 20 queued jobs in batches of at most 8: 4 commits for 21
    // writes.
    CHECK(f.commits.sizes() == std::vector<std::size_t>{1, 8, 8, 4});
}

TEST_CASE("pg group commit: a failing job is rolled back alone, the others of its batch commit",
          "[postgres][group-commit]") {
    Fixture f;
    f.admin.exec("INSERT INTO t (id, v) VALUES (100, 'existing')");
    constexpr int kGood = 6;
    std::vector<Outcome> good(kGood);
    Outcome duplicate, thrown, unsent;
    {
        HeldBatch held(*f.gc);
        std::vector<std::thread> threads;
        for (int i = 1; i <= kGood; ++i)
            threads.emplace_back([&, i] {
                good[i - 1] = outcome_of([&] {
                    // Two round trips, like an update: the savepoint spans both.
                    f.gc->run(key_of(2 * i), [&](Tx& tx) {
                        add_insert(tx, i, "first");
                        tx.round_trip();
                        add_update(tx, i, "good");
                        tx.finish();
                    });
                });
            });
        // Between the good ones (by lock key): a duplicate key...
        threads.emplace_back([&] {
            duplicate =
                outcome_of([&] { f.gc->run(key_of(5), [&](Tx& tx) { insert(tx, 100, "dup"); }); });
        });
        // ...a body that throws after its statement ran...
        threads.emplace_back([&] {
            thrown = outcome_of([&] {
                f.gc->run(key_of(7), [&](Tx& tx) {
                    add_insert(tx, 7, "thrown");
                    tx.round_trip();
                    throw std::runtime_error("refused after a round trip");
                });
            });
        });
        // ...and one that throws with a statement queued and never sent.
        threads.emplace_back([&] {
            unsent = outcome_of([&] {
                f.gc->run(key_of(9), [&](Tx& tx) {
                    add_insert(tx, 9, "unsent");
                    throw std::runtime_error("refused before its round trip");
                });
            });
        });
        REQUIRE(f.wait_for_callers(kGood + 4));
        held.release();
        for (auto& t : threads) t.join();
    }
    for (const Outcome& o : good) {
        INFO(o.message);
        CHECK(o.returned);
    }
    INFO(duplicate.message);
    CHECK(duplicate.code == ErrorCode::conflict);
    CHECK(thrown.message == "refused after a round trip");
    CHECK(unsent.message == "refused before its round trip");
    // All nine were one batch: the failures did not take the others with them.
    CHECK(f.commits.sizes() == std::vector<std::size_t>{1, kGood + 3});
    for (int i = 1; i <= kGood; ++i) CHECK(f.value(i) == "good");
    CHECK(f.value(100) == "existing");
    CHECK(f.value(7) == "-");
    CHECK(f.value(9) == "-");
    CHECK(f.rows() == 1 + kGood + 1);
}

TEST_CASE(
    "pg group commit: when the transaction dies, each job of the batch fails unavailable "
    "and nothing of it is written, no body running twice",
    "[postgres][group-commit][faults]") {
    Fixture f;
    constexpr int kJobs = 6;
    std::vector<Outcome> outcomes(kJobs);
    std::vector<std::atomic<int>> runs(kJobs);
    Outcome killer;
    std::atomic<int> killer_runs{0};
    {
        HeldBatch held(*f.gc);
        std::vector<std::thread> threads;
        for (int i = 0; i < kJobs; ++i)
            threads.emplace_back([&, i] {
                outcomes[i] = outcome_of([&] {
                    f.gc->run(key_of(2 * i), [&](Tx& tx) {
                        ++runs[i];
                        insert(tx, i + 1, "lost");
                    });
                });
            });
        // In the middle of the batch, a job whose statement ends its own backend.
        threads.emplace_back([&] {
            killer = outcome_of([&] {
                f.gc->run(key_of(kJobs - 1), [&](Tx& tx) {
                    ++killer_runs;
                    tx.add("SELECT pg_terminate_backend(pg_backend_pid())", Params{});
                    tx.round_trip();
                });
            });
        });
        REQUIRE(f.wait_for_callers(kJobs + 2));
        held.release();
        for (auto& t : threads) t.join();
    }
    CHECK(killer_runs == 1);
    CHECK(killer.code == ErrorCode::unavailable);
    int ran = 0;
    for (int i = 0; i < kJobs; ++i) {
        INFO("job " << i << ": " << outcomes[i].message);
        CHECK(outcomes[i].code == ErrorCode::unavailable);
        CHECK(runs[i] <= 1);
        ran += runs[i];
    }
    CHECK(ran == kJobs / 2);  // the jobs before the killer ran, none after it
    CHECK(f.rows() == 1);     // only the held job's batch committed
    CHECK(f.commits.sizes() == std::vector<std::size_t>{1});

    // The broken connection was dropped: the next batch commits.
    CHECK(outcome_of([&] { f.gc->run("", [](Tx& tx) { insert(tx, 50, "after"); }); }).returned);
    CHECK(f.value(50) == "after");
}

TEST_CASE(
    "pg group commit: a job that meets a foreign lock before user code runs again on its "
    "own, past user code it fails",
    "[postgres][group-commit]") {
    Fixture f(64, std::chrono::milliseconds(100));
    f.admin.exec("INSERT INTO t (id, v) VALUES (1, 'old'), (2, 'old'), (3, 'old')");
    AdminConn locker(f.db.conninfo());
    locker.exec("BEGIN");
    locker.exec("SELECT v FROM t WHERE id = 2 FOR UPDATE");

    Outcome a, waits, user, c;
    std::atomic<int> waits_runs{0}, user_runs{0};
    std::vector<std::thread> waiting;  // joined after the lock is released
    {
        HeldBatch held(*f.gc);
        std::vector<std::thread> threads;
        threads.reserve(3);
        waiting.reserve(1);
        threads.emplace_back([&] {
            a = outcome_of([&] {
                f.gc->run("a", [&](Tx& tx) {
                    add_update(tx, 1, "A");
                    tx.finish();
                });
            });
        });
        waiting.emplace_back([&] {
            waits = outcome_of([&] {
                f.gc->run("b", [&](Tx& tx) {
                    ++waits_runs;
                    add_update(tx, 2, "waited");
                    tx.finish();
                });
            });
        });
        threads.emplace_back([&] {
            user = outcome_of([&] {
                f.gc->run("c", [&](Tx& tx) {
                    ++user_runs;
                    tx.user_code();  // as if a mutate callback had run
                    add_update(tx, 2, "user");
                    tx.finish();
                });
            });
        });
        threads.emplace_back([&] {
            c = outcome_of([&] {
                f.gc->run("d", [&](Tx& tx) {
                    add_update(tx, 3, "C");
                    tx.finish();
                });
            });
        });
        REQUIRE(f.wait_for_callers(5));
        held.release();
        // The batch commits without the job that waited: its neighbours return while the
        // lock is still held.
        for (auto& t : threads) t.join();
    }
    INFO(a.message << " / " << c.message << " / " << user.message);
    CHECK(a.returned);
    CHECK(c.returned);
    CHECK(user.code == ErrorCode::unavailable);  // 55P03 past user code: no second run
    CHECK(user_runs == 1);
    CHECK(f.value(1) == "A");
    CHECK(f.value(3) == "C");

    // Meanwhile the job that waited runs again on its own and waits without the batch's
    // limit, until the lock is released.
    REQUIRE(wait_for_lock_waiter(f.admin, f.db));
    locker.exec("ROLLBACK");
    for (auto& t : waiting) t.join();
    INFO(waits.message);
    CHECK(waits.returned);
    CHECK(waits_runs == 2);
    CHECK(f.value(2) == "waited");
    // The held job, the batch of four (one left it, one failed), the job on its own.
    CHECK(f.commits.sizes() == std::vector<std::size_t>{1, 4, 1});
}

TEST_CASE("pg group commit: a batch runs its jobs in lock-key order", "[postgres][group-commit]") {
    Fixture f;
    std::mutex mutex;
    std::vector<std::string> ran;
    const std::vector<std::string> keys{"e", "b", "d", "a", "c"};
    {
        HeldBatch held(*f.gc);
        std::vector<std::thread> threads;
        for (std::size_t i = 0; i < keys.size(); ++i) {
            threads.emplace_back([&, i] {
                f.gc->run(keys[i], [&, i](Tx& tx) {
                    {
                        std::lock_guard lock(mutex);
                        ran.push_back(keys[i]);
                    }
                    insert(tx, static_cast<int>(i) + 1, keys[i]);
                });
            });
            REQUIRE(f.wait_for_callers(i + 2));  // queued in this order
        }
        held.release();
        for (auto& t : threads) t.join();
    }
    CHECK(ran == std::vector<std::string>{"a", "b", "c", "d", "e"});
    CHECK(f.commits.sizes() == std::vector<std::size_t>{1, 5});
}

TEST_CASE("pg group commit: jobs of one affinity share a lane's batches, others run beside them",
          "[postgres][group-commit]") {
    Fixture f(64, std::chrono::milliseconds(100), 2);
    constexpr int kSame = 5;
    std::vector<Outcome> same(kSame);
    {
        // The held job has affinity 0 (run without one): its lane is busy.
        HeldBatch held(*f.gc);
        std::vector<std::thread> threads;
        for (int i = 1; i <= kSame; ++i)
            threads.emplace_back([&, i] {
                same[i - 1] = outcome_of(
                    [&] { f.gc->run(key_of(i), 0, [&](Tx& tx) { insert(tx, i, "same"); }); });
            });
        REQUIRE(f.wait_for_callers(kSame + 1));
        // Another affinity takes the idle lane and commits while the first lane is held.
        f.gc->run("other", 7, [](Tx& tx) { insert(tx, 100, "other"); });
        CHECK(f.value(100) == "other");
        CHECK(f.rows() == 1);
        held.release();
        for (auto& t : threads) t.join();
    }
    for (const Outcome& o : same) {
        INFO(o.message);
        CHECK(o.returned);
    }
    // The other job alone, the held one, then the five queued behind it together.
    CHECK(f.commits.sizes() == std::vector<std::size_t>{1, 1, kSame});
    CHECK(f.rows() == 2 + kSame);
}

TEST_CASE("pg group commit: a write from inside a job is refused", "[postgres][group-commit]") {
    Fixture f;
    std::optional<ErrorCode> nested;
    f.gc->run("", [&](Tx& tx) {
        nested = code_of([&] { f.gc->run("", [](Tx& inner) { insert(inner, 2, "nested"); }); });
        insert(tx, 1, "outer");
    });
    CHECK(nested == ErrorCode::internal);
    CHECK(f.value(1) == "outer");
    CHECK(f.value(2) == "-");
}

TEST_CASE(
    "pg group commit: concurrent creates through the store share commits, a duplicate key "
    "digest fails alone",
    "[postgres][group-commit]") {
    TempDatabase db;
    Commits commits;
    auto opts = options_for(db.conninfo());
    opts.on_commit = commits.observer();
    opts.write_lanes = 1;  // the held update holds up the creates
    PostgresStore store(opts);
    store.insert(bot("leader"), digest_of(1));

    constexpr int kCreates = 8;
    std::vector<Outcome> creates(kCreates);
    Outcome duplicate;
    Gate inside, release;
    std::thread leader([&] {
        store.update(
            "o", "leader",
            [&](Chatbot& c) {
                c.name = "leader done";
                inside.open();
                release.wait();
            },
            chatbotmgr::testing::journal_entry());
    });
    inside.wait();
    std::vector<std::thread> threads;
    for (int i = 0; i < kCreates; ++i)
        threads.emplace_back([&, i] {
            creates[i] = outcome_of([&] {
                store.insert(bot(numbered("bot-", i)),
                             digest_of(static_cast<unsigned char>(10 + i)));
            });
        });
    threads.emplace_back([&] {
        // The leader's key digest.
        duplicate = outcome_of([&] { store.insert(bot("duplicate"), digest_of(1)); });
    });
    std::this_thread::sleep_for(kSettle);
    release.open();
    leader.join();
    for (auto& t : threads) t.join();

    for (int i = 0; i < kCreates; ++i) {
        INFO("bot-" << i << ": " << creates[i].message);
        CHECK(creates[i].returned);
        CHECK(store.get("o", numbered("bot-", i)));
    }
    INFO(duplicate.message);
    CHECK(duplicate.code == ErrorCode::conflict);
    CHECK_FALSE(store.get("o", "duplicate"));
    CHECK(store.get("o", "leader")->name == "leader done");

    // Every write was committed by some commit, and they shared: fewer commits than
    // writes (the leader's, then the nine queued behind it).
    const std::vector<std::size_t> sizes = commits.sizes();
    INFO(sizes.size() << " commits");
    // 1 for the first insert, then the leader, the creates and the duplicate.
    CHECK(std::accumulate(sizes.begin(), sizes.end(), std::size_t{0}) == 1 + 1 + kCreates + 1);
    CHECK(sizes.size() < 1 + 1 + kCreates + 1);
    CHECK(*std::max_element(sizes.begin(), sizes.end()) > 1);
}

TEST_CASE(
    "pg group commit: a row lock held elsewhere stalls only the write that needs it, its "
    "merge runs once",
    "[postgres][group-commit]") {
    TempDatabase db;
    auto opts = options_for(db.conninfo());
    opts.write_lanes = 1;  // even in one lane
    PostgresStore store(opts);
    store.insert(bot("x"), digest_of(1));
    store.insert(bot("y"), digest_of(2));

    AdminConn locker(db.conninfo());
    locker.exec("BEGIN");
    locker.exec("SELECT id FROM chatbots WHERE id = 'x' FOR UPDATE");
    std::atomic<int> merges{0};
    std::optional<Chatbot> x;
    std::thread blocked([&] {
        x = store.update(
            "o", "x",
            [&](Chatbot& c) {
                ++merges;
                c.name = "x merged";
            },
            chatbotmgr::testing::journal_entry());
    });
    AdminConn watcher(db.conninfo());
    REQUIRE(wait_for_lock_waiter(watcher, db));
    // Other writes go on meanwhile (in batches after the one that gave up on x's lock).
    for (int i = 0; i < 5; ++i)
        CHECK(store
                  .update(
                      "o", "y", [&](Chatbot& c) { c.name = numbered("y ", i); },
                      chatbotmgr::testing::journal_entry())
                  ->name == numbered("y ", i));
    CHECK(merges == 0);  // x's write is still waiting, before its merge
    locker.exec("ROLLBACK");
    blocked.join();
    REQUIRE(x);
    CHECK(x->name == "x merged");
    CHECK(merges == 1);
    CHECK(store.get("o", "x")->name == "x merged");
}

TEST_CASE("pg group commit: two stores' batches crossing on the same rows lose no merge",
          "[postgres][group-commit]") {
    TempDatabase db;
    PostgresStore a(options_for(db.conninfo()));
    PostgresStore b(options_for(db.conninfo()));
    constexpr int kBots = 4;
    for (int i = 0; i < kBots; ++i)
        a.insert(bot(numbered("bot-", i)), digest_of(static_cast<unsigned char>(i + 1)));

    constexpr int kThreads = 4;  // per store
    constexpr int kRounds = 20;
    std::vector<std::string> problems(2 * kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < 2 * kThreads; ++t)
        threads.emplace_back([&, t] {
            PostgresStore& store = t % 2 ? b : a;
            std::mt19937 rng(static_cast<unsigned>(t));
            for (int r = 0; r < kRounds; ++r) {
                const std::string id = numbered("bot-", static_cast<long long>(rng() % kBots));
                std::string member = numbered("t", t);
                member += numbered("r", r);
                try {
                    store.update(
                        "o", id, [&](Chatbot& c) { c.settings[member] = r; },
                        chatbotmgr::testing::journal_entry());
                } catch (const std::exception& e) {
                    problems[t] = e.what();
                    return;
                }
            }
        });
    for (auto& t : threads) t.join();
    for (const std::string& p : problems) CHECK(p == "");

    std::size_t members = 0;
    for (int i = 0; i < kBots; ++i) members += a.get("o", numbered("bot-", i))->settings.size();
    CHECK(members == 2 * kThreads * kRounds);
}

TEST_CASE("pg group commit: a merge in flight does not hold up a capture of its chatbot",
          "[postgres][group-commit]") {
    TempDatabase db;
    auto opts = options_for(db.conninfo());
    opts.statement_timeout = std::chrono::milliseconds(2000);  // a regression fails, not hangs
    PostgresStore store(opts);
    store.insert(bot("x"), digest_of(1));
    Gate inside, release;
    std::thread merge([&] {
        store.update(
            "o", "x",
            [&](Chatbot& c) {
                inside.open();
                release.wait();
                c.name = "merged";
            },
            chatbotmgr::testing::journal_entry());
    });
    inside.wait();
    // The merge's transaction holds the chatbot's row lock (FOR NO KEY UPDATE); a new
    // conversation's foreign key takes FOR KEY SHARE on the same row, which does not
    // conflict with it.
    CaptureBatch batch;
    batch.external_conversation_id = "conv";
    batch.messages.push_back(CapturedMessage{"user", "hello", "m1", std::nullopt});
    const Outcome captured = outcome_of([&] {
        const auto r = store.append_capture("x", batch);
        if (!r || r->messages_stored != 1) throw std::runtime_error("nothing stored");
    });
    release.open();
    merge.join();
    INFO(captured.message);
    CHECK(captured.returned);
    CHECK(store.get("o", "x")->name == "merged");
}
