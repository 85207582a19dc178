// Conformance cases: insert, get, list, update, remove, ping.
#include <algorithm>
#include <atomic>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "builders.hpp"
#include "cases.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "concurrency.hpp"

namespace chatbotmgr::testing::detail::store_cases {
namespace {

struct CustomFailure {
    int value;
};

// Merges {"<key>": value} into the chatbot's settings inside update.
std::optional<Chatbot> merge_member(ChatbotStore& store, const std::string& org,
                                    const std::string& id, const std::string& key,
                                    boost::json::value value) {
    return store.update(
        org, id,
        [&](Chatbot& x) {
            boost::json::object settings = settings_of(x);
            boost::json::object patch;
            patch[key] = value;
            merge_patch(settings, patch);
            x.settings = settings;
        },
        journal_entry());
}

}  // namespace

void insert_then_get(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(1);
    Chatbot c = f.make("org-a", "Support Bot");
    c.settings = object_of(R"({"onboarded":true,"nested":{"k":[1,2]}})");
    insert(*store, c);
    const auto got = store->get("org-a", c.id);
    REQUIRE(got);
    CHECK(*got == c);
    CHECK_FALSE(store->get("org-a", f.uuid()));
}

void get_is_scoped_to_organization(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(2);
    const Chatbot c = f.make("org-a", "Mine");
    insert(*store, c);
    CHECK_FALSE(store->get("org-b", c.id));
    CHECK_FALSE(store->get("", c.id));
    CHECK(store->get("org-a", c.id));
}

void insert_existing_id_conflicts(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(3);
    const Chatbot c = f.make("org-a", "First");
    insert(*store, c);
    Chatbot same_id = f.make("org-b", "Second");
    same_id.id = c.id;
    CHECK(code_of([&] { store->insert(same_id, digest_for("other")); }) == ErrorCode::conflict);
    // Nothing of the failed insert is visible.
    CHECK(store->get("org-a", c.id) == c);
    CHECK(store->list("org-b").empty());
    CHECK_FALSE(store->find_by_key_digest(digest_for("other")));
}

void insert_existing_digest_conflicts(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(4);
    const Chatbot c = f.make("org-a", "First");
    insert(*store, c);
    const Chatbot other = f.make("org-a", "Second");
    CHECK(code_of([&] { store->insert(other, digest_for(c.id)); }) == ErrorCode::conflict);
    CHECK_FALSE(store->get("org-a", other.id));
    CHECK(store->list("org-a").size() == 1);
    const auto found = store->find_by_key_digest(digest_for(c.id));
    REQUIRE(found);
    CHECK(found->chatbot_id == c.id);
}

// The quota of API.md section 18: an organization never holds more than the limit, even
// when creates race (the count and the insert are one step).
void insert_respects_organization_limit(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(5);
    for (int i = 0; i < 2; ++i) CHECK(insert_limited(*store, f.make("org-a", "Before"), 3));
    const Chatbot third = f.make("org-a", "Third");
    CHECK(insert_limited(*store, third, 3));
    const Chatbot fourth = f.make("org-a", "Fourth");
    CHECK_FALSE(insert_limited(*store, fourth, 3));
    CHECK_FALSE(store->get("org-a", fourth.id));
    CHECK_FALSE(store->find_by_key_digest(digest_for(fourth.id)));
    // Another organization has its own count; a delete makes room again.
    CHECK(insert_limited(*store, f.make("org-b", "Elsewhere"), 3));
    REQUIRE(store->remove("org-a", third.id, journal_entry()));
    CHECK(insert_limited(*store, fourth, 3));

    // 16 threads insert into a fresh organization whose limit is 5: exactly 5 succeed.
    constexpr std::size_t kThreads = 16;
    std::vector<Chatbot> racers;
    for (std::size_t i = 0; i < kThreads; ++i) racers.push_back(f.make("org-race", "Racer"));
    std::atomic<std::size_t> inserted{0};
    const auto problems = run_threads(kThreads, [&](std::size_t i) {
        if (insert_limited(*store, racers[i], 5)) ++inserted;
    });
    require_no_problems(problems);
    CHECK(inserted == 5);
    CHECK(store->list("org-race").size() == 5);
}

void list_order(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(5);
    std::vector<Chatbot> all;
    // Three share one created_at (ties broken by id descending), others are spread out.
    for (int i = 0; i < 3; ++i) all.push_back(f.make("org-a", cat("tie ", i)));
    all.push_back(f.make("org-a", "older", kBaseTime - 3600));
    all.push_back(f.make("org-a", "newer", kBaseTime + 3600));
    all.push_back(f.make("org-a", "newest", kBaseTime + 7200));
    all.push_back(f.make("org-a", "oldest", kBaseTime - 86400));
    for (const auto& c : all) insert(*store, c);

    std::vector<Chatbot> expected = all;
    std::sort(expected.begin(), expected.end(), [](const Chatbot& a, const Chatbot& b) {
        if (a.created_at != b.created_at) return a.created_at > b.created_at;
        return a.id > b.id;
    });
    CHECK(store->list("org-a") == expected);
}

// Keyset pages (API.md section 15): walking with any page size gives list() exactly; a
// page starts strictly after its position, even a position no row has (a deleted one).
void list_page_walks_the_list(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(7);
    for (int i = 0; i < 4; ++i) insert(*store, f.make("org-a", cat("tie ", i)));
    for (int i = 1; i <= 5; ++i)
        insert(*store, f.make("org-a", cat("spread ", i), kBaseTime + 60 * i));
    insert(*store, f.make("org-b", "foreign", kBaseTime + 30));
    const std::vector<Chatbot> all = store->list("org-a");
    REQUIRE(all.size() == 9);
    for (std::size_t size : {1u, 2u, 4u, 9u, 10u}) {
        INFO("page size " << size);
        std::vector<Chatbot> walked;
        std::optional<PagePosition> after;
        for (int pages = 0; pages < 20; ++pages) {
            const auto page = store->list_page("org-a", after, size);
            CHECK(page.size() <= size);
            walked.insert(walked.end(), page.begin(), page.end());
            if (page.size() < size) break;
            after = PagePosition{page.back().created_at, page.back().id};
        }
        CHECK(walked == all);
    }
    CHECK(store->list_page("org-b", std::nullopt, 5) == store->list("org-b"));
    CHECK(store->list_page("org-c", std::nullopt, 5).empty());
    // After a position between rows: the next one on.
    const PagePosition between{all[4].created_at, all[4].id + "!"};  // sorts just after all[4]
    CHECK(store->list_page("org-a", between, 1) == std::vector<Chatbot>{all[4]});
    CHECK(store->list_page("org-a", PagePosition{all[8].created_at, all[8].id}, 3).empty());
}

void list_is_scoped_to_organization(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(6);
    const Chatbot a1 = f.make("org-a", "a1");
    const Chatbot a2 = f.make("org-a", "a2", kBaseTime + 1);
    const Chatbot b1 = f.make("org-b", "b1");
    insert(*store, a1);
    insert(*store, a2);
    insert(*store, b1);
    CHECK(store->list("org-a") == std::vector<Chatbot>{a2, a1});
    CHECK(store->list("org-b") == std::vector<Chatbot>{b1});
    CHECK(store->list("org-c").empty());
    CHECK(store->list("").empty());
}

// --- Cases: update ---

void update_changes_name_and_settings(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(7);
    const Chatbot c = f.make("org-a", "Before");
    insert(*store, c);
    const auto updated = store->update(
        "org-a", c.id,
        [](Chatbot& x) {
            x.name = "After";
            x.settings = object_of(R"({"a":1})");
        },
        journal_entry());
    REQUIRE(updated);
    Chatbot expected = c;
    expected.name = "After";
    expected.settings = object_of(R"({"a":1})");
    CHECK(*updated == expected);
    CHECK(store->get("org-a", c.id) == expected);
    CHECK(store->list("org-a") == std::vector<Chatbot>{expected});
    // The key is untouched.
    const auto by_key = store->find_by_key_digest(digest_for(c.id));
    REQUIRE(by_key);
    CHECK(*by_key == owner_of(expected));
}

void update_not_found(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(8);
    const Chatbot c = f.make("org-a", "Mine");
    insert(*store, c);
    const auto rename = [](Chatbot& x) { x.name = "Hijacked"; };
    CHECK_FALSE(store->update("org-b", c.id, rename, journal_entry()));
    CHECK_FALSE(store->update("org-a", f.uuid(), rename, journal_entry()));
    CHECK(store->get("org-a", c.id) == c);
}

void update_whose_mutate_throws_writes_nothing(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(9);
    Chatbot c = f.make("org-a", "Stable");
    c.settings = object_of(R"({"keep":true})");
    insert(*store, c);

    try {
        store->update(
            "org-a", c.id,
            [](Chatbot& x) {
                x.name = "Half done";
                x.settings = object_of(R"({"keep":false})");
                throw Error(ErrorCode::invalid_argument, "settings too deep", "settings");
            },
            journal_entry());
        FAIL("update returned although mutate threw");
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::invalid_argument);
        CHECK(e.field() == "settings");
    }
    CHECK(store->get("org-a", c.id) == c);

