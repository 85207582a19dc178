// PostgresStore on a real server: the ports' behaviour, migrations, concurrency, and the
// core (registry, accounts) on top of two store objects sharing one database.
#include <catch2/catch.hpp>

#include <sodium.h>

#include <atomic>
#include <boost/json.hpp>
#include <thread>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/postgres/postgres_store.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "chatbotmgr/testing/fakes.hpp"
#include "chatbotmgr/testing/journal_entry.hpp"
#include "pg_test_support.hpp"

using namespace chatbotmgr;
using cbm_pg_test::AdminConn;
using cbm_pg_test::options_for;
using cbm_pg_test::TempDatabase;
using chatbotmgr::postgres::PostgresStore;
using chatbotmgr::testing::code_of;

namespace {

Digest digest_of(unsigned char seed) {
    Digest d{};
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<unsigned char>(seed + i * 7);
    return d;
}

Chatbot bot(std::string id, std::string org, std::int64_t created, std::string name = "Bot") {
    return Chatbot{std::move(id),
                   std::move(org),
                   std::move(name),
                   "ob_live_abcdef",
                   {},
                   std::chrono::sys_seconds(std::chrono::seconds(created))};
}

// The chatbot an API key authenticates as; "" when it does not.
std::string chatbot_of(const ChatbotRegistry& registry, const std::string& api_key) {
    const auto key = registry.authenticate(api_key);
    return key ? key->chatbot_id() : "";
}

CapturedMessage msg(std::string content, std::optional<std::string> external_id = {}) {
    return CapturedMessage{"user", std::move(content), std::move(external_id), std::nullopt};
}

struct Db {
    TempDatabase db;
    std::shared_ptr<PostgresStore> store =
        std::make_shared<PostgresStore>(options_for(db.conninfo()));
};

}  // namespace

TEST_CASE("pg store: chatbots are scoped, ordered, unique by id and key digest", "[postgres]") {
    Db t;
    PostgresStore& s = *t.store;
    CHECK_FALSE(s.key_generation());
    CHECK_FALSE(s.session_generation());
    s.insert(bot("b", "org1", 100), digest_of(1));
    s.insert(bot("a", "org1", 100), digest_of(2));
    s.insert(bot("c", "org1", 50), digest_of(3));
    s.insert(bot("z", "org2", 500), digest_of(4));

    const auto list = s.list("org1");
    REQUIRE(list.size() == 3);
    CHECK(list[0].id == "b");  // same created_at: id descending
    CHECK(list[1].id == "a");
    CHECK(list[2].id == "c");
    CHECK(list[2].created_at == std::chrono::sys_seconds(std::chrono::seconds(50)));

    CHECK(s.get("org1", "a") == bot("a", "org1", 100));
    CHECK_FALSE(s.get("org2", "a"));  // another organization's chatbot does not exist
    CHECK_FALSE(s.get("org1", "missing"));

    CHECK(code_of([&] { s.insert(bot("a", "org1", 1), digest_of(9)); }) == ErrorCode::conflict);
    CHECK(code_of([&] { s.insert(bot("n", "org1", 1), digest_of(1)); }) == ErrorCode::conflict);
    CHECK(s.list("org1").size() == 3);
}

TEST_CASE("pg store: digests are binary-safe (NUL and high bytes)", "[postgres]") {
    Db t;
    Digest zeros{};  // all NUL bytes
    Digest high{};
    high.fill(0xFF);
    Digest almost = zeros;
    almost[31] = 1;  // differs from zeros only after 31 NUL bytes
    t.store->insert(bot("z", "o", 1), zeros);
    t.store->insert(bot("h", "o", 1), high);
    t.store->insert(bot("a", "o", 1), almost);
    CHECK(t.store->find_by_key_digest(zeros)->chatbot_id == "z");
    CHECK(t.store->find_by_key_digest(high)->chatbot_id == "h");
    CHECK(t.store->find_by_key_digest(almost)->chatbot_id == "a");
}

