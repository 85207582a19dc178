// Conformance cases: reopening a persistent store keeps every acknowledged write.
#include <stdexcept>
#include <string>
#include <vector>

#include "builders.hpp"
#include "cases.hpp"
#include "concurrency.hpp"

namespace chatbotmgr::testing::detail::store_cases {

void reopen_keeps_acknowledged_writes(ConformanceTarget& target) {
    ChatbotFactory f(26);
    Chatbot kept = f.make("org-a", "Kept");
    const Chatbot gone = f.make("org-a", "Gone", kBaseTime + 5);
    const Chatbot other_org = f.make("org-b", "Other", kBaseTime + 9);
    const Digest rotated = digest_for("rotated");
    std::string conversation_id;
    {
        auto store = target.open();
        insert(*store, kept);
        insert(*store, gone);
        insert(*store, other_org);
        REQUIRE(store->update(
            "org-a", kept.id,
            [](Chatbot& x) {
                x.name = "Kept (renamed)";
                x.settings = object_of(R"({"theme":"dark"})");
            },
            journal_entry()));
        REQUIRE(
            store->replace_key("org-a", kept.id, new_key(rotated), std::nullopt, journal_entry()));
        const auto r = store->append_capture(
            kept.id, batch("conv-1", {message("user", "hi", "m1"), message("assistant", "yo")}));
        REQUIRE(r);
        conversation_id = r->conversation_id;
        REQUIRE(inspect(*store).record_analysis(kept.id, conversation_id, "summary", "{}"));
        REQUIRE(store->append_capture(gone.id, batch("conv-1", {message("user", "bye")})));
        REQUIRE(store->remove("org-a", gone.id, journal_entry()));
    }  // the store is destroyed here
    auto store = target.open();
    kept.name = "Kept (renamed)";
    kept.settings = object_of(R"({"theme":"dark"})");
    kept.key_prefix = prefix_for(rotated);
    CHECK(store->get("org-a", kept.id) == kept);
    CHECK(store->list("org-a") == std::vector<Chatbot>{kept});
    CHECK(store->list("org-b") == std::vector<Chatbot>{other_org});
    CHECK(store->find_by_key_digest(rotated) == owner_of(kept));
    CHECK_FALSE(store->find_by_key_digest(digest_for(kept.id)));
    CHECK_FALSE(store->find_by_key_digest(digest_for(gone.id)));
    CHECK(inspect(*store).count_data(kept.id) == ChatbotDataCounts{1, 2, 1});
    CHECK(inspect(*store).count_data(gone.id) == ChatbotDataCounts{});
    // Deduplication state and conversation identity survive too.
    const auto again =
        store->append_capture(kept.id, batch("conv-1", {message("user", "hi", "m1")}));
    REQUIRE(again);
    CHECK(again->messages_stored == 0);
    CHECK(again->conversation_id == conversation_id);
}

void reopen_keeps_concurrent_writes(ConformanceTarget& target) {
    constexpr std::size_t kThreads = 8;
    constexpr std::size_t kPerThread = 10;
    std::vector<std::vector<Chatbot>> made(kThreads);
    for (std::size_t t = 0; t < kThreads; ++t) {
        ChatbotFactory f(2000 + t);
        for (std::size_t i = 0; i < kPerThread; ++i)
            made[t].push_back(f.make("org-durable", cat("bot ", t, "/", i)));
    }
    {
        auto store = target.open();
        const auto problems = run_threads(kThreads, [&](std::size_t t) {
            for (const auto& c : made[t]) {
                insert(*store, c);
                if (!store->append_capture(c.id, batch("conv", {message("user", "x", "m")})))
                    throw std::runtime_error("capture found no chatbot");
            }
        });
        require_no_problems(problems);
    }
    auto store = target.open();
    CHECK(store->list("org-durable").size() == kThreads * kPerThread);
    for (const auto& per_thread : made) {
        for (const auto& c : per_thread) {
            INFO(c.name);
            CHECK(store->find_by_key_digest(digest_for(c.id)) == owner_of(c));
            CHECK(inspect(*store).count_data(c.id) == ChatbotDataCounts{1, 1, 0});
        }
    }
}

}  // namespace chatbotmgr::testing::detail::store_cases