    // Exceptions of any type propagate unchanged.
    try {
        store->update(
            "org-a", c.id,
            [](Chatbot& x) {
                x.name = "Half done";
                throw CustomFailure{42};
            },
            journal_entry());
        FAIL("update returned although mutate threw");
    } catch (const CustomFailure& e) {
        CHECK(e.value == 42);
    }
    CHECK(store->get("org-a", c.id) == c);

    // The store is not left stuck: the next update works.
    const auto ok = store->update(
        "org-a", c.id, [](Chatbot& x) { x.name = "Renamed"; }, journal_entry());
    REQUIRE(ok);
    CHECK(ok->name == "Renamed");
    CHECK(store->get("org-a", c.id)->name == "Renamed");
}

void concurrent_updates_lose_nothing(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(10);
    const Chatbot c = f.make("org-a", "Shared");
    insert(*store, c);

    constexpr std::size_t kThreads = 16;
    constexpr int kRounds = 5;
    const auto problems = run_threads(kThreads, [&](std::size_t i) {
        for (int round = 0; round < kRounds; ++round) {
            const std::string key = cat("t", i, "r", round);
            if (!merge_member(*store, "org-a", c.id, key, static_cast<std::int64_t>(i)))
                throw std::runtime_error("update found no chatbot");
        }
    });
    require_no_problems(problems);

    const auto final_state = store->get("org-a", c.id);
    REQUIRE(final_state);
    const boost::json::object settings = settings_of(*final_state);
    CHECK(settings.size() == kThreads * kRounds);
    for (std::size_t i = 0; i < kThreads; ++i) {
        for (int round = 0; round < kRounds; ++round) {
            const std::string key = cat("t", i, "r", round);
            INFO(key);
            const auto* v = settings.if_contains(key);
            REQUIRE(v);
            CHECK(*v == boost::json::value(static_cast<std::int64_t>(i)));
        }
    }
}

