// What only the SQLite store has: schema migrations, connection settings, the stored
// rows themselves, and behaviour under engine faults (disk full, read-only file, corrupt
// file, a lock held past the busy timeout).
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/secrets.hpp"
#include "chatbotmgr/sqlite/sqlite_store.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "chatbotmgr/testing/fakes.hpp"
#include "chatbotmgr/testing/journal_entry.hpp"
#include "temp_dir.hpp"

namespace {

using chatbotmgr::CaptureBatch;
using chatbotmgr::CapturedMessage;
using chatbotmgr::Chatbot;
using chatbotmgr::ChatbotDataCounts;
using chatbotmgr::Digest;
using chatbotmgr::Error;
using chatbotmgr::ErrorCode;
using chatbotmgr::sqlite::SqliteOptions;
using chatbotmgr::sqlite::SqliteStore;
using chatbotmgr::test::TempDir;
using chatbotmgr::testing::error_of;

SqliteOptions options_for(const std::string& path) {
    SqliteOptions o;
    o.path = path;
    return o;
}

Chatbot make_chatbot(const std::string& id, const std::string& org = "org-a") {
    Chatbot c;
    c.id = id;
    c.org_id = org;
    c.name = "Bot " + id;
    c.key_prefix = "ob_live_" + chatbotmgr::to_hex(chatbotmgr::sha256(id)).substr(0, 6);
    c.created_at = std::chrono::sys_seconds{std::chrono::seconds{1'705'312'800}};
    return c;
}

Digest key_of(const std::string& id) {
    return chatbotmgr::sha256("key:" + id);
}

CapturedMessage message(std::string role, std::string content,
                        std::optional<std::string> id = std::nullopt) {
    CapturedMessage m;
    m.role = std::move(role);
    m.content = std::move(content);
    m.external_id = std::move(id);
    return m;
}

CaptureBatch batch(std::string conversation, std::vector<CapturedMessage> messages) {
    CaptureBatch b;
    b.external_conversation_id = std::move(conversation);
    b.messages = std::move(messages);
    return b;
}

std::int64_t query_int(SQLite::Database& db, const char* sql) {
    return db.execAndGet(sql).getInt64();
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// The chatbots table as versions 1 to 3 had it: no key lifecycle columns.
void drop_key_lifecycle(SQLite::Database& raw) {
    raw.exec("DROP INDEX chatbots_prev_key_digest");
    for (const char* column :
         {"key_issued_at", "key_expires_at", "key_last_used_at", "prev_key_digest",
          "prev_key_prefix", "prev_key_issued_at", "prev_key_expires_at", "prev_key_last_used_at"})
        raw.exec(std::string("ALTER TABLE chatbots DROP COLUMN ").append(column));
}

// The journal tables of version 5 and the counts of version 6, which files of versions 1
// to 4 do not have.
void drop_journal(SQLite::Database& raw) {
    raw.exec(
        "DROP TABLE audit_events; DROP TABLE idempotency_records; DROP TABLE org_chatbot_counts; "
        "DROP TRIGGER chatbots_counted; DROP TRIGGER chatbots_uncounted;");
}

}  // namespace

TEST_CASE("sqlite: a new file gets the current schema", "[sqlite][schema]") {
    TempDir dir;
    const std::string path = dir.file("new.db");
    {
        SqliteStore store(options_for(path));
        CHECK(store.writer_settings().user_version == SqliteStore::schema_version());
        CHECK(store.reader_settings().user_version == SqliteStore::schema_version());
    }
    SQLite::Database raw(path, SQLite::OPEN_READONLY);
    CHECK(query_int(raw, "PRAGMA user_version") == SqliteStore::schema_version());
    for (const char* table :
         {"chatbots", "conversations", "messages", "analysis_results", "organizations", "users",
          "sessions", "invitations", "audit_events", "idempotency_records"}) {
        INFO(table);
        CHECK(raw.tableExists(table));
    }
    // The indexes the queries rely on.
    for (const char* index :
         {"chatbots_key_digest", "chatbots_org_list", "messages_external_id", "users_org_members",
          "invitations_org_pending", "audit_events_age", "idempotency_records_expiry"}) {
        INFO(index);
        SQLite::Statement s(raw,
                            "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?");
        s.bind(1, index);
        REQUIRE(s.executeStep());
        CHECK(s.getColumn(0).getInt() == 1);
    }
}

TEST_CASE("sqlite: migrations run step by step from an older version", "[sqlite][schema]") {
    TempDir dir;
    const std::string path = dir.file("old.db");
    {
        SqliteStore store(options_for(path));
        store.insert(make_chatbot("bot-1"), key_of("bot-1"));
    }
    {
        // Make the file look like one written by a build that knew only version 1.
        SQLite::Database raw(path, SQLite::OPEN_READWRITE);
        drop_key_lifecycle(raw);
        drop_journal(raw);
        raw.exec(
            "DROP TABLE invitations; DROP TABLE sessions; DROP TABLE users; "
            "DROP TABLE organizations;");
        raw.exec("PRAGMA user_version = 1");
    }
    SqliteStore store(options_for(path));
    CHECK(store.writer_settings().user_version == SqliteStore::schema_version());
    CHECK(store.get("org-a", "bot-1"));  // data of earlier versions is kept
    const auto org = store.find_or_create_organization("Acme", "org-1");
    CHECK(org.id == "org-1");
    CHECK(store.count_users() == 0);  // the re-created accounts tables start empty
}

TEST_CASE("sqlite: version 2 files upgrade to roles and invitations", "[sqlite][schema]") {
    using namespace chatbotmgr;
    TempDir dir;
    const std::string path = dir.file("v2.db");
    { SqliteStore store(options_for(path)); }
    const Digest session_digest = sha256("v2 session");
    {
        // The accounts tables exactly as version 2 made them, with a user and a session.
        SQLite::Database raw(path, SQLite::OPEN_READWRITE);
        drop_key_lifecycle(raw);
        drop_journal(raw);
        raw.exec(
            "DROP TABLE invitations; DROP TABLE sessions; DROP TABLE users; "
            "CREATE TABLE users (id TEXT NOT NULL PRIMARY KEY, org_id TEXT NOT NULL REFERENCES "
            "organizations (id), email TEXT NOT NULL, email_lower TEXT NOT NULL UNIQUE, "
            "password_hash TEXT NOT NULL, created_at INTEGER NOT NULL); "
            "CREATE INDEX users_org ON users (org_id); "
            "CREATE TABLE sessions (token_digest BLOB NOT NULL PRIMARY KEY, user_id TEXT NOT NULL "
            "REFERENCES users (id) ON DELETE CASCADE, org_id TEXT NOT NULL, expires_at INTEGER "
            "NOT NULL) WITHOUT ROWID; "
            "CREATE INDEX sessions_expiry ON sessions (expires_at); "
            "CREATE INDEX sessions_user ON sessions (user_id); "
            "INSERT INTO organizations VALUES ('org-1', 'Acme', 1000); "
            "INSERT INTO users VALUES ('user-1', 'org-1', 'Ada@example.com', 'ada@example.com', "
            "'hash-1', 1700000000); "
            "INSERT INTO users VALUES ('user-2', 'org-1', 'bob@example.com', 'bob@example.com', "
            "'hash-2', 1700000100); "
            "PRAGMA user_version = 2;");
        SQLite::Statement s(raw, "INSERT INTO sessions VALUES (?, 'user-2', 'org-1', 4000000000)");
        s.bind(1, session_digest.data(), static_cast<int>(session_digest.size()));
        s.exec();
    }
    SqliteStore store(options_for(path));
    CHECK(store.writer_settings().user_version == SqliteStore::schema_version());
    // Users of version 2 could do everything: they are owners, created when they were.
    const User ada{"user-1", "org-1", "Ada@example.com", Role::owner,
                   std::chrono::sys_seconds{std::chrono::seconds{1'700'000'000}}};
    const User bob{"user-2", "org-1", "bob@example.com", Role::owner,
                   std::chrono::sys_seconds{std::chrono::seconds{1'700'000'100}}};
    CHECK(store.list_users("org-1") == std::vector<User>{ada, bob});
    CHECK(store.find_user_by_email("ada@example.com")->second == "hash-1");
    const auto session = store.find_session(session_digest);
    REQUIRE(session);
    CHECK(session->role == Role::owner);
    CHECK(session->email == "bob@example.com");
    // The new rules hold on the upgraded file, and removal still cascades to sessions.
    CHECK(store.set_role("org-1", "user-1", Role::member, chatbotmgr::testing::journal_entry()) ==
          MemberChange::done);
    CHECK(store.remove_user("org-1", "user-2", chatbotmgr::testing::journal_entry()) ==
          MemberChange::last_owner);
    CHECK(store.set_role("org-1", "user-1", Role::owner, chatbotmgr::testing::journal_entry()) ==
          MemberChange::done);
    CHECK(store.remove_user("org-1", "user-2", chatbotmgr::testing::journal_entry()) ==
          MemberChange::done);
    CHECK_FALSE(store.find_session(session_digest));
    CHECK(store.list_invitations("org-1", std::chrono::sys_seconds{}).empty());
}

TEST_CASE("sqlite: version 3 files upgrade to the key lifecycle", "[sqlite][schema]") {
    using namespace chatbotmgr;
    TempDir dir;
    const std::string path = dir.file("v3.db");
    const Chatbot bot = make_chatbot("bot-1");
    {
        SqliteStore store(options_for(path));
        store.insert(bot, key_of("bot-1"));
    }
    {
        SQLite::Database raw(path, SQLite::OPEN_READWRITE);
        drop_key_lifecycle(raw);
        drop_journal(raw);
        raw.exec("PRAGMA user_version = 3");
    }
    SqliteStore store(options_for(path));
    CHECK(store.writer_settings().user_version == SqliteStore::schema_version());
    // A key of version 3: issued when its chatbot was created (the best known), never
    // expires, never used; it still authenticates, and rotates with a grace.
    CHECK(store.keys("org-a", "bot-1") ==
          ChatbotKeys{KeyState{bot.key_prefix, bot.created_at, std::nullopt, std::nullopt},
                      std::nullopt});
    CHECK(store.find_by_key_digest(key_of("bot-1")) ==
          KeyOwner{"bot-1", "org-a", KeySlot::current, std::nullopt});
    const auto until = bot.created_at + std::chrono::hours(1);
    REQUIRE(store.replace_key("org-a", "bot-1",
                              NewKey{key_of("new"), "ob_live_newkey", bot.created_at, std::nullopt},
                              until, chatbotmgr::testing::journal_entry()));
    CHECK(store.find_by_key_digest(key_of("bot-1")) ==
          KeyOwner{"bot-1", "org-a", KeySlot::previous, until});
}

TEST_CASE("sqlite: roles are checked by the database", "[sqlite][schema]") {
    TempDir dir;
    const std::string path = dir.file("roles.db");
    { SqliteStore store(options_for(path)); }
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    raw.exec("INSERT INTO organizations VALUES ('org-1', 'Acme', 0)");
    CHECK_THROWS(raw.exec(
        "INSERT INTO users (id, org_id, email, email_lower, password_hash, created_at, role) "
        "VALUES ('u', 'org-1', 'a@x', 'a@x', 'h', 0, 'superuser')"));
    CHECK_THROWS(raw.exec(
        "INSERT INTO invitations (id, org_id, email, email_lower, role, token_digest, "
        "created_at, expires_at) VALUES ('i', 'org-1', 'a@x', 'a@x', 'Owner', x'00', 0, 1)"));
    CHECK(query_int(raw, "SELECT count(*) FROM users") == 0);
}

TEST_CASE("sqlite: a file with a newer schema is refused", "[sqlite][schema]") {
    TempDir dir;
    const std::string path = dir.file("future.db");
    { SqliteStore store(options_for(path)); }
    const int future = SqliteStore::schema_version() + 1;
    {
        SQLite::Database raw(path, SQLite::OPEN_READWRITE);
        raw.exec("PRAGMA user_version = " + std::to_string(future));
    }
    const auto e = error_of([&] { SqliteStore store(options_for(path)); });
    REQUIRE(e);
    CHECK(e->code() == ErrorCode::unavailable);
    INFO(e->what());
    CHECK(contains(e->what(), "newer"));
    CHECK(contains(e->what(), std::to_string(future)));
    SQLite::Database raw(path, SQLite::OPEN_READONLY);
    CHECK(query_int(raw, "PRAGMA user_version") == future);  // left as it was
}

TEST_CASE("sqlite: every connection runs with WAL, synchronous and foreign keys",
          "[sqlite][pragmas]") {
    TempDir dir;
    SECTION("defaults") {
        SqliteStore store(options_for(dir.file("defaults.db")));
        for (const auto& s : {store.writer_settings(), store.reader_settings()}) {
            CHECK(s.journal_mode == "wal");
            CHECK(s.synchronous == 2);  // FULL
            CHECK(s.foreign_keys);
            CHECK(s.busy_timeout_ms == 5000);
        }
    }
    SECTION("options") {
        SqliteOptions o = options_for(dir.file("options.db"));
        o.synchronous = chatbotmgr::sqlite::Synchronous::normal;
        o.busy_timeout = std::chrono::milliseconds(1234);
        o.max_page_count = 5000;
        SqliteStore store(o);
        const auto w = store.writer_settings();
        const auto r = store.reader_settings();
        CHECK(w.journal_mode == "wal");
        CHECK(w.synchronous == 1);  // NORMAL
        CHECK(r.synchronous == 1);
        CHECK(w.busy_timeout_ms == 1234);
        CHECK(r.busy_timeout_ms == 1234);
        CHECK(w.foreign_keys);
        CHECK(r.foreign_keys);
        CHECK(w.max_page_count == 5000);
    }
}

TEST_CASE("sqlite: captured rows are stored in order with their fields", "[sqlite]") {
    TempDir dir;
    const std::string path = dir.file("rows.db");
    chatbotmgr::testing::FakeClock clock;
    {
        SqliteOptions o = options_for(path);
        o.clock = std::shared_ptr<chatbotmgr::Clock>(&clock, [](chatbotmgr::Clock*) {});
        o.random = std::make_shared<chatbotmgr::testing::DeterministicRandom>(7);
        SqliteStore store(o);
        store.insert(make_chatbot("bot-1"), key_of("bot-1"));
        CaptureBatch first =
            batch("conv-1", {message("user", "one", "m1"), message("assistant", "two")});
        first.messages[0].sent_at = std::chrono::sys_time<std::chrono::milliseconds>{
            std::chrono::milliseconds{1'705'312'800'250}};
        first.external_user_id = "user-1";
        first.metadata = {{"custom", boost::json::object{{"plan", "pro"}}}};
        const auto r1 = store.append_capture("bot-1", first);
        REQUIRE(r1);
        CHECK(chatbotmgr::is_canonical_uuid(r1->conversation_id));
        CaptureBatch second =
            batch("conv-1", {message("user", "one", "m1"), message("system", "three", "m3")});
        second.metadata = {{"custom", boost::json::object{{"plan", "team"}}}};
        REQUIRE(store.append_capture("bot-1", second)->messages_stored == 1);
    }
    SQLite::Database raw(path, SQLite::OPEN_READONLY);
    {
        SQLite::Statement c(raw,
                            "SELECT external_id, external_user_id, metadata FROM conversations");
        REQUIRE(c.executeStep());
        CHECK(c.getColumn(0).getString() == "conv-1");
        CHECK(c.getColumn(1).isNull());  // replaced by the latest batch, which had none
        CHECK(c.getColumn(2).getString() == R"({"custom":{"plan":"team"}})");
        CHECK_FALSE(c.executeStep());
    }
    SQLite::Statement m(
        raw, "SELECT seq, role, content, external_id, sent_at FROM messages ORDER BY seq");
    REQUIRE(m.executeStep());
    CHECK(m.getColumn(0).getInt() == 1);
    CHECK(m.getColumn(1).getString() == "user");
    CHECK(m.getColumn(2).getString() == "one");
    CHECK(m.getColumn(3).getString() == "m1");
    CHECK(m.getColumn(4).getInt64() == 1'705'312'800'250);
    REQUIRE(m.executeStep());
    CHECK(m.getColumn(0).getInt() == 2);
    CHECK(m.getColumn(1).getString() == "assistant");
    CHECK(m.getColumn(3).isNull());
    CHECK(m.getColumn(4).isNull());
    REQUIRE(m.executeStep());
    CHECK(m.getColumn(0).getInt() == 3);
    CHECK(m.getColumn(3).getString() == "m3");
    CHECK_FALSE(m.executeStep());
}

TEST_CASE("sqlite: remove leaves no row behind in any table", "[sqlite]") {
    TempDir dir;
    const std::string path = dir.file("cascade.db");
    {
        SqliteStore store(options_for(path));
        store.insert(make_chatbot("bot-1"), key_of("bot-1"));
        const auto r = store.append_capture("bot-1", batch("c", {message("user", "x", "1")}));
        REQUIRE(r);
        REQUIRE(store.record_analysis("bot-1", r->conversation_id, "kind", "{}"));
        REQUIRE(store.remove("org-a", "bot-1", chatbotmgr::testing::journal_entry()));
    }
    SQLite::Database raw(path, SQLite::OPEN_READONLY);
    for (const char* sql :
         {"SELECT count(*) FROM chatbots", "SELECT count(*) FROM conversations",
          "SELECT count(*) FROM messages", "SELECT count(*) FROM analysis_results"}) {
        INFO(sql);
        CHECK(query_int(raw, sql) == 0);
    }
}

TEST_CASE("sqlite: a write that fails midway is rolled back alone", "[sqlite]") {
    // The role CHECK constraint fails on a batch's second message, after its conversation
    // and first message were written inside the shared transaction: only that job's
    // savepoint may be rolled back.
    TempDir dir;
    SqliteStore store(options_for(dir.file("midway.db")));
    store.insert(make_chatbot("bot-1"), key_of("bot-1"));
    constexpr int kThreads = 8;
    constexpr int kRounds = 10;
    std::vector<int> ok(kThreads, 0);
    std::vector<int> rejected(kThreads, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int round = 0; round < kRounds; ++round) {
                const bool bad = t % 2 == 1;
                CaptureBatch b = batch("conv-" + std::to_string(t) + "-" + std::to_string(round),
                                       {message("user", "first", "a"),
                                        message(bad ? "robot" : "assistant", "second", "b")});
                try {
                    if (store.append_capture("bot-1", b)) ++ok[t];
                } catch (const Error& e) {
                    if (e.code() == ErrorCode::internal) ++rejected[t];
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) {
        INFO("thread " << t);
        CHECK(ok[t] == (t % 2 == 0 ? kRounds : 0));
        CHECK(rejected[t] == (t % 2 == 1 ? kRounds : 0));
    }
    const std::size_t good = kThreads / 2 * kRounds;
    CHECK(store.count_data("bot-1") == ChatbotDataCounts{good, 2 * good, 0});
}

TEST_CASE("sqlite: an update callback that writes to the store is refused", "[sqlite]") {
    TempDir dir;
    SqliteStore store(options_for(dir.file("reentrant.db")));
    store.insert(make_chatbot("bot-1"), key_of("bot-1"));
    const auto e = error_of([&] {
        store.update(
            "org-a", "bot-1",
            [&](Chatbot& c) {
                c.name = "changed";
                store.insert(make_chatbot("bot-2"), key_of("bot-2"));
            },
            chatbotmgr::testing::journal_entry());
    });
    REQUIRE(e);
    CHECK(e->code() == ErrorCode::internal);
    CHECK(store.get("org-a", "bot-1")->name == "Bot bot-1");
    CHECK_FALSE(store.get("org-a", "bot-2"));
    // Reads from inside the callback are fine.
    const auto updated = store.update(
        "org-a", "bot-1",
        [&](Chatbot& c) { c.name = store.get("org-a", "bot-1") ? "seen" : "unseen"; },
        chatbotmgr::testing::journal_entry());
    REQUIRE(updated);
    CHECK(updated->name == "seen");
}

TEST_CASE("sqlite: a full disk is unavailable, writes nothing, and recovers", "[sqlite][faults]") {
    TempDir dir;
    SqliteOptions o = options_for(dir.file("full.db"));
    o.max_page_count = 80;  // 320 KiB with 4 KiB pages: the schema and a few captures
    SqliteStore store(o);
    store.insert(make_chatbot("filler"), key_of("filler"));

    const std::string big(6000, 'x');
    auto big_batch = [&](int n) {
        std::vector<CapturedMessage> ms;
        for (int i = 0; i < 4; ++i)
            ms.push_back(message("user", big, "m" + std::to_string(n) + "-" + std::to_string(i)));
        return batch("conv-" + std::to_string(n % 3), ms);
    };

    std::optional<Error> full;
    ChatbotDataCounts before;
    int n = 0;
    for (; n < 1000 && !full; ++n) {
        before = store.count_data("filler");
        try {
            store.append_capture("filler", big_batch(n));
        } catch (const Error& e) {
            full = e;
        }
    }
    REQUIRE(full);
    CHECK(full->code() == ErrorCode::unavailable);
    INFO(full->what());
    CHECK(contains(full->what(), "full"));
    // The failed capture stored none of its messages.
    CHECK(store.count_data("filler") == before);
    CHECK(before.messages > 0);

    // Concurrent writers near the limit: each call either fully lands or fully fails.
    constexpr int kThreads = 6;
    std::vector<std::size_t> stored(kThreads, 0);
    std::vector<int> failures(kThreads, 0);
    std::vector<std::string> problems(kThreads);
    std::vector<std::thread> threads;
    store.insert(make_chatbot("racer"), key_of("racer"));
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 5; ++i) {
                try {
                    CaptureBatch b = batch("race-" + std::to_string(t),
                                           {message("user", std::string(3000, 'y'),
                                                    std::to_string(t) + "/" + std::to_string(i)),
                                            message("assistant", "ok")});
                    if (auto r = store.append_capture("racer", b)) stored[t] += r->messages_stored;
                } catch (const Error& e) {
                    if (e.code() == ErrorCode::unavailable) {
                        ++failures[t];
                    } else {
                        problems[t] = e.what();
                    }
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    std::size_t total = 0;
    for (int t = 0; t < kThreads; ++t) {
        CHECK(problems[t] == "");
        total += stored[t];
    }
    CHECK(store.count_data("racer").messages == total);

    // Freeing space (deleting data) makes the store writable again, without a restart.
    REQUIRE(store.remove("org-a", "filler", chatbotmgr::testing::journal_entry()));
    store.insert(make_chatbot("after"), key_of("after"));
    const auto r = store.append_capture("after", big_batch(0));
    REQUIRE(r);
    CHECK(r->messages_stored == 4);
    CHECK(store.count_data("after").messages == 4);
}

TEST_CASE("sqlite: a file that is not a database is refused with a readable message",
          "[sqlite][faults]") {
    TempDir dir;
    const std::string path = dir.file("garbage.db");
    {
        std::ofstream out(path, std::ios::binary);
        for (int i = 0; i < 512; ++i) out << "this is not an SQLite database. ";
    }
    const auto e = error_of([&] { SqliteStore store(options_for(path)); });
    REQUIRE(e);
    CHECK(e->code() == ErrorCode::unavailable);
    INFO(e->what());
    CHECK(contains(e->what(), "not a database"));
    CHECK(contains(e->what(), path));
}

TEST_CASE("sqlite: an unopenable path is unavailable", "[sqlite][faults]") {
    TempDir dir;
    const std::string path = dir.file("missing-dir/store.db");
    const auto e = error_of([&] { SqliteStore store(options_for(path)); });
    REQUIRE(e);
    CHECK(e->code() == ErrorCode::unavailable);
    INFO(e->what());
    CHECK(contains(e->what(), "unable to open"));
}

TEST_CASE("sqlite: corrupt pages make reads unavailable", "[sqlite][faults]") {
    TempDir dir;
    const std::string path = dir.file("corrupt.db");
    {
        SqliteStore store(options_for(path));
        for (int i = 0; i < 50; ++i) {
            const std::string id = "bot-" + std::to_string(i);
            store.insert(make_chatbot(id), key_of(id));
        }
    }
    {
        // Keep page 1 (header and schema), scribble over every other page.
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(0, std::ios::end);
        const auto size = static_cast<std::size_t>(f.tellg());
        REQUIRE(size > 8192);
        const std::string junk(size - 4096, '\xA5');
        f.seekp(4096);
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    std::unique_ptr<SqliteStore> store;
    try {
        store = std::make_unique<SqliteStore>(options_for(path));
    } catch (const Error& e) {
        // Refusing at open is fine too, as long as it says unavailable.
        CHECK(e.code() == ErrorCode::unavailable);
        return;
    }
    const auto e = error_of([&] { store->list("org-a"); });
    REQUIRE(e);
    CHECK(e->code() == ErrorCode::unavailable);
    INFO(e->what());
    CHECK(contains(e->what(), "malformed"));
}

TEST_CASE("sqlite: a lock held past busy_timeout is unavailable, then the store recovers",
          "[sqlite][faults]") {
    TempDir dir;
    const std::string path = dir.file("locked.db");
    SqliteOptions o = options_for(path);
    o.busy_timeout = std::chrono::milliseconds(100);
    SqliteStore store(o);
    store.insert(make_chatbot("bot-1"), key_of("bot-1"));

    SQLite::Database other(path, SQLite::OPEN_READWRITE);
    other.exec("BEGIN IMMEDIATE");  // another process holding the write lock
    const auto e = error_of([&] { store.insert(make_chatbot("bot-2"), key_of("bot-2")); });
    REQUIRE(e);
    CHECK(e->code() == ErrorCode::unavailable);
    INFO(e->what());
    CHECK(contains(e->what(), "locked"));
    // Readers are not blocked by a writer in WAL mode.
    CHECK(store.get("org-a", "bot-1"));
    CHECK_FALSE(store.get("org-a", "bot-2"));
    other.exec("ROLLBACK");

    store.insert(make_chatbot("bot-2"), key_of("bot-2"));
    CHECK(store.get("org-a", "bot-2"));
}

namespace {

// Runs scenario in a child process that has dropped root (file permissions mean nothing
// to root) and returns what went wrong there ("" when nothing did).
std::string run_unprivileged(const std::function<std::string()>& scenario) {
    if (::geteuid() != 0) return scenario();
    int fds[2];
    if (::pipe(fds) != 0) return "pipe failed";
    const pid_t pid = ::fork();
    if (pid < 0) return "fork failed";
    if (pid == 0) {
        ::close(fds[0]);
        std::string result;
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) {
            result = "could not drop privileges";
        } else {
            try {
                result = scenario();
            } catch (const std::exception& e) {
                result = std::string("exception: ") + e.what();
            }
        }
        if (::write(fds[1], result.data(), result.size()) < 0) ::_exit(2);
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string out;
    char buf[512];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
        out.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "child failed: " + out;
    return out;
}

}  // namespace

TEST_CASE("sqlite: a read-only file is unavailable for writes, and recovers when writable",
          "[sqlite][faults]") {
    TempDir dir;
    const std::string path = dir.file("readonly.db");
    {
        SqliteStore store(options_for(path));
        store.insert(make_chatbot("bot-1"), key_of("bot-1"));
    }
    REQUIRE(::chmod(path.c_str(), 0444) == 0);
    if (::geteuid() == 0) {
        // The unprivileged child owns the file (so it can make it writable again) and its
        // -lock file, and may create the -wal and -shm files next to it.
        REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
        REQUIRE(::chown((path + "-lock").c_str(), 65534, 65534) == 0);
        REQUIRE(::chown(dir.path().c_str(), 65534, 65534) == 0);
    }
    const std::string problem = run_unprivileged([&]() -> std::string {
        SqliteStore store(options_for(path));
        if (!store.get("org-a", "bot-1")) return "existing chatbot not readable";
        try {
            store.insert(make_chatbot("bot-2"), key_of("bot-2"));
            return "insert into a read-only file succeeded";
        } catch (const Error& e) {
            if (e.code() != ErrorCode::unavailable)
                return std::string("wrong error code: ") + e.what();
            if (!contains(e.what(), "readonly")) return std::string("unclear message: ") + e.what();
        }
        // Made writable again: the file and the -wal/-shm files SQLite created for it
        // with the same (read-only) mode.
        for (const char* suffix : {"", "-wal", "-shm"}) {
            const std::string p = path + suffix;
            if (::access(p.c_str(), F_OK) == 0 && ::chmod(p.c_str(), 0644) != 0)
                return "chmod failed";
        }
        try {
            store.insert(make_chatbot("bot-2"), key_of("bot-2"));
        } catch (const Error& e) {
            return std::string("no recovery once writable: ") + e.what();
        }
        if (!store.get("org-a", "bot-2")) return "insert after recovery not visible";
        return "";
    });
    CHECK(problem == "");
}
