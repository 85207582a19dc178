// The SQLite writer (group commit): a job's body runs at most once, even when SQLite drops
// the batch's transaction; every caller of a dropped batch gets an exception and nothing
// acknowledged is lost; concurrent jobs share commits (at most max_batch per commit); a
// failed commit does not leave the writer stuck; destruction waits for what is queued.
//
// Batches are formed on purpose: a first job holds its batch open (it waits inside its
// body) while the others queue up behind it, so that they commit together next.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <sqlite3.h>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/group_commit.hpp"
#include "chatbotmgr/secrets.hpp"
#include "chatbotmgr/sqlite/sqlite_store.hpp"
#include "chatbotmgr/testing/journal_entry.hpp"
#include "connection.hpp"
#include "gate.hpp"
#include "temp_dir.hpp"
#include "writer.hpp"

namespace {

using chatbotmgr::Chatbot;
using chatbotmgr::Error;
using chatbotmgr::ErrorCode;
using chatbotmgr::sqlite::SqliteOptions;
using chatbotmgr::sqlite::SqliteStore;
using chatbotmgr::sqlite::detail::Connection;
using chatbotmgr::sqlite::detail::ConnectionConfig;
using chatbotmgr::sqlite::detail::Role;
using chatbotmgr::sqlite::detail::Writer;
using chatbotmgr::test::TempDir;

// Long enough for started threads to reach the writer's queue.
constexpr auto kSettle = std::chrono::milliseconds(300);

using chatbotmgr::test::Gate;

// Waits until n threads have called arrive(), then a little longer so that each has
// reached the writer's queue.
class Arrivals {
  public:
    void arrive() {
        {
            std::lock_guard lock(mutex_);
            ++count_;
        }
        cv_.notify_all();
    }
    void wait_for(int n) {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return count_ >= n; });
        lock.unlock();
        std::this_thread::sleep_for(kSettle);
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    int count_ = 0;
};

