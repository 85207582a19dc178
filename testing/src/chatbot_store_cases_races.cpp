// Conformance cases: races between writers.
#include <algorithm>
#include <atomic>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "builders.hpp"
#include "cases.hpp"
#include "chatbotmgr/error.hpp"
#include "concurrency.hpp"

namespace chatbotmgr::testing::detail::store_cases {

void delete_racing_with_captures(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(24);
    const Chatbot c = f.make("org-a", "Busy");
    insert(*store, c);

    constexpr std::size_t kWriters = 4;
    std::atomic<std::size_t> stored_batches{0};
    std::atomic<std::size_t> finished_writers{0};
    std::atomic<bool> remove_returned{false};
    std::vector<std::string> problems;
    std::thread writers([&] {
        problems = run_threads(kWriters, [&](std::size_t w) {
            struct Finish {
                std::atomic<std::size_t>& n;
                ~Finish() { n.fetch_add(1); }
            } finish{finished_writers};
            for (std::size_t n = 0; n < 100'000; ++n) {
                const bool after_remove = remove_returned.load();
                const auto r = store->append_capture(
                    c.id, batch(cat("conv-", w, "-", n % 7), {message("user", "m", cat("id", n)),
                                                              message("assistant", "reply")}));
                if (r && after_remove)
                    throw std::runtime_error("append_capture succeeded after remove returned");
                if (r) stored_batches.fetch_add(1);
                if (!r && after_remove) return;
            }
            throw std::runtime_error("writer never saw the chatbot disappear");
        });
    });
    // Delete once the writers are well under way (or have stopped on their own).
    while (stored_batches.load() < 3 * kWriters && finished_writers.load() < kWriters)
        std::this_thread::yield();
    const bool removed = store->remove("org-a", c.id, journal_entry());
    remove_returned.store(true);
    writers.join();

    CHECK(removed);
    require_no_problems(problems);
    CHECK(stored_batches.load() >= 3 * kWriters);
    CHECK(inspect(*store).count_data(c.id) == ChatbotDataCounts{});
    CHECK_FALSE(store->get("org-a", c.id));
}

void create_storm(ConformanceTarget& target) {
    auto store = target.open();
    constexpr std::size_t kThreads = 8;
    constexpr std::size_t kPerThread = 20;
    std::vector<std::vector<Chatbot>> made(kThreads);
    for (std::size_t t = 0; t < kThreads; ++t) {
        ChatbotFactory f(1000 + t);
        for (std::size_t i = 0; i < kPerThread; ++i)
            made[t].push_back(f.make("org-storm", cat("bot ", t, "/", i),
                                     kBaseTime + static_cast<std::int64_t>(i)));
    }
    const auto problems = run_threads(kThreads, [&](std::size_t t) {
        for (const auto& c : made[t]) insert(*store, c);
    });
    require_no_problems(problems);

    const auto listed = store->list("org-storm");
    CHECK(listed.size() == kThreads * kPerThread);
    std::set<std::string> ids;
    for (const auto& c : listed) ids.insert(c.id);
    CHECK(ids.size() == kThreads * kPerThread);
    for (const auto& per_thread : made) {
        for (const auto& c : per_thread) {
            const auto found = store->find_by_key_digest(digest_for(c.id));
            INFO(c.name);
            REQUIRE(found);
            CHECK(*found == owner_of(c));
        }
    }
}

void concurrent_inserts_of_one_id(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(25);
    const Chatbot base = f.make("org-a", "Contended");
    constexpr std::size_t kThreads = 8;
    std::vector<int> outcome(kThreads, -1);  // 1 = inserted, 0 = conflict
    const auto problems = run_threads(kThreads, [&](std::size_t i) {
        Chatbot c = base;
        c.name = cat("writer ", i);
        try {
            store->insert(c, digest_for(cat("contended ", i)));
            outcome[i] = 1;
        } catch (const Error& e) {
            if (e.code() != ErrorCode::conflict) throw;
            outcome[i] = 0;
        }
    });
    require_no_problems(problems);
    CHECK(std::count(outcome.begin(), outcome.end(), 1) == 1);
    CHECK(std::count(outcome.begin(), outcome.end(), 0) == static_cast<long>(kThreads - 1));
    const auto stored = store->get("org-a", base.id);
    REQUIRE(stored);
    const auto winner =
        static_cast<std::size_t>(std::find(outcome.begin(), outcome.end(), 1) - outcome.begin());
    CHECK(stored->name == cat("writer ", winner));
    // Only the winner's key exists.
    for (std::size_t i = 0; i < kThreads; ++i) {
        INFO("writer " << i);
        CHECK(store->find_by_key_digest(digest_for(cat("contended ", i))).has_value() ==
              (i == winner));
    }
}

}  // namespace chatbotmgr::testing::detail::store_cases
