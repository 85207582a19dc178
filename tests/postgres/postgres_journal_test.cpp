// The journal on PostgreSQL (API.md sections 13 and 14): what the conformance suite cannot
// see from one store object -- a scope held by another instance's open transaction,
// binary answers, the keyset and prune statements, and rows left behind by a rollback.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/postgres/postgres_store.hpp"
#include "numbered.hpp"
#include "pg_test_support.hpp"

using namespace chatbotmgr;
using cbm_pg_test::AdminConn;
using cbm_pg_test::options_for;
using cbm_pg_test::TempDatabase;
using chatbotmgr::postgres::PostgresStore;

namespace {

using chatbotmgr::test::numbered;

std::chrono::sys_seconds at(std::int64_t s) {
    return std::chrono::sys_seconds(std::chrono::seconds(s));
}

Digest digest_of(unsigned char seed) {
    Digest d{};
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<unsigned char>(seed + i * 3);
    return d;
}

Chatbot bot(std::string id, std::int64_t created) {
    return Chatbot{std::move(id),    "o", numbered("Bot ", created),
                   "ob_live_abcdef", {},  at(created)};
}

NewKey key_of(unsigned char seed, std::int64_t issued) {
    return NewKey{digest_of(seed), "ob_live_abcdef", at(issued), std::nullopt};
}

JournalEntry entry(std::string id, std::int64_t time,
                   AuditAction action = AuditAction::chatbot_created, std::string actor = "u1") {
    JournalEntry e;
    e.event.id = std::move(id);
    e.event.org_id = "o";
    e.event.created_at = at(time);
    e.event.action = action;
    e.event.actor = {"user", std::move(actor), "a@example.com"};
    e.event.target = {"chatbot", "c", "Bot"};
    e.event.changes["note"] = "quotes \" backslash \\ newline \n tab \t";
    return e;
}

IdempotencyRecord record(unsigned char scope, std::int64_t expires, std::string answer = "sealed") {
    return IdempotencyRecord{digest_of(scope), digest_of(99), 200, std::move(answer), at(expires)};
}

// The scope as a bytea literal, for the admin connection.
std::string bytea(const Digest& d) {
    return "'\\x" + to_hex(d) + "'::bytea";
}

struct Db {
    TempDatabase db;
    std::shared_ptr<PostgresStore> store =
        std::make_shared<PostgresStore>(options_for(db.conninfo()));
};

}  // namespace

TEST_CASE("pg journal: an event and a record are written with the change, read back as written",
          "[postgres]") {
    Db t;
    PostgresStore& s = *t.store;
    JournalEntry e = entry("e1", 100);
    // Every byte value, NUL first: the answer is binary (nonce and ciphertext).
    std::string answer;
    for (int i = 0; i < 256; ++i) answer += static_cast<char>(i);
    e.idempotency = record(1, 1000, answer);
    REQUIRE(s.insert(bot("c", 100), key_of(1, 100), 10, e));
    const auto found = s.find_idempotency_record(digest_of(1), at(999));
    REQUIRE(found);
    CHECK(*found == *e.idempotency);
    CHECK_FALSE(s.find_idempotency_record(digest_of(1), at(1000)));  // expired at expires_at
    const auto events = s.list_audit_events("o", {}, std::nullopt, 10);
    REQUIRE(events.size() == 1);
    CHECK(events[0] == e.event);
}

TEST_CASE("pg journal: a live scope refuses the whole write, an expired one is replaced",
          "[postgres]") {
    Db t;
    PostgresStore& s = *t.store;
    JournalEntry first = entry("e1", 100);
    first.idempotency = record(1, 1000);
    REQUIRE(s.insert(bot("a", 100), key_of(1, 100), 10, first));

    JournalEntry again = entry("e2", 999);
    again.idempotency = record(1, 2000, "other");
    try {
        s.insert(bot("b", 999), key_of(2, 999), 10, again);
        FAIL("no conflict");
    } catch (const Error& err) {
        CHECK(err.code() == ErrorCode::conflict);
        CHECK(err.field() == "Idempotency-Key");
    }
    CHECK_FALSE(s.get("o", "b"));
    CHECK(s.list_audit_events("o", {}, std::nullopt, 10).size() == 1);

    again.event.created_at = at(1000);  // the first record is dead now
    REQUIRE(s.insert(bot("b", 1000), key_of(2, 1000), 10, again));
    CHECK(s.find_idempotency_record(digest_of(1), at(1000))->answer == "other");
}