TEST_CASE("pg store: update is atomic and writes nothing when mutate throws", "[postgres]") {
    Db t;
    PostgresStore& s = *t.store;
    s.insert(bot("a", "o", 1), digest_of(1));

    const auto updated = s.update(
        "o", "a",
        [](Chatbot& c) {
            c.name = "Renamed";
            c.settings = {{"x", 1}};
            c.key_prefix = "ob_live_ffffff";  // not writable through update
        },
        chatbotmgr::testing::journal_entry());
    REQUIRE(updated);
    CHECK(updated->name == "Renamed");
    CHECK(updated->key_prefix == "ob_live_abcdef");
    CHECK(s.get("o", "a") == updated);

    CHECK_THROWS_AS(s.update(
                        "o", "a",
                        [](Chatbot& c) {
                            c.name = "Lost";
                            throw std::logic_error("boom");
                        },
                        chatbotmgr::testing::journal_entry()),
                    std::logic_error);
    CHECK(s.get("o", "a")->name == "Renamed");
    CHECK_FALSE(s.update(
        "other", "a", [](Chatbot&) { FAIL("called for another org"); },
        chatbotmgr::testing::journal_entry()));

    // The connection that saw the throw goes back to the pool usable.
    for (int i = 0; i < 10; ++i) CHECK(s.get("o", "a"));
}

