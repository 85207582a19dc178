// Conformance cases: cached reads. A registry serves get and list from memory while the
// store's chatbot_generation for the organization stays where it was when they were read,
// so every store that reports one must move it for each write to the organization's
// chatbots before the write returns -- else a registry would answer what was overwritten.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "builders.hpp"
#include "cases.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "concurrency.hpp"

namespace chatbotmgr::testing::detail::store_cases {
namespace {

ChatbotPatch rename(std::string name) {
    return {std::move(name), std::nullopt};
}

ChatbotPatch set_counter(std::int64_t n) {
    return {std::nullopt, boost::json::object{{"n", n}}};
}

std::int64_t counter_of(const Chatbot& c) {
    const auto* n = c.settings.if_contains("n");
    return n ? n->as_int64() : 0;
}

}  // namespace

void chatbot_generation_moves_on_chatbot_writes(ConformanceTarget& target) {
    auto store = target.open();
    if (!store->chatbot_generation("org-a")) {
        WARN("the store reports no chatbot_generation: registries never cache get and list");
        return;
    }
    const auto generation = [&] { return *store->chatbot_generation("org-a"); };
    ChatbotFactory f(43);
    const Chatbot a = f.make("org-a", "Watched");
    auto before = generation();
    insert(*store, a);
    CHECK(generation() > before);
    before = generation();
    REQUIRE(store->update(
        "org-a", a.id, [](Chatbot& c) { c.name = "Renamed"; }, journal_entry()));
    CHECK(generation() > before);
    before = generation();
    REQUIRE(store->replace_key("org-a", a.id, new_key(digest_for("fresh")), std::nullopt,
                               journal_entry()));
    CHECK(generation() > before);
    before = generation();
    REQUIRE(store->remove("org-a", a.id, journal_entry()));
    CHECK(generation() > before);
}

void registry_reads_see_every_write(ConformanceTarget& target) {
    auto store = target.open();
    RegistryOverStore writer(store);
    RegistryOverStore reader(store, 9);  // a second registry over the same data
    const auto created = writer.registry.create("org-a", {"First", {}});
    const std::string& id = created.chatbot.id;
    // Each read below may fill the reader's cache; the next one must still see the write
    // that came between.
    CHECK(reader.registry.get("org-a", id).name == "First");
    CHECK(reader.registry.list("org-a").size() == 1);
    writer.registry.update("org-a", id, rename("Second"));
    CHECK(reader.registry.get("org-a", id).name == "Second");
    CHECK(reader.registry.list("org-a").at(0).name == "Second");
    if (auto cached = reader.registry.cached_get("org-a", id)) CHECK(cached->name == "Second");

    const auto rotated = writer.registry.rotate_key("org-a", id);
    CHECK(reader.registry.get("org-a", id).key_prefix == rotated.chatbot.key_prefix);
    CHECK(reader.registry.list("org-a").at(0).key_prefix == rotated.chatbot.key_prefix);

    writer.set(kBaseTime + 1);  // the newer one comes first in the list
    const auto newer = writer.registry.create("org-a", {"Newer", {}});
    const auto whole = reader.registry.list("org-a");
    REQUIRE(whole.size() == 2);
    CHECK(whole.at(0).id == newer.chatbot.id);
    const auto page = reader.registry.list("org-a", PageRequest{std::nullopt, 1});
    REQUIRE(page.items.size() == 1);
    CHECK(page.items.at(0).id == newer.chatbot.id);
    REQUIRE(page.next);
    if (auto cached = reader.registry.cached_list("org-a", PageRequest{page.next, 1})) {
        REQUIRE(cached->items.size() == 1);
        CHECK(cached->items.at(0).id == id);
        CHECK_FALSE(cached->next);
    }

    writer.registry.remove("org-a", id);
    CHECK(code_of([&] { reader.registry.get("org-a", id); }) == ErrorCode::not_found);
    CHECK_FALSE(reader.registry.cached_get("org-a", id));
    CHECK(reader.registry.list("org-a").size() == 1);
    // Another organization sees none of it, cached or not.
    CHECK(reader.registry.list("org-b").empty());
    CHECK(code_of([&] { reader.registry.get("org-b", newer.chatbot.id); }) == ErrorCode::not_found);
    CHECK_FALSE(reader.registry.cached_get("org-b", newer.chatbot.id));
}

// Readers on other registries race a writer: once update n has returned, no get or list
// that starts afterwards may answer a counter below n.
void registry_reads_never_stale_after_a_write(ConformanceTarget& target) {
    auto store = target.open();
    RegistryOverStore writer(store);
    RegistryOverStore reader_a(store, 11);
    RegistryOverStore reader_b(store, 12);
    const std::string id = writer.registry.create("org-a", {"Counted", {}}).chatbot.id;
    constexpr std::int64_t kWrites = 150;
    std::atomic<std::int64_t> returned{0};
    std::atomic<std::int64_t> stale{0};
    const auto problems = run_threads(3, [&](std::size_t thread) {
        if (thread == 0) {
            for (std::int64_t n = 1; n <= kWrites; ++n) {
                writer.registry.update("org-a", id, set_counter(n));
                returned.store(n);
            }
            return;
        }
        ChatbotRegistry& reader = (thread == 1 ? reader_a : reader_b).registry;
        for (std::int64_t seen = 0; seen < kWrites;) {
            seen = returned.load();
            const std::int64_t got = thread == 1 ? counter_of(reader.get("org-a", id))
                                                 : counter_of(reader.list("org-a").at(0));
            if (got < seen) stale.fetch_add(1);
        }
    });
    require_no_problems(problems);
    CHECK(stale.load() == 0);
    CHECK(counter_of(reader_a.registry.get("org-a", id)) == kWrites);
}

}  // namespace chatbotmgr::testing::detail::store_cases