void failing_updates_do_not_disturb_concurrent_ones(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(11);
    const Chatbot c = f.make("org-a", "Shared");
    insert(*store, c);

    constexpr std::size_t kThreads = 12;
    std::vector<int> outcome(kThreads, -1);  // 1 = applied, 0 = threw as intended
    const auto problems = run_threads(kThreads, [&](std::size_t i) {
        const std::string key = cat("k", i);
        if (i % 2 == 0) {
            if (!merge_member(*store, "org-a", c.id, key, true))
                throw std::runtime_error("update found no chatbot");
            outcome[i] = 1;
            return;
        }
        try {
            store->update(
                "org-a", c.id,
                [&](Chatbot& x) {
                    x.settings = object_of(R"({"poisoned":true})");
                    throw Error(ErrorCode::invalid_argument, "rejected", "settings");
                },
                journal_entry());
        } catch (const Error& e) {
            if (e.code() == ErrorCode::invalid_argument) outcome[i] = 0;
        }
    });
    require_no_problems(problems);

    const auto final_state = store->get("org-a", c.id);
    REQUIRE(final_state);
    const boost::json::object settings = settings_of(*final_state);
    CHECK_FALSE(settings.contains("poisoned"));
    for (std::size_t i = 0; i < kThreads; ++i) {
        INFO("thread " << i);
        CHECK(outcome[i] == (i % 2 == 0 ? 1 : 0));
        CHECK(settings.contains(cat("k", i)) == (i % 2 == 0));
    }
}

