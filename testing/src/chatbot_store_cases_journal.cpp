// Conformance cases: the journal (API.md sections 13 and 14) -- every chatbot write records
// its event and idempotency record in its own transaction, only when it changed something;
// a live idempotency scope refuses a second write whole; events are read in keyset pages
// with filters, and pruned in bounded batches.
#include <algorithm>
#include <atomic>
#include <limits>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "builders.hpp"
#include "cases.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "concurrency.hpp"

namespace chatbotmgr::testing::detail::store_cases {
namespace {

constexpr std::size_t kAll = std::numeric_limits<std::size_t>::max();

// The journal is part of the port: a store that cannot read it back fails every case here.
JournalStore& journal_of(ChatbotStore& store) {
    auto* journal = dynamic_cast<JournalStore*>(&store);
    if (!journal) FAIL("the store does not implement JournalStore (journal.hpp)");
    return *journal;
}

std::vector<AuditEvent> events_of(ChatbotStore& store, const std::string& org,
                                  const AuditQuery& query = {}) {
    return journal_of(store).list_audit_events(org, query, std::nullopt, 1000);
}

// An event as a user of org with every field set, so a store that drops one is caught.
JournalEntry entry(const std::string& org, AuditAction action, const std::string& id,
                   std::int64_t time, const std::string& target_id = "t") {
    JournalEntry e;
    e.event.id = id;
    e.event.org_id = org;
    e.event.created_at = at(time);
    e.event.action = action;
    e.event.actor = {"user", cat("user-of-", org), "ada@example.com"};
    e.event.target = {"chatbot", target_id, "Target ünïcode"};
    e.event.ip = "203.0.113.9";
    e.event.user_agent = "curl/8.0 \"quoted\"";
    e.event.changes = object_of(R"({"settings":{"a":[1,2.5,null,"x"]},"n":-0})");
    return e;
}

IdempotencyRecord record(const std::string& label, std::int64_t expires) {
    IdempotencyRecord r;
    r.scope = sha256(cat("scope:", label));
    r.request = sha256(cat("request:", label));
    r.status = 200;
    r.answer = std::string("\0sealed\xff\x01 answer", 16);  // binary: NUL and high bytes
    r.answer += label;
    r.expires_at = at(expires);
    return r;
}

std::vector<std::string> ids_of(const std::vector<AuditEvent>& events) {
    std::vector<std::string> ids;
    for (const auto& e : events) ids.push_back(e.id);
    return ids;
}

}  // namespace

void journal_written_with_each_change(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(61);
    const Chatbot c = f.make("org-a", "Journaled");
    REQUIRE(store->insert(c, new_key(digest_for(c.id)), kAll,
                          entry("org-a", AuditAction::chatbot_created, "e1", kBaseTime, c.id)));
    const auto all_after_insert = events_of(*store, "org-a");
    REQUIRE(all_after_insert.size() == 1);
    const AuditEvent expected =
        entry("org-a", AuditAction::chatbot_created, "e1", kBaseTime, c.id).event;
    CHECK(all_after_insert[0] == expected);  // every field round-trips, changes included

    // update: complete sees the row after mutate, and what it sets is stored.
    JournalEntry updated = entry("org-a", AuditAction::chatbot_updated, "e2", kBaseTime + 1, c.id);
    std::string seen_name;
    updated.complete = [&](const Chatbot& row, JournalEntry& e) {
        seen_name = row.name;
        e.event.target.name = row.name;
    };
    REQUIRE(store->update(
        "org-a", c.id, [](Chatbot& x) { x.name = "Renamed"; }, std::move(updated)));
    CHECK(seen_name == "Renamed");

    // replace_key: complete sees the new key's prefix and may add the idempotency record.
    const Digest fresh = digest_for("fresh");
    JournalEntry rotated =
        entry("org-a", AuditAction::chatbot_key_rotated, "e3", kBaseTime + 2, c.id);
    std::string seen_prefix;
    rotated.complete = [&](const Chatbot& row, JournalEntry& e) {
        seen_prefix = row.key_prefix;
        e.idempotency = record("rotate", kBaseTime + 86'400);
    };
    REQUIRE(
        store->replace_key("org-a", c.id, new_key(fresh), at(kBaseTime + 60), std::move(rotated)));
    CHECK(seen_prefix == prefix_for(fresh));
    CHECK(store->find_idempotency_record(record("rotate", 0).scope, at(kBaseTime + 2)) ==
          record("rotate", kBaseTime + 86'400));

    JournalEntry dropped =
        entry("org-a", AuditAction::chatbot_previous_key_revoked, "e4", kBaseTime + 3, c.id);
    REQUIRE(store->drop_previous_key("org-a", c.id, at(kBaseTime + 3), std::move(dropped)) ==
            std::optional<bool>(true));

    // remove: complete sees the row as it was.
    JournalEntry removed = entry("org-a", AuditAction::chatbot_deleted, "e5", kBaseTime + 4, c.id);
    removed.complete = [&](const Chatbot& row, JournalEntry& e) { e.event.target.name = row.name; };
    REQUIRE(store->remove("org-a", c.id, std::move(removed)));

    const auto events = events_of(*store, "org-a");
    CHECK(ids_of(events) == std::vector<std::string>{"e5", "e4", "e3", "e2", "e1"});
    REQUIRE(events.size() == 5);
    CHECK(events[0].target.name == "Renamed");  // events outlive their targets
    CHECK(events[3].target.name == "Renamed");
    CHECK(events_of(*store, "org-b").empty());
}

void failed_write_leaves_no_event(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(62);
    const Chatbot c = f.make("org-a", "Kept");
    insert(*store, c);
    const auto baseline = events_of(*store, "org-a").size();
    auto e = [](const char* id) {
        return entry("org-a", AuditAction::chatbot_updated, id, kBaseTime);
    };

    // Nothing found: nothing recorded.
    CHECK_FALSE(store->update(
        "org-a", f.uuid(), [](Chatbot&) {}, e("n1")));
    CHECK_FALSE(store->remove("org-b", c.id, e("n2")));
    CHECK_FALSE(
        store->replace_key("org-a", f.uuid(), new_key(digest_for("x")), std::nullopt, e("n3")));
    CHECK(store->drop_previous_key("org-a", c.id, at(kBaseTime), e("n4")) ==
          std::optional<bool>(false));  // no previous key: no change
    // Refused: nothing recorded.
    CHECK_THROWS_AS(store->update(
                        "org-a", c.id, [](Chatbot&) { throw std::runtime_error("no"); }, e("n5")),
                    std::runtime_error);
    CHECK(code_of([&] { store->insert(c, new_key(digest_for("y")), kAll, e("n6")); }) ==
          ErrorCode::conflict);
    const Chatbot over = f.make("org-a", "Over the limit");
    CHECK_FALSE(store->insert(over, new_key(digest_for(over.id)), 1, e("n7")));
    // complete throws: the change is rolled back with its event.
    JournalEntry failing = e("n8");
    failing.complete = [](const Chatbot&, JournalEntry&) { throw std::runtime_error("complete"); };
    CHECK_THROWS_AS(store->update(
                        "org-a", c.id, [](Chatbot& x) { x.name = "Never"; }, std::move(failing)),
                    std::runtime_error);
    JournalEntry failing_rotation = e("n9");
    failing_rotation.complete = [](const Chatbot&, JournalEntry&) {
        throw std::runtime_error("complete");
    };
    CHECK_THROWS_AS(store->replace_key("org-a", c.id, new_key(digest_for("z")), std::nullopt,
                                       std::move(failing_rotation)),
                    std::runtime_error);

    CHECK(events_of(*store, "org-a").size() == baseline);
    CHECK(store->get("org-a", c.id)->name == "Kept");
    CHECK(store->find_by_key_digest(digest_for(c.id)) == owner_of(c));
    CHECK_FALSE(store->find_by_key_digest(digest_for("z")));
    CHECK(store->list("org-a").size() == 1);
}

void live_idempotency_scope_refuses_write(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(63);
    const Chatbot first = f.make("org-a", "First");
    JournalEntry e1 = entry("org-a", AuditAction::chatbot_created, "i1", kBaseTime, first.id);
    e1.idempotency = record("create", kBaseTime + 100);
    REQUIRE(store->insert(first, new_key(digest_for(first.id)), kAll, std::move(e1)));
    CHECK(store->find_idempotency_record(record("create", 0).scope, at(kBaseTime + 99)) ==
          record("create", kBaseTime + 100));
    CHECK_FALSE(store->find_idempotency_record(record("create", 0).scope, at(kBaseTime + 100)));
    CHECK_FALSE(store->find_idempotency_record(record("other", 0).scope, at(kBaseTime)));

    // The same scope while the record lives: the whole write is refused.
    const Chatbot second = f.make("org-a", "Second");
    JournalEntry e2 = entry("org-a", AuditAction::chatbot_created, "i2", kBaseTime + 50, second.id);
    e2.idempotency = record("create", kBaseTime + 150);
    CHECK(field_of([&] {
              store->insert(second, new_key(digest_for(second.id)), kAll, std::move(e2));
          }) == "Idempotency-Key");
    CHECK_FALSE(store->get("org-a", second.id));
    CHECK_FALSE(store->find_by_key_digest(digest_for(second.id)));

    // A rotation refused the same way keeps the old key.
    JournalEntry e3 = entry("org-a", AuditAction::chatbot_key_rotated, "i3", kBaseTime + 50);
    e3.idempotency = record("create", kBaseTime + 150);
    CHECK(field_of([&] {
              store->replace_key("org-a", first.id, new_key(digest_for("fresh")), std::nullopt,
                                 std::move(e3));
          }) == "Idempotency-Key");
    CHECK(store->find_by_key_digest(digest_for(first.id)) == owner_of(first));
    CHECK(ids_of(events_of(*store, "org-a")) == std::vector<std::string>{"i1"});

    // Once it expired, the scope is free again and the new record replaces the old.
    JournalEntry e4 =
        entry("org-a", AuditAction::chatbot_created, "i4", kBaseTime + 100, second.id);
    e4.idempotency = record("create", kBaseTime + 200);
    e4.idempotency->request = sha256("another request");
    REQUIRE(store->insert(second, new_key(digest_for(second.id)), kAll, std::move(e4)));
    CHECK(store->find_idempotency_record(record("create", 0).scope, at(kBaseTime + 150))->request ==
          sha256("another request"));
}

void concurrent_writes_of_one_scope(ConformanceTarget& target) {
    auto store = target.open();
    constexpr std::size_t kThreads = 8;
    ChatbotFactory f(64);
    std::vector<Chatbot> bots;
    for (std::size_t i = 0; i < kThreads; ++i) bots.push_back(f.make("org-a", cat("Racer ", i)));
    std::atomic<int> won{0};
    std::atomic<int> refused{0};
    const auto problems = run_threads(kThreads, [&](std::size_t i) {
        JournalEntry e =
            entry("org-a", AuditAction::chatbot_created, cat("race-", i), kBaseTime, bots[i].id);
        e.idempotency = record("race", kBaseTime + 100);
        try {
            store->insert(bots[i], new_key(digest_for(bots[i].id)), kAll, std::move(e));
            ++won;
        } catch (const Error& error) {
            if (error.field() != "Idempotency-Key") throw;
            ++refused;
        }
    });
    require_no_problems(problems);
    CHECK(won.load() == 1);
    CHECK(refused.load() == static_cast<int>(kThreads) - 1);
    CHECK(store->list("org-a").size() == 1);
    CHECK(events_of(*store, "org-a").size() == 1);
}

void audit_events_filtered_and_paged(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(65);
    const Chatbot c = f.make("org-a", "Busy");
    insert(*store, c);
    const auto noise = events_of(*store, "org-a").size();
    // 30 events over 10 seconds (3 per second: ties broken by id), two targets, two actors.
    for (int i = 0; i < 30; ++i) {
        JournalEntry e = entry(
            "org-a", i % 2 ? AuditAction::chatbot_updated : AuditAction::chatbot_deleted,
            cat("ev-", 100 + i), kBaseTime + 1000 + i / 3, i % 3 == 0 ? "target-x" : "target-y");
        if (i % 5 == 0) e.event.actor.id = "user-special";
        // update with no change to make: any write will do to carry the entry.
        REQUIRE(store->update(
            "org-a", c.id, [](Chatbot&) {}, std::move(e)));
    }
    JournalEntry foreign =
        entry("org-b", AuditAction::chatbot_updated, "ev-foreign", kBaseTime + 1005);
    foreign.event.org_id = "org-b";
    const Chatbot b = f.make("org-b", "Foreign");
    insert(*store, b);
    REQUIRE(store->update(
        "org-b", b.id, [](Chatbot&) {}, std::move(foreign)));

    const auto all = events_of(*store, "org-a");
    REQUIRE(all.size() == noise + 30);
    for (std::size_t i = 1; i < all.size(); ++i) {
        const bool ordered =
            all[i - 1].created_at > all[i].created_at ||
            (all[i - 1].created_at == all[i].created_at && all[i - 1].id > all[i].id);
        CHECK(ordered);
    }
    auto count = [&](const AuditQuery& q) { return events_of(*store, "org-a", q).size(); };
    AuditQuery q;
    q.action = AuditAction::chatbot_updated;
    CHECK(count(q) == 15);
    q = {};
    q.target_id = "target-x";
    CHECK(count(q) == 10);
    q = {};
    q.actor_id = "user-special";
    CHECK(count(q) == 6);
    q = {};
    q.since = at(kBaseTime + 1008);
    CHECK(count(q) == 6);
    q = {};
    q.until = at(kBaseTime + 1000);  // exclusive
    CHECK(count(q) == noise);
    q = {};
    q.action = AuditAction::chatbot_updated;
    q.target_id = "target-y";
    q.since = at(kBaseTime + 1002);
    q.until = at(kBaseTime + 1005);
    CHECK(count(q) == 3);
    q = {};
    q.target_id = "nobody";
    CHECK(count(q) == 0);

    // Keyset pages of every size walk the same list.
    for (std::size_t size : {1u, 3u, 7u, 50u}) {
        std::vector<std::string> walked;
        std::optional<PagePosition> after;
        for (;;) {
            const auto page = journal_of(*store).list_audit_events("org-a", {}, after, size);
            for (const auto& e : page) walked.push_back(e.id);
            if (page.size() < size) break;
            after = PagePosition{page.back().created_at, page.back().id};
        }
        CHECK(walked == ids_of(all));
    }
}

void prune_is_bounded(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(66);
    const Chatbot c = f.make("org-a", "Old");
    insert(*store, c);
    JournalStore& journal = journal_of(*store);
    journal.prune_audit_events(at(kBaseTime + 10'000), kAll);  // the insert's own event, if old
    for (int i = 0; i < 7; ++i) {
        JournalEntry e = entry("org-a", AuditAction::chatbot_updated, cat("p-", i), kBaseTime + i);
        e.idempotency = record(cat("p", i), kBaseTime + 100 + i);
        REQUIRE(store->update(
            "org-a", c.id, [](Chatbot&) {}, std::move(e)));
    }
    CHECK(journal.prune_audit_events(at(kBaseTime + 5), 3) == 3);  // at most max, oldest first
    CHECK(ids_of(events_of(*store, "org-a")).back() == "p-3");
    CHECK(journal.prune_audit_events(at(kBaseTime + 5), 3) == 2);  // p-3, p-4; p-5 is not before
    CHECK(journal.prune_audit_events(at(kBaseTime + 5), 3) == 0);
    CHECK(events_of(*store, "org-a").size() == 2);

    CHECK(journal.prune_idempotency_records(at(kBaseTime + 102), 2) == 2);
    CHECK(journal.prune_idempotency_records(at(kBaseTime + 102), 2) == 1);
    CHECK_FALSE(store->find_idempotency_record(record("p2", 0).scope, at(kBaseTime)));
    CHECK(store->find_idempotency_record(record("p3", 0).scope, at(kBaseTime)));
}

void store_assigns_event_ids_in_write_order(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(68);
    const Chatbot c = f.make("org-a", "Ordered");
    insert(*store, c);
    journal_of(*store).prune_audit_events(at(kBaseTime + 100'000), kAll);
    // All in one second, without ids: the store gives them, in the order it writes them.
    for (int i = 0; i < 20; ++i)
        REQUIRE(store->update(
            "org-a", c.id, [](Chatbot&) {},
            entry("org-a", AuditAction::chatbot_updated, "", kBaseTime + 5, cat("t", i))));
    const auto events = events_of(*store, "org-a");
    REQUIRE(events.size() == 20);
    for (std::size_t k = 0; k < events.size(); ++k) {
        CHECK(is_canonical_uuid(events[k].id));
        CHECK(events[k].target.id == cat("t", 19 - k));  // newest first: the last write first
    }
}

void reopen_keeps_journal(ConformanceTarget& target) {
    ChatbotFactory f(67);
    const Chatbot c = f.make("org-a", "Durable");
    {
        auto store = target.open();
        JournalEntry e = entry("org-a", AuditAction::chatbot_created, "d1", kBaseTime, c.id);
        e.idempotency = record("durable", kBaseTime + 86'400);
        REQUIRE(store->insert(c, new_key(digest_for(c.id)), kAll, std::move(e)));
    }
    auto store = target.open();
    const auto events = events_of(*store, "org-a");
    REQUIRE(events.size() == 1);
    CHECK(events[0] == entry("org-a", AuditAction::chatbot_created, "d1", kBaseTime, c.id).event);
    CHECK(store->find_idempotency_record(record("durable", 0).scope, at(kBaseTime)) ==
          record("durable", kBaseTime + 86'400));
}

}  // namespace chatbotmgr::testing::detail::store_cases