TEST_CASE("pg journal: a scope held by another instance's open transaction waits, then conflicts",
          "[postgres]") {
    Db t;
    AdminConn other(t.db.conninfo());
    for (const bool commits : {true, false}) {
        CAPTURE(commits);
        other.exec("DELETE FROM idempotency_records");
        other.exec("BEGIN");
        other.exec("INSERT INTO idempotency_records VALUES (" + bytea(digest_of(7)) +
                   ", '\\x00', 200, '\\x00', 5000)");
        auto finish = std::async(std::launch::async, [&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            other.exec(commits ? "COMMIT" : "ROLLBACK");
        });
        const std::string id = commits ? "x" : "y";
        JournalEntry e = entry("e-" + id, 100);
        e.idempotency = record(7, 5000);
        const auto started = std::chrono::steady_clock::now();
        if (commits) {
            try {
                t.store->insert(bot(id, 100), key_of(commits ? 3 : 4, 100), 10, e);
                FAIL("no conflict");
            } catch (const Error& err) {
                // Never unavailable: the wait ends well within statement_timeout.
                CHECK(err.code() == ErrorCode::conflict);
                CHECK(err.field() == "Idempotency-Key");
            }
            CHECK_FALSE(t.store->get("o", id));
        } else {
            CHECK(t.store->insert(bot(id, 100), key_of(4, 100), 10, e));
        }
        CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(250));
        finish.get();
    }
}

TEST_CASE("pg journal: a throwing complete rolls the change back", "[postgres]") {
    Db t;
    PostgresStore& s = *t.store;
    s.insert(bot("c", 1), digest_of(1));
    const auto before = s.list_audit_events("o", {}, std::nullopt, 10);
    JournalEntry e = entry("e2", 2, AuditAction::chatbot_deleted);
    e.complete = [](const Chatbot&, JournalEntry&) { throw std::runtime_error("no"); };
    CHECK_THROWS_AS(s.remove("o", "c", std::move(e)), std::runtime_error);
    CHECK(s.get("o", "c"));
    CHECK(s.list_audit_events("o", {}, std::nullopt, 10) == before);
    // Then it works, and the event outlives its chatbot.
    JournalEntry ok = entry("e3", 3, AuditAction::chatbot_deleted);
    std::string name;
    ok.complete = [&](const Chatbot& c, JournalEntry&) { name = c.name; };
    CHECK(s.remove("o", "c", std::move(ok)));
    CHECK(name == "Bot 1");
    CHECK(s.list_audit_events("o", {}, std::nullopt, 10).front().id == "e3");
}

TEST_CASE("pg journal: keyset pages with filters, and prunes bounded per call", "[postgres]") {
    Db t;
    PostgresStore& s = *t.store;
    // Two events a second, ids out of time order: the order is (created_at, id) descending.
    for (int i = 0; i < 10; ++i) {
        const auto action = i % 2 ? AuditAction::chatbot_updated : AuditAction::chatbot_created;
        s.insert(bot(numbered("c", i), 10 + i / 2), key_of(static_cast<unsigned char>(i), 1), 100,
                 entry(numbered("e", 9 - i), 10 + i / 2, action, i < 5 ? "u1" : "u2"));
    }
    std::vector<std::string> walked;
    std::optional<PagePosition> after;
    for (;;) {
        const auto page = s.list_audit_events("o", {}, after, 3);
        for (const AuditEvent& e : page) walked.push_back(e.id);
        if (page.size() < 3) break;
        after = PagePosition{page.back().created_at, page.back().id};
    }
    CHECK(walked ==
          std::vector<std::string>{"e1", "e0", "e3", "e2", "e5", "e4", "e7", "e6", "e9", "e8"});
    AuditQuery q;
    q.action = AuditAction::chatbot_updated;
    q.actor_id = "u2";
    q.since = at(12);
    q.until = at(14);  // exclusive
    std::vector<std::string> filtered;
    for (const AuditEvent& e : s.list_audit_events("o", q, std::nullopt, 10))
        filtered.push_back(e.id);
    CHECK(filtered == std::vector<std::string>{"e2", "e4"});
    CHECK(s.list_audit_events("other", {}, std::nullopt, 10).empty());

    CHECK(s.prune_audit_events(at(12), 3) == 3);  // oldest first: e8, e9, e6
    CHECK(s.list_audit_events("o", {}, std::nullopt, 10).back().id == "e7");
    CHECK(s.prune_audit_events(at(12), 3) == 1);
    CHECK(s.prune_audit_events(at(12), 3) == 0);
    CHECK(s.list_audit_events("o", {}, std::nullopt, 10).back().id == "e4");

    for (unsigned char i = 0; i < 5; ++i) {
        JournalEntry e = entry(numbered("r", i), 1, AuditAction::chatbot_updated);
        e.idempotency = record(static_cast<unsigned char>(50 + i), 100 + i);
        s.update(
            "o", "c0", [](Chatbot&) {}, std::move(e));
    }
    CHECK(s.prune_idempotency_records(at(102), 2) == 2);
    CHECK(s.prune_idempotency_records(at(102), 2) == 1);
    CHECK(s.prune_idempotency_records(at(102), 2) == 0);
    CHECK(s.find_idempotency_record(digest_of(53), at(0)));
}