// --- Cases: remove ---

void remove_cascades(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(12);
    const Chatbot c = f.make("org-a", "Doomed");
    const Chatbot keep = f.make("org-a", "Survivor");
    insert(*store, c);
    insert(*store, keep);

    const auto r1 = store->append_capture(
        c.id, batch("conv-1", {message("user", "hi", "m1"), message("assistant", "hello", "m2")}));
    const auto r2 = store->append_capture(c.id, batch("conv-2", {message("user", "again")}));
    const auto rk = store->append_capture(keep.id, batch("conv-1", {message("user", "stay")}));
    REQUIRE(r1);
    REQUIRE(r2);
    REQUIRE(rk);
    CHECK(
        inspect(*store).record_analysis(c.id, r1->conversation_id, "sentiment", R"({"score":1})"));
    CHECK(inspect(*store).record_analysis(c.id, r2->conversation_id, "summary", R"({"text":"x"})"));
    CHECK(inspect(*store).record_analysis(keep.id, rk->conversation_id, "summary", "{}"));
    CHECK(inspect(*store).count_data(c.id) == ChatbotDataCounts{2, 3, 2});

    CHECK(store->remove("org-a", c.id, journal_entry()));
    CHECK_FALSE(store->get("org-a", c.id));
    CHECK_FALSE(store->find_by_key_digest(digest_for(c.id)));
    CHECK(inspect(*store).count_data(c.id) == ChatbotDataCounts{});
    CHECK(store->list("org-a") == std::vector<Chatbot>{keep});
    // The other chatbot's data is untouched.
    CHECK(inspect(*store).count_data(keep.id) == ChatbotDataCounts{1, 1, 1});

    // Nothing can be attached to the deleted chatbot afterwards.
    CHECK_FALSE(store->append_capture(c.id, batch("conv-1", {message("user", "late")})));
    CHECK_FALSE(inspect(*store).record_analysis(c.id, r1->conversation_id, "sentiment", "{}"));
    CHECK(inspect(*store).count_data(c.id) == ChatbotDataCounts{});
    CHECK_FALSE(store->remove("org-a", c.id, journal_entry()));
}

void remove_not_found(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(13);
    const Chatbot c = f.make("org-a", "Mine");
    insert(*store, c);
    REQUIRE(store->append_capture(c.id, batch("conv", {message("user", "x")})));
    CHECK_FALSE(store->remove("org-b", c.id, journal_entry()));
    CHECK_FALSE(store->remove("org-a", f.uuid(), journal_entry()));
    CHECK(store->get("org-a", c.id) == c);
    CHECK(inspect(*store).count_data(c.id) == ChatbotDataCounts{1, 1, 0});
}

void ping_answers(ConformanceTarget& target) {
    auto store = target.open();
    CHECK_NOTHROW(store->ping());
}

}  // namespace chatbotmgr::testing::detail::store_cases
