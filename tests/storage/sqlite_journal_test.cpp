// What only the SQLite store has about the journal (audit events and idempotency records):
// the upgrade of version 4 files, the stored rows themselves, and a batch of the
// group-commit writer in which some writes are refused or fail in their complete callback
// while the others commit with their events.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/journal.hpp"
#include "chatbotmgr/secrets.hpp"
#include "chatbotmgr/sqlite/sqlite_store.hpp"
#include "gate.hpp"
#include "numbered.hpp"
#include "temp_dir.hpp"

namespace {

using chatbotmgr::test::numbered;

using namespace chatbotmgr;
using chatbotmgr::sqlite::SqliteOptions;
using chatbotmgr::sqlite::SqliteStore;
using chatbotmgr::test::TempDir;

constexpr std::chrono::sys_seconds kT0{std::chrono::seconds{1'705'312'800}};

SqliteOptions options_for(const std::string& path) {
    SqliteOptions o;
    o.path = path;
    return o;
}

Chatbot make_chatbot(const std::string& id) {
    Chatbot c;
    c.id = id;
    c.org_id = "org-a";
    c.name = "Bot " + id;
    c.key_prefix = "ob_live_" + to_hex(sha256(id)).substr(0, 6);
    c.created_at = kT0;
    return c;
}

JournalEntry entry_for(const std::string& event_id, AuditAction action, const std::string& target,
                       std::chrono::sys_seconds at = kT0) {
    JournalEntry e;
    e.event.id = event_id;
    e.event.org_id = "org-a";
    e.event.created_at = at;
    e.event.action = action;
    e.event.actor = {"user", "user-1", "ada@example.com"};
    e.event.target = {"chatbot", target, ""};
    return e;
}

using chatbotmgr::test::Gate;

}  // namespace

TEST_CASE("sqlite: version 4 files upgrade to the journal", "[sqlite][schema][journal]") {
    TempDir dir;
    const std::string path = dir.file("v4.db");
    {
        SqliteStore store(options_for(path));
        store.insert(make_chatbot("bot-1"), sha256("key:bot-1"));
    }
    {
        SQLite::Database raw(path, SQLite::OPEN_READWRITE);
        raw.exec(
            "DROP TABLE audit_events; DROP TABLE idempotency_records; "
            "DROP TABLE org_chatbot_counts; DROP TRIGGER chatbots_counted; "
            "DROP TRIGGER chatbots_uncounted; PRAGMA user_version = 4");
    }
    SqliteStore store(options_for(path));
    CHECK(store.writer_settings().user_version == SqliteStore::schema_version());
    CHECK(store.get("org-a", "bot-1"));
    // Version 6 counted the chatbots that were there: the quota holds from the first create.
    Chatbot second = make_chatbot("bot-2");
    CHECK_FALSE(store.insert(
        second, NewKey{sha256("key:bot-2"), "ob_live_222222", second.created_at, std::nullopt}, 1,
        entry_for("ev-0", AuditAction::chatbot_created, "bot-2")));
    // Events of version 4 changes were never written: the log starts empty, and works.
    CHECK(store.list_audit_events("org-a", {}, std::nullopt, 10).empty());
    REQUIRE(
        store.remove("org-a", "bot-1", entry_for("ev-1", AuditAction::chatbot_deleted, "bot-1")));
    const auto events = store.list_audit_events("org-a", {}, std::nullopt, 10);
    REQUIRE(events.size() == 1);
    CHECK(events[0].id == "ev-1");
}

TEST_CASE("sqlite: journal rows are stored as written", "[sqlite][journal]") {
    TempDir dir;
    const std::string path = dir.file("rows.db");
    const std::string answer("\0sealed\xff", 8);  // binary, with a NUL byte
    {
        SqliteStore store(options_for(path));
        JournalEntry e = entry_for("ev-1", AuditAction::chatbot_created, "bot-1");
        e.event.ip = "192.0.2.1";
        e.event.user_agent = "curl/8";
        e.event.changes["key_prefix"] = "ob_live_abc";
        e.idempotency = IdempotencyRecord{sha256("scope"), sha256("body"), 200, answer,
                                          kT0 + std::chrono::hours(24)};
        REQUIRE(store.insert(make_chatbot("bot-1"),
                             NewKey{sha256("key:bot-1"), "ob_live_abc", kT0, std::nullopt}, 10, e));
        CHECK(store.find_idempotency_record(sha256("scope"), kT0) == e.idempotency);
    }
    SQLite::Database raw(path, SQLite::OPEN_READONLY);
    SQLite::Statement ev(raw,
                         "SELECT org_id, created_at, action, actor_type, actor_id, actor_email, "
                         "target_type, target_id, target_name, ip, user_agent, changes "
                         "FROM audit_events");
    REQUIRE(ev.executeStep());
    CHECK(ev.getColumn(0).getString() == "org-a");
    CHECK(ev.getColumn(1).getInt64() == kT0.time_since_epoch().count());
    CHECK(ev.getColumn(2).getString() == "chatbot.created");
    CHECK(ev.getColumn(3).getString() == "user");
    CHECK(ev.getColumn(4).getString() == "user-1");
    CHECK(ev.getColumn(5).getString() == "ada@example.com");
    CHECK(ev.getColumn(6).getString() == "chatbot");
    CHECK(ev.getColumn(7).getString() == "bot-1");
    CHECK(ev.getColumn(8).getString().empty());
    CHECK(ev.getColumn(9).getString() == "192.0.2.1");
    CHECK(ev.getColumn(10).getString() == "curl/8");
    CHECK(ev.getColumn(11).getString() == R"({"key_prefix":"ob_live_abc"})");
    CHECK_FALSE(ev.executeStep());
    SQLite::Statement rec(raw,
                          "SELECT typeof(scope), typeof(answer), length(answer), status "
                          "FROM idempotency_records");
    REQUIRE(rec.executeStep());
    CHECK(rec.getColumn(0).getString() == "blob");
    CHECK(rec.getColumn(1).getString() == "blob");
    CHECK(rec.getColumn(2).getInt() == 8);
    CHECK(rec.getColumn(3).getInt() == 200);
}

TEST_CASE("sqlite: in one commit batch, refused writes leave nothing and the others commit",
          "[sqlite][journal][writer]") {
    // Job i of the batch: odd ones fail in their complete callback, i % 4 == 2 ones are
    // refused by a live idempotency record, the rest commit. The batch is formed on
    // purpose: a first update holds the writer (inside its mutate) while they queue up.
    constexpr int kJobs = 16;
    TempDir dir;
    std::atomic<std::size_t> largest_batch{0};
    SqliteOptions options = options_for(dir.file("batch.db"));
    options.on_commit = [&](std::chrono::nanoseconds, std::size_t n) {
        std::size_t seen = largest_batch.load();
        while (n > seen && !largest_batch.compare_exchange_weak(seen, n)) {
        }
    };
    SqliteStore store(options);
    const Digest taken = sha256("taken scope");
    {
        JournalEntry first = entry_for("ev-holder", AuditAction::chatbot_created, "holder");
        first.idempotency =
            IdempotencyRecord{taken, sha256("body"), 200, "x", kT0 + std::chrono::hours(24)};
        REQUIRE(store.insert(make_chatbot("holder"),
                             NewKey{sha256("key:holder"), "ob_live_holder", kT0, std::nullopt},
                             1000, first));
    }
    for (int i = 0; i < kJobs; ++i) {
        const std::string id = numbered("bot-", i);
        store.insert(make_chatbot(id), sha256("key:" + id));
    }

    Gate holding;
    Gate release;
    std::thread holder([&] {
        store.update(
            "org-a", "holder",
            [&](Chatbot&) {
                holding.open();
                release.wait();
            },
            entry_for("ev-held", AuditAction::chatbot_updated, "holder"));
    });
    holding.wait();
    std::vector<int> outcome(kJobs, -1);  // 0 committed, 1 complete threw, 2 conflict
    std::vector<std::thread> threads;
    for (int i = 0; i < kJobs; ++i) {
        threads.emplace_back([&, i] {
            const std::string id = numbered("bot-", i);
            JournalEntry e = entry_for(numbered("ev-", i), AuditAction::chatbot_updated, id,
                                       kT0 + std::chrono::seconds(1));
            if (i % 2 == 1)
                e.complete = [](const Chatbot&, JournalEntry&) {
                    throw std::runtime_error("complete failed");
                };
            if (i % 4 == 2)
                e.idempotency = IdempotencyRecord{taken, sha256("other"), 200, "y",
                                                  kT0 + std::chrono::hours(48)};
            try {
                store.update(
                    "org-a", id, [](Chatbot& c) { c.name = "renamed"; }, std::move(e));
                outcome[i] = 0;
            } catch (const std::runtime_error& failed) {
                const auto* error = dynamic_cast<const Error*>(&failed);
                if (!error) {
                    outcome[i] = 1;
                } else if (error->code() == ErrorCode::conflict &&
                           error->field() == "Idempotency-Key") {
                    outcome[i] = 2;
                }
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let them queue up
    release.open();
    holder.join();
    for (auto& t : threads) t.join();

    CHECK(largest_batch.load() > 1);
    AuditQuery updated;
    updated.action = AuditAction::chatbot_updated;
    const auto events = store.list_audit_events("org-a", updated, std::nullopt, 100);
    for (int i = 0; i < kJobs; ++i) {
        INFO("job " << i);
        const int expected = i % 2 == 1 ? 1 : i % 4 == 2 ? 2 : 0;
        CHECK(outcome[i] == expected);
        const std::string id = numbered("bot-", i);
        CHECK((store.get("org-a", id)->name == "renamed") == (expected == 0));
        const bool logged = std::any_of(events.begin(), events.end(), [&](const AuditEvent& e) {
            return e.id == numbered("ev-", i);
        });
        CHECK(logged == (expected == 0));
    }
    // The live record is the first one still.
    CHECK(store.find_idempotency_record(taken, kT0)->request == sha256("body"));
}

TEST_CASE("sqlite: prunes are bounded and oldest first", "[sqlite][journal]") {
    TempDir dir;
    SqliteStore store(options_for(dir.file("prune.db")));
    for (int i = 0; i < 10; ++i) {
        const std::string id = numbered("bot-", i);
        JournalEntry e = entry_for(numbered("ev-", i), AuditAction::chatbot_created, id,
                                   kT0 + std::chrono::seconds(i));
        e.idempotency = IdempotencyRecord{sha256(id), sha256("body"), 200, "",
                                          kT0 + std::chrono::seconds(100 + i)};
        REQUIRE(store.insert(make_chatbot(id),
                             NewKey{sha256("key:" + id), "ob_live_x", kT0, std::nullopt}, 100, e));
    }
    CHECK(store.prune_audit_events(kT0 + std::chrono::seconds(5), 3) == 3);
    auto left = store.list_audit_events("org-a", {}, std::nullopt, 100);
    REQUIRE(left.size() == 7);
    CHECK(left.back().id == "ev-3");
    CHECK(store.prune_audit_events(kT0 + std::chrono::seconds(5), 100) == 2);
    CHECK(store.prune_audit_events(kT0 + std::chrono::seconds(5), 100) == 0);
    CHECK(store.prune_idempotency_records(kT0 + std::chrono::seconds(104), 2) == 2);
    CHECK_FALSE(store.find_idempotency_record(sha256("bot-1"), kT0));
    CHECK(store.find_idempotency_record(sha256("bot-2"), kT0));
    CHECK(store.prune_idempotency_records(kT0 + std::chrono::seconds(104), 100) == 3);
    CHECK(store.prune_idempotency_records(kT0 + std::chrono::seconds(104), 100) == 0);
    CHECK(store.find_idempotency_record(sha256("bot-5"), kT0));
}