Chatbot make_chatbot(const std::string& id) {
    Chatbot c;
    c.id = id;
    c.org_id = "org-a";
    c.name = "Bot " + id;
    c.key_prefix = "ob_live_" + chatbotmgr::to_hex(chatbotmgr::sha256(id)).substr(0, 6);
    c.created_at = std::chrono::sys_seconds{std::chrono::seconds{1'705'312'800}};
    return c;
}

SqliteOptions options_for(const std::string& path) {
    SqliteOptions o;
    o.path = path;
    return o;
}

enum class Outcome { pending, returned, unavailable, other };

// Runs fn and tells how it ended.
template <class F>
Outcome outcome_of(F&& fn, std::string& message) {
    try {
        fn();
        return Outcome::returned;
    } catch (const Error& e) {
        message = e.what();
        return e.code() == ErrorCode::unavailable ? Outcome::unavailable : Outcome::other;
    } catch (const std::exception& e) {
        message = e.what();
        return Outcome::other;
    }
}

// --- The writer on its own: a connection to a scratch table, and a commit counter. ---

class WriterFixture {
  public:
    explicit WriterFixture(std::size_t max_batch) : config_(config_for(dir_.file("writer.db"))) {
        writer_ = std::make_unique<Writer>(
            open(), [this] { return open(); }, max_batch);
    }

    Writer& writer() { return *writer_; }
    // Destroys the writer (waits for what is queued).
    void destroy() { writer_.reset(); }
    std::uint64_t commits() const { return commits_.load(); }
    // Rows in t, read through a connection of its own.
    std::int64_t rows() {
        SQLite::Database db(config_.path, SQLite::OPEN_READONLY);
        return db.execAndGet("SELECT count(*) FROM t").getInt64();
    }

    bool has_row(std::int64_t id) {
        SQLite::Database db(config_.path, SQLite::OPEN_READONLY);
        SQLite::Statement s(db, "SELECT count(*) FROM t WHERE id = ?");
        s.bind(1, id);
        s.executeStep();
        return s.getColumn(0).getInt64() == 1;
    }

    static void insert(Connection& c, std::int64_t id) {
        auto& s = c.statement("INSERT INTO t(id) VALUES (?)");
        s.bind(1, id);
        s.exec();
        s.reset();
    }

  private:
    std::unique_ptr<Connection> open() {
        // Counts the commits of the connection: SQLite calls count_commits with the handle
        // of each connection opened while it is registered.
        counting = &commits_;
        sqlite3_auto_extension(reinterpret_cast<void (*)()>(&count_commits));
        auto c = std::make_unique<Connection>(config_, Role::writer);
        sqlite3_cancel_auto_extension(reinterpret_cast<void (*)()>(&count_commits));
        counting = nullptr;
        c->exec(
            "CREATE TABLE IF NOT EXISTS parent(id INTEGER PRIMARY KEY);"
            "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY,"
            " parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)");
        return c;
    }

    static ConnectionConfig config_for(const std::string& path) {
        ConnectionConfig config;
        config.path = path;
        return config;
    }

    static inline thread_local std::atomic<std::uint64_t>* counting = nullptr;
    static int count_commits(sqlite3* db, const char**, const sqlite3_api_routines*) {
        if (counting) {
            sqlite3_commit_hook(
                db,
                [](void* counter) {
                    ++*static_cast<std::atomic<std::uint64_t>*>(counter);
                    return 0;
                },
                counting);
        }
        return SQLITE_OK;
    }

    TempDir dir_;
    ConnectionConfig config_;
    std::atomic<std::uint64_t> commits_{0};
    std::unique_ptr<Writer> writer_;
};

// Holds a batch open: a job that waits inside its body until released.
class HeldBatch {
  public:
    explicit HeldBatch(Writer& writer)
        : thread_([this, &writer] {
              writer.run("hold", nullptr, [this](Connection&) {
                  inside_.open();
                  release_.wait();
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

// --- Whole calls on the writer's own thread (GroupCommitCall). ---

// What became of each grouped call: "" committed, else the error's message.
class Completions {
  public:
    void record(int call, const std::exception_ptr& error) {
        std::string outcome;
        if (error) {
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                outcome = e.what();
                if (outcome.empty()) outcome = "error";
            }
        }
        // Notified under the lock: a waiter that then destroys this object cannot do so
        // while the writer thread is still inside notify_all.
        std::lock_guard lock(mutex_);
        outcomes_[call] = outcome;
        cv_.notify_all();
    }
    void wait_for(std::size_t n) {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return outcomes_.size() >= n; });
    }
    std::map<int, std::string> outcomes() {
        std::lock_guard lock(mutex_);
        return outcomes_;
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::map<int, std::string> outcomes_;
};

class TestCall final : public chatbotmgr::GroupCommitCall {
  public:
    TestCall(int id, Completions& completions, std::function<void()> run,
             std::function<void()> on_committed = {})
        : id_(id),
          completions_(completions),
          run_(std::move(run)),
          on_committed_(std::move(on_committed)) {}
    void run() override { run_(); }
    void committed(std::exception_ptr error) noexcept override {
        if (on_committed_) on_committed_();
        completions_.record(id_, error);
    }

  private:
    int id_;
    Completions& completions_;
    std::function<void()> run_;
    std::function<void()> on_committed_;
};

}  // namespace

TEST_CASE("sqlite writer: grouped calls share commits and are completed only after theirs",
          "[sqlite][writer][group]") {
    constexpr int kCalls = 20;
    WriterFixture f(64);
    Completions completions;
    std::vector<int> visible_when_completed(kCalls, -1);
    std::uint64_t commits_before = 0;
    {
        HeldBatch held(f.writer());  // the calls queue up behind it
        commits_before = f.commits();
        for (int i = 0; i < kCalls; ++i) {
            f.writer().submit_call(std::make_unique<TestCall>(
                i, completions,
                [&, i] {
                    f.writer().run("insert", nullptr,
                                   [&](Connection& c) { WriterFixture::insert(c, i); });
                },
                [&, i] { visible_when_completed[i] = f.has_row(i) ? 1 : 0; }));
        }
        std::this_thread::sleep_for(kSettle);
        // Nothing is acknowledged while the writer is busy with the held batch.
        CHECK(completions.outcomes().empty());
    }
    completions.wait_for(kCalls);
    for (const auto& [call, outcome] : completions.outcomes()) {
        INFO("call " << call << ": " << outcome);
        CHECK(outcome.empty());
        CHECK(visible_when_completed[call] == 1);  // committed before it was completed
    }
    // The held batch, the first call (taken alone, before the others were queued) at
    // most, and the rest together.
    INFO(f.commits() - commits_before << " commits");
    CHECK(f.commits() - commits_before <= 3);
    CHECK(f.rows() == kCalls);
}

TEST_CASE(
    "sqlite writer: a grouped call's failed write is its own, and a failed commit fails "
    "the calls that wrote",
    "[sqlite][writer][group][faults]") {
    WriterFixture f(64);
    Completions completions;
    std::string refused;  // what call 1 saw of its own failed write
    {
        HeldBatch held(f.writer());
        auto insert_call = [&](int id, std::int64_t row, bool poison = false) {
            f.writer().submit_call(std::make_unique<TestCall>(id, completions, [&, row, poison] {
                f.writer().run("insert", nullptr, [&](Connection& c) {
                    WriterFixture::insert(c, row);
                    // A row whose (deferred) foreign key fails only at COMMIT.
                    if (poison) c.exec("INSERT INTO t(id, parent) VALUES (1000, 42)");
                });
            }));
        };
        insert_call(0, 1);  // taken alone first: commits (with the held batch's successor)
        std::this_thread::sleep_for(kSettle);
        insert_call(10, 10);
        f.writer().submit_call(std::make_unique<TestCall>(11, completions, [&] {
            try {
                // Row 10 is the group's own (uncommitted) write: a duplicate inside it.
                f.writer().run("insert", nullptr,
                               [&](Connection& c) { c.exec("INSERT INTO t(id) VALUES (10)"); });
            } catch (const Error& e) {
                refused = e.what();
            }
        }));
        f.writer().submit_call(std::make_unique<TestCall>(12, completions, [] {}));
        insert_call(13, 13, true);
    }
    completions.wait_for(5);
    const auto outcomes = completions.outcomes();
    CHECK(outcomes.at(0).empty());
    CHECK_FALSE(refused.empty());          // its own write failed, inside the group
    CHECK(outcomes.at(11).empty());        // and it wrote nothing, so the group's failure
    CHECK(outcomes.at(12).empty());        // is not its; nor that of a call that only read
    CHECK_FALSE(outcomes.at(10).empty());  // the writes that were in the failed commit
    CHECK_FALSE(outcomes.at(13).empty());
    CHECK(f.has_row(1));
    CHECK_FALSE(f.has_row(10));
    CHECK_FALSE(f.has_row(13));
    // The writer goes on.
    f.writer().submit_call(std::make_unique<TestCall>(20, completions, [&] {
        f.writer().run("insert", nullptr, [](Connection& c) { WriterFixture::insert(c, 20); });
    }));
    completions.wait_for(6);
    CHECK(completions.outcomes().at(20).empty());
    CHECK(f.has_row(20));
}

TEST_CASE("sqlite writer: a counter bumped after commit has grown before anyone hears of it",
          "[sqlite][writer][group]") {
    WriterFixture f(64);
    std::atomic<std::uint64_t> generation{0};
    // A synchronous caller: grown once run() returns, not while the body runs.
    std::uint64_t inside = 99;
    f.writer().run("insert", nullptr, [&](Connection& c) {
        WriterFixture::insert(c, 1);
        f.writer().bump_after_commit(generation);
        inside = generation.load();
    });
    CHECK(inside == 0);
    CHECK(generation == 1);
    // A grouped call: not grown when its write returns (the group has not committed),
    // grown when it is completed.
    Completions completions;
    std::uint64_t after_write = 99;
    std::uint64_t at_completion = 99;
    f.writer().submit_call(std::make_unique<TestCall>(
        0, completions,
        [&] {
            f.writer().run("insert", nullptr, [&](Connection& c) {
                WriterFixture::insert(c, 2);
                f.writer().bump_after_commit(generation);
            });
            after_write = generation.load();
        },
        [&] { at_completion = generation.load(); }));
    completions.wait_for(1);
    CHECK(after_write == 1);
    CHECK(at_completion == 2);
}

TEST_CASE("sqlite writer: a body inside a grouped call may not write", "[sqlite][writer][group]") {
    WriterFixture f(64);
    Completions completions;
    std::string message;
    f.writer().submit_call(std::make_unique<TestCall>(0, completions, [&] {
        f.writer().run("outer", nullptr, [&](Connection&) {
            try {
                f.writer().run("inner", nullptr, [](Connection&) {});
            } catch (const Error& e) {
                if (e.code() == ErrorCode::internal) message = e.what();
            }
        });
    }));
    completions.wait_for(1);
    CHECK_FALSE(message.empty());
}

TEST_CASE("sqlite writer: destruction completes every submitted call", "[sqlite][writer][group]") {
    constexpr int kCalls = 10;
    WriterFixture f(4);
    Completions completions;
    Writer& writer = f.writer();
    Gate inside, release;
    std::thread holder([&] {
        writer.run("hold", nullptr, [&](Connection& c) {
            inside.open();
            release.wait();
            WriterFixture::insert(c, 1000);
        });
    });
    inside.wait();
    for (int i = 0; i < kCalls; ++i) {
        writer.submit_call(std::make_unique<TestCall>(i, completions, [&writer, i] {
            writer.run("insert", nullptr, [i](Connection& c) { WriterFixture::insert(c, i); });
        }));
    }
    std::atomic<bool> destroyed{false};
    std::thread destroyer([&] {
        f.destroy();
        destroyed = true;
    });
    std::this_thread::sleep_for(kSettle);
    CHECK_FALSE(destroyed);
    release.open();
    destroyer.join();
    holder.join();
    // Every call was run, committed and completed before the destructor returned.
    const auto outcomes = completions.outcomes();
    CHECK(outcomes.size() == kCalls);
    for (const auto& [call, outcome] : outcomes) {
        INFO("call " << call << ": " << outcome);
        CHECK(outcome.empty());
    }
    CHECK(f.rows() == kCalls + 1);
}

TEST_CASE(
    "sqlite writer: when SQLite drops the transaction, no update callback runs twice and "
    "every caller of the batch fails",
    "[sqlite][writer][faults]") {
    TempDir dir;
    const std::string path = dir.file("dropped.db");
    constexpr int kBots = 8;
    std::vector<std::atomic<int>> runs(kBots);
    std::vector<Outcome> outcomes(kBots, Outcome::pending);
    std::vector<std::string> messages(kBots);
    std::atomic<int> victim_runs{0};
    Outcome victim = Outcome::pending;
    std::string victim_message;
    {
        SqliteStore store(options_for(path));
        for (const char* id : {"leader", "victim"})
            store.insert(make_chatbot(id), chatbotmgr::sha256(id));
        for (int i = 0; i < kBots; ++i)
            store.insert(make_chatbot("bot-" + std::to_string(i)),
                         chatbotmgr::sha256("key" + std::to_string(i)));
        // SQLite may roll the whole transaction back by itself (after SQLITE_FULL, an I/O
        // error, an interrupt). Here a trigger does it, when a chatbot is renamed "drop".
        {
            SQLite::Database db(path, SQLite::OPEN_READWRITE);
            db.exec(
                "CREATE TRIGGER drop_transaction BEFORE UPDATE ON chatbots"
                " WHEN NEW.name = 'drop' BEGIN SELECT RAISE(ROLLBACK, 'dropped'); END");
        }

        // The leader's batch is held open while the bots queue up behind it, then the
        // victim: they form the next batch, in that order.
        Gate leader_inside, release_leader;
        std::thread leader([&] {
            store.update(
                "org-a", "leader",
                [&](Chatbot& c) {
                    c.name = "leader done";
                    leader_inside.open();
                    release_leader.wait();
                },
                chatbotmgr::testing::journal_entry());
        });
        leader_inside.wait();
        Arrivals arrivals;
        std::vector<std::thread> threads;
        for (int i = 0; i < kBots; ++i) {
            threads.emplace_back([&, i] {
                arrivals.arrive();
                outcomes[i] = outcome_of(
                    [&] {
                        store.update(
                            "org-a", "bot-" + std::to_string(i),
                            [&](Chatbot& c) {
                                ++runs[i];
                                c.name = "renamed";
                            },
                            chatbotmgr::testing::journal_entry());
                    },
                    messages[i]);
            });
        }
        arrivals.wait_for(kBots);
        threads.emplace_back([&] {
            arrivals.arrive();
            victim = outcome_of(
                [&] {
                    store.update(
                        "org-a", "victim",
                        [&](Chatbot& c) {
                            ++victim_runs;
                            c.name = "drop";
                        },
                        chatbotmgr::testing::journal_entry());
                },
                victim_message);
        });
        arrivals.wait_for(kBots + 1);
        release_leader.open();
        leader.join();
        for (auto& t : threads) t.join();

        INFO(victim_message);
        CHECK(victim_runs == 1);
        CHECK(victim != Outcome::returned);
        int failed = 0;
        for (int i = 0; i < kBots; ++i) {
            INFO("bot-" << i << ": " << messages[i]);
            CHECK(runs[i] == 1);
            CHECK((outcomes[i] == Outcome::returned || outcomes[i] == Outcome::unavailable));
            if (outcomes[i] == Outcome::unavailable) ++failed;
        }
        // The bots that shared the victim's batch failed with it (without this, the test
        // would not have dropped a batch with other jobs in it).
        CHECK(failed > 0);

        // Not stuck: the next write commits.
        CHECK(store.update(
            "org-a", "victim", [](Chatbot& c) { c.name = "after"; },
            chatbotmgr::testing::journal_entry()));
    }

    // Reopened: every update that returned is there, every one that threw wrote nothing.
    SqliteStore store(options_for(path));
    CHECK(store.get("org-a", "leader")->name == "leader done");
    CHECK(store.get("org-a", "victim")->name == "after");
    for (int i = 0; i < kBots; ++i) {
        const std::string id = "bot-" + std::to_string(i);
        INFO(id);
        CHECK(store.get("org-a", id)->name ==
              (outcomes[i] == Outcome::returned ? "renamed" : "Bot " + id));
    }
}

TEST_CASE("sqlite writer: concurrent jobs share commits, at most max_batch per commit",
          "[sqlite][writer]") {
    constexpr std::size_t kMaxBatch = 8;
    constexpr int kThreads = 32;
    WriterFixture f(kMaxBatch);
    std::vector<std::uint64_t> commit_of(kThreads);  // the commit count each job saw
    std::vector<Outcome> outcomes(kThreads, Outcome::pending);
    std::vector<std::string> messages(kThreads);
    {
        HeldBatch held(f.writer());
        Arrivals arrivals;
        std::vector<std::thread> threads;
        for (int i = 0; i < kThreads; ++i) {
            threads.emplace_back([&, i] {
                arrivals.arrive();
                outcomes[i] = outcome_of(
                    [&] {
                        f.writer().run("insert", nullptr, [&](Connection& c) {
                            commit_of[i] = f.commits();
                            WriterFixture::insert(c, i);
                        });
                    },
                    messages[i]);
            });
        }
        arrivals.wait_for(kThreads);
        held.release();
        for (auto& t : threads) t.join();
    }
    std::map<std::uint64_t, std::size_t> batch_sizes;
    for (int i = 0; i < kThreads; ++i) {
        INFO(messages[i]);
        CHECK(outcomes[i] == Outcome::returned);
        ++batch_sizes[commit_of[i]];
    }
    std::size_t largest = 0;
    for (const auto& [commit, size] : batch_sizes) largest = std::max(largest, size);
    INFO(batch_sizes.size() << " commits for " << kThreads << " jobs");
    CHECK(largest <= kMaxBatch);
    CHECK(largest > 1);
    CHECK(f.rows() == kThreads);
}

TEST_CASE("sqlite writer: a failed commit fails its batch and the writer goes on",
          "[sqlite][writer][faults]") {
    WriterFixture f(64);
    constexpr int kJobs = 5;
    std::vector<Outcome> outcomes(kJobs, Outcome::pending);
    std::vector<std::string> messages(kJobs);
    {
        HeldBatch held(f.writer());
        Arrivals arrivals;
        std::vector<std::thread> threads;
        for (int i = 0; i < kJobs; ++i) {
            threads.emplace_back([&, i] {
                arrivals.arrive();
                outcomes[i] = outcome_of(
                    [&] {
                        f.writer().run("insert", nullptr, [&](Connection& c) {
                            WriterFixture::insert(c, i);
                            // A row whose (deferred) foreign key fails only at COMMIT.
                            if (i == kJobs - 1)
                                c.exec("INSERT INTO t(id, parent) VALUES (1000, 42)");
                        });
                    },
                    messages[i]);
            });
        }
        arrivals.wait_for(kJobs);
        held.release();
        for (auto& t : threads) t.join();
    }
    for (int i = 0; i < kJobs; ++i) {
        INFO(i << ": " << messages[i]);
        CHECK(outcomes[i] != Outcome::returned);
        CHECK(outcomes[i] != Outcome::pending);
    }
    CHECK(f.rows() == 0);
    // The next job commits.
    f.writer().run("insert", nullptr, [](Connection& c) { WriterFixture::insert(c, 1); });
    CHECK(f.rows() == 1);
}

TEST_CASE("sqlite writer: destruction commits everything queued, then returns",
          "[sqlite][writer]") {
    WriterFixture f(4);
    constexpr int kJobs = 10;
    std::vector<Outcome> outcomes(kJobs, Outcome::pending);
    std::vector<std::string> messages(kJobs);
    Writer& writer = f.writer();
    std::vector<std::thread> threads;
    std::atomic<bool> destroyed{false};
    Gate inside, release;
    threads.emplace_back([&] {
        writer.run("hold", nullptr, [&](Connection& c) {
            inside.open();
            release.wait();
            WriterFixture::insert(c, 1000);
        });
    });
    inside.wait();
    Arrivals arrivals;
    for (int i = 0; i < kJobs; ++i) {
        threads.emplace_back([&, i] {
            arrivals.arrive();
            outcomes[i] = outcome_of(
                [&] {
                    writer.run("insert", nullptr,
                               [&](Connection& c) { WriterFixture::insert(c, i); });
                },
                messages[i]);
        });
    }
    arrivals.wait_for(kJobs);
    std::thread destroyer([&] {
        f.destroy();
        destroyed = true;
    });
    std::this_thread::sleep_for(kSettle);
    CHECK_FALSE(destroyed);  // the held batch is still open
    release.open();
    destroyer.join();
    // Everything queued had committed when the destructor returned.
    CHECK(f.rows() == kJobs + 1);
    for (auto& t : threads) t.join();
    for (int i = 0; i < kJobs; ++i) {
        INFO(i << ": " << messages[i]);
        CHECK(outcomes[i] == Outcome::returned);
    }
}
