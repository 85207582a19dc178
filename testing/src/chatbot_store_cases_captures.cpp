// Conformance cases: captures (append_capture), analyses and data counts.
#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "builders.hpp"
#include "cases.hpp"
#include "chatbotmgr/secrets.hpp"
#include "concurrency.hpp"

namespace chatbotmgr::testing::detail::store_cases {

void append_capture_upserts_conversation(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(19);
    const Chatbot a = f.make("org-a", "A");
    const Chatbot b = f.make("org-a", "B");
    insert(*store, a);
    insert(*store, b);

    auto first = batch("conv-1", {message("user", "hi")});
    first.messages[0].sent_at = std::chrono::sys_time<std::chrono::milliseconds>{
        std::chrono::milliseconds{1'705'312'800'123}};
    const auto r1 = store->append_capture(a.id, first);
    REQUIRE(r1);
    CHECK(is_canonical_uuid(r1->conversation_id));
    CHECK(r1->messages_stored == 1);

    // Same external id again, new metadata and user: same internal id.
    auto second = batch("conv-1", {message("assistant", "hello")});
    second.external_user_id = std::nullopt;
    second.metadata = {};
    const auto r2 = store->append_capture(a.id, second);
    REQUIRE(r2);
    CHECK(r2->conversation_id == r1->conversation_id);
    CHECK(r2->messages_stored == 1);

    // Another external id, or the same external id of another chatbot: new conversations.
    const auto r3 = store->append_capture(a.id, batch("conv-2", {message("user", "x")}));
    const auto r4 = store->append_capture(b.id, batch("conv-1", {message("user", "y")}));
    REQUIRE(r3);
    REQUIRE(r4);
    const std::set<std::string> ids{r1->conversation_id, r3->conversation_id, r4->conversation_id};
    CHECK(ids.size() == 3);
    CHECK(inspect(*store).count_data(a.id) == ChatbotDataCounts{2, 3, 0});
    CHECK(inspect(*store).count_data(b.id) == ChatbotDataCounts{1, 1, 0});
}

void append_capture_deduplicates(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(20);
    const Chatbot c = f.make("org-a", "Dedup");
    insert(*store, c);

    const auto first = batch(
        "conv-1", {message("user", "How do I cancel?", "msg_001"),
                   message("assistant", "Go to Settings", "msg_002"), message("user", "no id")});
    const auto r1 = store->append_capture(c.id, first);
    REQUIRE(r1);
    CHECK(r1->messages_stored == 3);

    // The same batch again: only the message without an id is new.
    const auto r2 = store->append_capture(c.id, first);
    REQUIRE(r2);
    CHECK(r2->messages_stored == 1);
    CHECK(r2->conversation_id == r1->conversation_id);

    // Overlap: one stored id, one new id, one without id.
    const auto r3 = store->append_capture(
        c.id, batch("conv-1", {message("assistant", "Go to Settings", "msg_002"),
                               message("user", "Thanks", "msg_003"), message("system", "note")}));
    REQUIRE(r3);
    CHECK(r3->messages_stored == 2);
    CHECK(inspect(*store).count_data(c.id) == ChatbotDataCounts{1, 6, 0});

    // Ids deduplicate within a conversation only.
    const auto r4 =
        store->append_capture(c.id, batch("conv-2", {message("user", "other", "msg_001")}));
    REQUIRE(r4);
    CHECK(r4->messages_stored == 1);

    // A batch whose messages are all stored already still reports the conversation.
    const auto r5 =
        store->append_capture(c.id, batch("conv-1", {message("user", "dup", "msg_003")}));
    REQUIRE(r5);
    CHECK(r5->messages_stored == 0);
    CHECK(r5->conversation_id == r1->conversation_id);
    CHECK(inspect(*store).count_data(c.id) == ChatbotDataCounts{2, 7, 0});
}

void append_capture_for_missing_chatbot(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(21);
    const std::string missing = f.uuid();
    CHECK_FALSE(store->append_capture(missing, batch("conv-1", {message("user", "hi", "m1")})));
    CHECK(inspect(*store).count_data(missing) == ChatbotDataCounts{});
    // The chatbot appearing later starts from nothing.
    Chatbot c = f.make("org-a", "Late");
    c.id = missing;
    insert(*store, c);
    CHECK(inspect(*store).count_data(missing) == ChatbotDataCounts{});
    const auto r = store->append_capture(missing, batch("conv-1", {message("user", "hi", "m1")}));
    REQUIRE(r);
    CHECK(r->messages_stored == 1);
}

void concurrent_identical_captures(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(22);
    const Chatbot c = f.make("org-a", "Retrying client");
    insert(*store, c);

    // A client retrying one request from many threads: every message id stored once.
    constexpr std::size_t kThreads = 8;
    std::vector<CapturedMessage> messages;
    for (int i = 0; i < 10; ++i) messages.push_back(message("user", cat("text ", i), cat("id", i)));
    const CaptureBatch same = batch("conv-retry", messages);
    std::vector<CaptureResult> results(kThreads);
    const auto problems = run_threads(kThreads, [&](std::size_t i) {
        const auto r = store->append_capture(c.id, same);
        if (!r) throw std::runtime_error("append_capture found no chatbot");
        results[i] = *r;
    });
    require_no_problems(problems);
    std::size_t stored = 0;
    for (const auto& r : results) {
        stored += r.messages_stored;
        CHECK(r.conversation_id == results[0].conversation_id);
    }
    CHECK(stored == 10);
    CHECK(inspect(*store).count_data(c.id) == ChatbotDataCounts{1, 10, 0});
}

void record_analysis_rules(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(23);
    const Chatbot a = f.make("org-a", "A");
    const Chatbot b = f.make("org-a", "B");
    insert(*store, a);
    insert(*store, b);
    const auto conv = store->append_capture(a.id, batch("conv-1", {message("user", "hi")}));
    REQUIRE(conv);

    CHECK(inspect(*store).record_analysis(a.id, conv->conversation_id, "sentiment",
                                          R"({"score":0.5})"));
    CHECK(inspect(*store).record_analysis(a.id, conv->conversation_id, "summary",
                                          R"({"text":"hi"})"));
    // Another chatbot's conversation, an unknown conversation, an unknown chatbot.
    CHECK_FALSE(inspect(*store).record_analysis(b.id, conv->conversation_id, "sentiment", "{}"));
    CHECK_FALSE(inspect(*store).record_analysis(a.id, f.uuid(), "sentiment", "{}"));
    CHECK_FALSE(
        inspect(*store).record_analysis(f.uuid(), conv->conversation_id, "sentiment", "{}"));
    CHECK(inspect(*store).count_data(a.id) == ChatbotDataCounts{1, 1, 2});
    CHECK(inspect(*store).count_data(b.id) == ChatbotDataCounts{});
}

void count_data_of_unknown_chatbot(ConformanceTarget& target) {
    auto store = target.open();
    CHECK(inspect(*store).count_data("no-such-chatbot") == ChatbotDataCounts{});
    CHECK(inspect(*store).count_data("") == ChatbotDataCounts{});
}

}  // namespace chatbotmgr::testing::detail::store_cases