TEST_CASE("pg store: concurrent updates from two store objects lose nothing", "[postgres]") {
    Db t;
    auto other = std::make_shared<PostgresStore>(options_for(t.db.conninfo()));
    t.store->insert(bot("a", "o", 1), digest_of(1));
    t.store->update(
        "o", "a",
        [](Chatbot& c) {
            c.settings = {{"n", 0}};
        },
        chatbotmgr::testing::journal_entry());

    constexpr int kThreads = 4;
    constexpr int kPerThread = 25;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] {
            PostgresStore& s = (i % 2) ? *other : *t.store;
            for (int j = 0; j < kPerThread; ++j) {
                try {
                    s.update(
                        "o", "a",
                        [](Chatbot& c) { c.settings["n"] = c.settings["n"].as_int64() + 1; },
                        chatbotmgr::testing::journal_entry());
                } catch (...) {
                    ++failures;
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(failures == 0);
    CHECK(to_compact_json(t.store->get("o", "a")->settings) ==
          R"({"n":)" + std::to_string(kThreads * kPerThread) + "}");
}

TEST_CASE("pg store: replace_key, remove and cascade", "[postgres]") {
    Db t;
    PostgresStore& s = *t.store;
    s.insert(bot("a", "o", 1), digest_of(1));
    s.insert(bot("b", "o", 1), digest_of(2));

    CHECK(code_of([&] {
              s.replace_key("o", "a", NewKey{digest_of(2), "ob_live_222222", {}, std::nullopt},
                            std::nullopt, chatbotmgr::testing::journal_entry());
          }) == ErrorCode::conflict);
    const auto rotated =
        s.replace_key("o", "a", NewKey{digest_of(3), "ob_live_333333", {}, std::nullopt},
                      std::nullopt, chatbotmgr::testing::journal_entry());
    REQUIRE(rotated);
    CHECK(rotated->key_prefix == "ob_live_333333");
    CHECK_FALSE(s.find_by_key_digest(digest_of(1)));
    CHECK(s.find_by_key_digest(digest_of(3))->chatbot_id == "a");
    CHECK_FALSE(s.replace_key("other", "a",
                              NewKey{digest_of(4), "ob_live_444444", {}, std::nullopt},
                              std::nullopt, chatbotmgr::testing::journal_entry()));

    CaptureBatch batch{"conv-1",
                       "user-1",
                       boost::json::object{{"custom", boost::json::object{}}},
                       {msg("hi", "m1"), msg("yo")}};
    const auto captured = s.append_capture("a", batch);
    REQUIRE(captured);
    CHECK(s.record_analysis("a", captured->conversation_id, "sentiment", R"({"score":1})"));
    s.append_capture("b", batch);
    CHECK(s.count_data("a") == ChatbotDataCounts{1, 2, 1});

    CHECK_FALSE(s.remove("other", "a", chatbotmgr::testing::journal_entry()));
    CHECK(s.remove("o", "a", chatbotmgr::testing::journal_entry()));
    CHECK_FALSE(s.remove("o", "a", chatbotmgr::testing::journal_entry()));
    CHECK(s.count_data("a") == ChatbotDataCounts{0, 0, 0});
    CHECK(s.count_data("b") == ChatbotDataCounts{1, 2, 0});
    CHECK_FALSE(s.find_by_key_digest(digest_of(3)));
    AdminConn admin(t.db.conninfo());
    CHECK(admin.exec("SELECT count(*) FROM messages") == "2");
    CHECK(admin.exec("SELECT count(*) FROM analysis_results") == "0");
}

TEST_CASE("pg store: capture upserts the conversation and dedups by message id", "[postgres]") {
    Db t;
    PostgresStore& s = *t.store;
    s.insert(bot("a", "o", 1), digest_of(1));

    CaptureBatch first{"conv", std::nullopt, {}, {msg("1", "m1"), msg("2", "m2"), msg("x")}};
    const auto r1 = s.append_capture("a", first);
    REQUIRE(r1);
    CHECK(r1->messages_stored == 3);

    CaptureBatch second{"conv",
                        "u9",
                        boost::json::object{{"user", boost::json::object{{"id", "u9"}}}},
                        {msg("1 again", "m1"), msg("3", "m3"), msg("x")}};
    const auto r2 = s.append_capture("a", second);
    REQUIRE(r2);
    CHECK(r2->conversation_id == r1->conversation_id);
    CHECK(r2->messages_stored == 2);  // m1 skipped, m3 and the id-less one stored
    CHECK(s.count_data("a") == ChatbotDataCounts{1, 5, 0});

    AdminConn admin(t.db.conninfo());
    CHECK(admin.exec("SELECT metadata_json || '|' || external_user_id FROM conversations") ==
          R"({"user":{"id":"u9"}}|u9)");
    CHECK(admin.exec("SELECT content FROM messages WHERE external_id = 'm1'") == "1");
    // Request order is kept.
    CHECK(admin.exec("SELECT string_agg(content, ',' ORDER BY id) FROM messages") == "1,2,x,3,x");

    CHECK_FALSE(s.append_capture("missing", first));
    CHECK_FALSE(s.record_analysis("missing", r1->conversation_id, "k", "{}"));
    CHECK_FALSE(s.record_analysis("a", "no-such-conversation", "k", "{}"));
    CHECK(admin.exec("SELECT count(*) FROM conversations") == "1");
}

TEST_CASE("pg store: a large capture is stored whole, a bad one not at all", "[postgres]") {
    Db t;
    PostgresStore& s = *t.store;
    s.insert(bot("a", "o", 1), digest_of(1));
    CaptureBatch big{"conv", std::nullopt, {}, {}};
    for (int i = 0; i < 1200; ++i)  // more than one INSERT statement's worth
        big.messages.push_back(msg(std::string(100, 'x'), "id" + std::to_string(i)));
    const auto r = s.append_capture("a", big);
    REQUIRE(r);
    CHECK(r->messages_stored == 1200);

    // PostgreSQL text cannot hold NUL: the whole batch is refused, nothing half-written.
    CaptureBatch bad{"conv2", std::nullopt, {}, {msg("fine", "ok"), msg(std::string("a\0b", 3))}};
    CHECK(code_of([&] { s.append_capture("a", bad); }) == ErrorCode::invalid_argument);
    CHECK(s.count_data("a") == ChatbotDataCounts{1, 1200, 0});
}

TEST_CASE("pg store: accounts port", "[postgres]") {
    Db t;
    PostgresStore& s = *t.store;
    const Organization acme = s.find_or_create_organization("Acme", "org-1");
    CHECK(acme == Organization{"org-1", "Acme"});
    CHECK(s.find_or_create_organization("Acme", "org-2") == acme);
    CHECK(s.find_organization("org-1") == acme);
    CHECK_FALSE(s.find_organization("org-2"));

    CHECK(s.count_users() == 0);
    s.insert_user(User{"u1", "org-1", "Ada@Example.COM"}, "ada@example.com", "$argon2id$hash",
                  chatbotmgr::testing::journal_entry());
    CHECK(code_of([&] {
              s.insert_user(User{"u2", "org-1", "ada@example.com"}, "ada@example.com", "h",
                            chatbotmgr::testing::journal_entry());
          }) == ErrorCode::conflict);
    CHECK(code_of([&] {
              s.insert_user(User{"u3", "no-org", "c@example.com"}, "c@example.com", "h",
                            chatbotmgr::testing::journal_entry());
          }) == ErrorCode::invalid_argument);
    CHECK(s.count_users() == 1);
    const auto found = s.find_user_by_email("ada@example.com");
    REQUIRE(found);
    CHECK(found->first == User{"u1", "org-1", "Ada@Example.COM"});
    CHECK(found->second == "$argon2id$hash");
    CHECK_FALSE(s.find_user_by_email("Ada@Example.COM"));  // callers pass it lowercased

    const auto at = [](std::int64_t t) {
        return std::chrono::sys_seconds(std::chrono::seconds(t));
    };
    // role and email are find_session's to fill in.
    const auto session_of = [](const Digest& d, std::chrono::sys_seconds expires) {
        SessionRecord r;
        r.token_digest = d;
        r.user_id = "u1";
        r.org_id = "org-1";
        r.expires_at = expires;
        return r;
    };
    Digest early = digest_of(10);
    Digest late = digest_of(20);
    early[0] = 0;  // binary-safe
    s.insert_session(session_of(early, at(1000)), chatbotmgr::testing::journal_entry());
    s.insert_session(session_of(late, at(2000)), chatbotmgr::testing::journal_entry());
    CHECK(code_of([&] {
              s.insert_session(session_of(late, at(1)), chatbotmgr::testing::journal_entry());
          }) == ErrorCode::conflict);
    const auto session = s.find_session(early);
    REQUIRE(session);
    CHECK(session->user_id == "u1");
    CHECK(session->org_id == "org-1");
    CHECK(session->expires_at == at(1000));
    CHECK(session->token_digest == early);
    CHECK(session->role == Role::owner);
    CHECK(session->email == "Ada@Example.COM");

    CHECK(s.delete_expired_sessions(at(1000)) == 1);  // expires_at <= now
    CHECK_FALSE(s.find_session(early));
    CHECK(s.delete_session(late, chatbotmgr::testing::journal_entry()));
    CHECK_FALSE(s.delete_session(late, chatbotmgr::testing::journal_entry()));
}

TEST_CASE("pg store: concurrent find_or_create_organization agrees on one row", "[postgres]") {
    Db t;
    auto other = std::make_shared<PostgresStore>(options_for(t.db.conninfo()));
    std::vector<Organization> seen(8);
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([&, i] {
            PostgresStore& s = (i % 2) ? *other : *t.store;
            seen[static_cast<std::size_t>(i)] =
                s.find_or_create_organization("Shared", "org-" + std::to_string(i));
        });
    for (auto& th : threads) th.join();
    for (const auto& o : seen) CHECK(o == seen[0]);
    AdminConn admin(t.db.conninfo());
    CHECK(admin.exec("SELECT count(*) FROM organizations") == "1");
}

TEST_CASE("pg store: instances starting together migrate once", "[postgres]") {
    TempDatabase db;
    constexpr int kInstances = 6;
    std::vector<std::optional<ErrorCode>> errors(kInstances);
    std::vector<std::thread> threads;
    std::atomic<bool> go{false};
    for (int i = 0; i < kInstances; ++i)
        threads.emplace_back([&, i] {
            while (!go) std::this_thread::yield();
            errors[static_cast<std::size_t>(i)] =
                code_of([&] { PostgresStore s(options_for(db.conninfo())); });
        });
    go = true;
    for (auto& th : threads) th.join();
    for (const auto& e : errors) CHECK_FALSE(e);

    AdminConn admin(db.conninfo());
    CHECK(admin.exec("SELECT count(*) FROM schema_migrations") ==
          std::to_string(PostgresStore::schema_version()));
    CHECK(admin.exec("SELECT max(version) FROM schema_migrations") ==
          std::to_string(PostgresStore::schema_version()));
    CHECK(admin.exec("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "12");
}

TEST_CASE("pg store: schema version checks", "[postgres]") {
    TempDatabase db;
    auto opts = options_for(db.conninfo());
    opts.migrate = false;
    CHECK(code_of([&] { PostgresStore s(opts); }) == ErrorCode::unavailable);  // not migrated
    { PostgresStore migrated(options_for(db.conninfo())); }
    CHECK_FALSE(code_of([&] { PostgresStore s(opts); }));

    AdminConn admin(db.conninfo());
    admin.exec("INSERT INTO schema_migrations VALUES (1000, 0)");
    CHECK(code_of([&] { PostgresStore s(options_for(db.conninfo())); }) == ErrorCode::internal);
    CHECK(code_of([&] { PostgresStore s(opts); }) == ErrorCode::internal);
}

TEST_CASE("pg store: version 1 databases upgrade to roles, invitations and key lifecycle",
          "[postgres]") {
    TempDatabase db;
    { PostgresStore migrated(options_for(db.conninfo())); }
    {
        // Back to the accounts tables of version 1, with two users and a session.
        AdminConn admin(db.conninfo());
        for (const char* sql :
             {"DROP TABLE invitations", "DROP TABLE audit_events", "DROP TABLE idempotency_records",
              "DROP TABLE org_chatbot_counts", "DROP FUNCTION chatbotmgr_count_chatbots() CASCADE",
              "ALTER TABLE users DROP COLUMN role, DROP COLUMN created_at",
              "ALTER TABLE chatbots DROP COLUMN key_issued_at, DROP COLUMN key_expires_at, "
              "DROP COLUMN key_last_used_at, DROP COLUMN prev_key_digest, "
              "DROP COLUMN prev_key_prefix, DROP COLUMN prev_key_issued_at, "
              "DROP COLUMN prev_key_expires_at, DROP COLUMN prev_key_last_used_at",
              "INSERT INTO chatbots VALUES ('bot-1', 'org-1', 'Old', 'ob_live_0123ab', "
              "decode('02' || repeat('00', 31), 'hex'), '{}', 1700000000)",
              "DELETE FROM schema_migrations WHERE version > 1",
              "INSERT INTO organizations VALUES ('org-1', 'Acme')",
              "INSERT INTO users VALUES ('u2', 'org-1', 'bob@example.com', 'bob@example.com', 'h')",
              "INSERT INTO users VALUES ('u1', 'org-1', 'Ada@example.com', 'ada@example.com', 'h')",
              "INSERT INTO sessions VALUES "
              "(decode('01' || repeat('00', 31), 'hex'), 'u2', 'org-1', 4000000000)"})
            admin.exec(sql);
    }
    PostgresStore s(options_for(db.conninfo()));
    // Users of version 1 could do everything: owners, of unknown age (0), so by id.
    const User ada{"u1", "org-1", "Ada@example.com", Role::owner, std::chrono::sys_seconds{}};
    const User bob{"u2", "org-1", "bob@example.com", Role::owner, std::chrono::sys_seconds{}};
    CHECK(s.list_users("org-1") == std::vector<User>{ada, bob});
    Digest one{};
    one[0] = 1;
    const auto session = s.find_session(one);
    REQUIRE(session);
    CHECK(session->role == Role::owner);
    CHECK(session->email == "bob@example.com");
    CHECK(s.set_role("org-1", "u1", Role::viewer, chatbotmgr::testing::journal_entry()) ==
          MemberChange::done);
    CHECK(s.remove_user("org-1", "u2", chatbotmgr::testing::journal_entry()) ==
          MemberChange::last_owner);
    // A version 1 key: issued when its chatbot was created (the best known), never
    // expires, never used, no previous key; it still authenticates.
    const std::chrono::sys_seconds created{std::chrono::seconds{1'700'000'000}};
    CHECK(
        s.keys("org-1", "bot-1") ==
        ChatbotKeys{KeyState{"ob_live_0123ab", created, std::nullopt, std::nullopt}, std::nullopt});
    Digest two{};
    two[0] = 2;
    CHECK(s.find_by_key_digest(two) == KeyOwner{"bot-1", "org-1", KeySlot::current, std::nullopt});

    AdminConn admin(db.conninfo());
    CHECK(admin.exec("SELECT max(version) FROM schema_migrations") ==
          std::to_string(PostgresStore::schema_version()));
    // Roles are checked by the database; inserts must name role and created_at.
    CHECK_THROWS(admin.exec("UPDATE users SET role = 'superuser' WHERE id = 'u1'"));
    CHECK_THROWS(
        admin.exec("INSERT INTO users (id, org_id, email, email_lower, password_hash) "
                   "VALUES ('u3', 'org-1', 'c@example.com', 'c@example.com', 'h')"));
}

TEST_CASE("pg store: bad options are refused before connecting", "[postgres]") {
    auto opts = options_for("host=/nonexistent");
    opts.pool_size = 0;
    CHECK(code_of([&] { PostgresStore s(opts); }) == ErrorCode::invalid_argument);
    opts = options_for("this is = not 'a conninfo");
    CHECK(code_of([&] { PostgresStore s(opts); }) == ErrorCode::invalid_argument);
    // A server that is not there is unavailable, not a crash.
    opts = options_for("host=/nonexistent-socket-dir port=5432 dbname=x");
    CHECK(code_of([&] { PostgresStore s(opts); }) == ErrorCode::unavailable);
}

TEST_CASE("pg store: registry on two instances sharing one database", "[postgres]") {
    Db t;
    auto other = std::make_shared<PostgresStore>(options_for(t.db.conninfo()));
    ChatbotRegistry a(t.store);
    ChatbotRegistry b(other);

    const ChatbotWithKey created = a.create("org", NewChatbot{"Support", {}});
    CHECK(chatbot_of(b, created.api_key) == created.chatbot.id);  // read-your-writes

    const ChatbotWithKey rotated = b.rotate_key("org", created.chatbot.id);
    CHECK_FALSE(a.authenticate(created.api_key));
    CHECK(chatbot_of(a, rotated.api_key) == created.chatbot.id);

    ChatbotPatch patch;
    patch.settings_patch = boost::json::parse(R"({"theme":{"color":"red"}})").as_object();
    a.update("org", created.chatbot.id, patch);
    CHECK(to_compact_json(b.get("org", created.chatbot.id).settings) ==
          R"({"theme":{"color":"red"}})");

    b.remove("org", created.chatbot.id);
    CHECK_FALSE(a.authenticate(rotated.api_key));
    CHECK(code_of([&] { a.get("org", created.chatbot.id); }) == ErrorCode::not_found);
}

TEST_CASE("pg store: accounts on two instances share sessions", "[postgres]") {
    Db t;
    auto other = std::make_shared<PostgresStore>(options_for(t.db.conninfo()));
    auto clock = std::make_shared<testing::FakeClock>();
    AccountsOptions opts;
    opts.pwhash_opslimit = crypto_pwhash_OPSLIMIT_MIN;
    opts.pwhash_memlimit = crypto_pwhash_MEMLIMIT_MIN;
    opts.clock = clock;
    Accounts a(t.store, opts);
    Accounts b(other, opts);

    a.add_user("Ada@example.com", "Acme", "correct horse");
    CHECK(b.has_users());
    const LoginResult login = b.login("ada@EXAMPLE.com", "correct horse");
    REQUIRE(a.check_session(login.token));
    CHECK(a.check_session(login.token)->org_id == login.organization.id);
    CHECK(a.logout(login.token));
    CHECK_FALSE(b.check_session(login.token));  // revoked on every instance
}
