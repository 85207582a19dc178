#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <atomic>
#include <cmath>
#include <mutex>
#include <thread>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "chatbotmgr/testing/fakes.hpp"
#include "chatbotmgr/testing/test_registry.hpp"

using namespace chatbotmgr;
namespace json = boost::json;

namespace {

struct Fixture {
    std::shared_ptr<testing::FakeClock> clock = std::make_shared<testing::FakeClock>();
    std::shared_ptr<MemoryStore> store = std::make_shared<MemoryStore>();
    ChatbotRegistry registry{
        store, {.clock = clock, .random = std::make_shared<testing::DeterministicRandom>()}};
};

NewChatbot named(std::string name) {
    return {std::move(name), {}};
}

json::object object_of(std::string_view json_text) {
    return parse_json_strict(json_text).as_object();
}

ChatbotPatch settings_patch(std::string_view json_text) {
    return {std::nullopt, object_of(json_text)};
}

}  // namespace

TEST_CASE_METHOD(Fixture, "create returns the chatbot and a key that authenticates") {
    const auto created = registry.create("org-a", {"  Support Bot ", json::object{{"x", 1}}});
    CHECK(created.chatbot.name == "Support Bot");
    CHECK(created.chatbot.settings == json::object{{"x", 1}});
    CHECK(created.chatbot.key_prefix == created.api_key.substr(0, 14));
    CHECK(format_rfc3339(created.chatbot.created_at) == "2024-01-15T10:00:00Z");
    CHECK(is_api_key_format(created.api_key));
    const auto key = registry.authenticate(created.api_key);
    REQUIRE(key);
    CHECK(key->chatbot_id() == created.chatbot.id);
    CHECK(key->org_id() == "org-a");
    CHECK(key->slot() == KeySlot::current);
    CHECK(registry.get("org-a", created.chatbot.id) == created.chatbot);
}

TEST_CASE_METHOD(Fixture, "settings default to {}") {
    CHECK(registry.create("org-a", named("a")).chatbot.settings.empty());
}

TEST_CASE_METHOD(Fixture, "list is newest first, ties by id descending, scoped to the org") {
    const auto a = registry.create("org-a", named("a")).chatbot;
    const auto b = registry.create("org-a", named("b")).chatbot;  // same second as a
    clock->advance(std::chrono::seconds(5));
    const auto c = registry.create("org-a", named("c")).chatbot;
    registry.create("org-b", named("other"));

    const auto list = registry.list("org-a");
    REQUIRE(list.size() == 3);
    CHECK(list[0].id == c.id);
    CHECK(list[1].id == std::max(a.id, b.id));
    CHECK(list[2].id == std::min(a.id, b.id));
    CHECK(registry.list("org-c").empty());
}

TEST_CASE_METHOD(Fixture, "another organization's chatbot behaves exactly like a missing one") {
    const auto bot = registry.create("org-a", named("a")).chatbot;
    CHECK(testing::code_of([&] { registry.get("org-b", bot.id); }) == ErrorCode::not_found);
    CHECK(testing::code_of([&] {
              registry.update("org-b", bot.id, {"x", {}});
          }) == ErrorCode::not_found);
    CHECK(testing::code_of([&] { registry.rotate_key("org-b", bot.id); }) == ErrorCode::not_found);
    CHECK(testing::code_of([&] { registry.remove("org-b", bot.id); }) == ErrorCode::not_found);
    CHECK(registry.get("org-a", bot.id).name == "a");  // untouched
}

TEST_CASE_METHOD(Fixture, "ids that are not lowercase canonical UUIDs are not found") {
    const auto bot = registry.create("org-a", named("a")).chatbot;
    std::string upper = bot.id;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(ch));
    CHECK(testing::code_of([&] { registry.get("org-a", upper); }) == ErrorCode::not_found);
    CHECK(testing::code_of([&] { registry.get("org-a", "nope"); }) == ErrorCode::not_found);
}

TEST_CASE_METHOD(Fixture, "update replaces the name and deep-merges settings") {
    const auto bot =
        registry.create("org-a", {"a", object_of(R"({"a":{"b":1,"c":2},"d":[1]})")}).chatbot;
    const auto updated = registry.update(
        "org-a", bot.id, {"renamed", object_of(R"({"a":{"c":null,"e":3},"d":[2]})")});
    CHECK(updated.name == "renamed");
    CHECK(updated.settings == object_of(R"({"a":{"b":1,"e":3},"d":[2]})"));
    CHECK(registry.get("org-a", bot.id) == updated);
}

TEST_CASE_METHOD(Fixture, "an empty patch returns the chatbot unchanged") {
    const auto bot = registry.create("org-a", named("a")).chatbot;
    CHECK(registry.update("org-a", bot.id, {}) == bot);
}

TEST_CASE_METHOD(Fixture, "validation happens before existence, and a bad patch writes nothing") {
    const auto bot = registry.create("org-a", {"a", json::object{{"k", 1}}}).chatbot;
    CHECK(testing::code_of([&] {
              registry.update("org-a", "5b0a3f9e-2c1d-4e8f-9a7b-1c2d3e4f5a6b", {"", {}});
          }) == ErrorCode::invalid_argument);
    // A merge whose result is over the size limit is rejected as a whole.
    const std::string big(kMaxSettingsBytes, 'x');
    CHECK(testing::code_of([&] {
              registry.update("org-a", bot.id, {"new name", json::object{{"big", big}}});
          }) == ErrorCode::invalid_argument);
    CHECK(registry.get("org-a", bot.id) == bot);
}

TEST_CASE_METHOD(Fixture, "settings size is checked on the merged result, the limit included") {
    const std::string filler(kMaxSettingsBytes - std::string(R"({"a":""})").size(), 'x');
    const auto bot = registry.create("org-a", {"a", json::object{{"a", filler}}}).chatbot;
    CHECK(to_compact_json(bot.settings).size() == kMaxSettingsBytes);
    CHECK(testing::code_of([&] {
              registry.update("org-a", bot.id, settings_patch(R"({"b":1})"));
          }) == ErrorCode::invalid_argument);
    // Shrinking one member makes room for another.
    CHECK_NOTHROW(registry.update("org-a", bot.id, settings_patch(R"({"a":"short","b":1})")));
}

TEST_CASE_METHOD(Fixture, "rotate_key kills the old key at once and changes the prefix") {
    const auto created = registry.create("org-a", named("a"));
    CHECK(registry.authenticate(created.api_key)->chatbot_id() == created.chatbot.id);  // cached
    const auto rotated = registry.rotate_key("org-a", created.chatbot.id);
    CHECK(rotated.api_key != created.api_key);
    CHECK(rotated.chatbot.key_prefix == rotated.api_key.substr(0, 14));
    CHECK_FALSE(registry.authenticate(created.api_key));
    CHECK(registry.authenticate(rotated.api_key)->chatbot_id() == created.chatbot.id);
}

TEST_CASE_METHOD(Fixture, "remove deletes the chatbot, its data, and its key") {
    const auto created = registry.create("org-a", named("a"));
    const auto key = registry.authenticate(created.api_key);
    REQUIRE(key);
    const std::string& id = key->chatbot_id();
    CaptureBatch batch{"conv", std::nullopt, {}, {{"user", "hi", "m1", std::nullopt}}};
    const auto stored = registry.capture(*key, batch);
    CHECK(stored.messages_stored == 1);
    CHECK(store->count_data(id).messages == 1);

    registry.remove("org-a", id);
    CHECK(store->count_data(id) == ChatbotDataCounts{});
    CHECK_FALSE(registry.authenticate(created.api_key));
    CHECK(testing::code_of([&] { registry.get("org-a", id); }) == ErrorCode::not_found);
    CHECK(testing::code_of([&] { registry.capture(*key, batch); }) == ErrorCode::unauthenticated);
    CHECK(testing::code_of([&] { registry.remove("org-a", id); }) == ErrorCode::not_found);
}

TEST_CASE_METHOD(Fixture, "an update keeps the key valid") {
    const auto created = registry.create("org-a", named("a"));
    registry.authenticate(created.api_key);
    registry.update("org-a", created.chatbot.id, {"b", {}});
    CHECK(registry.authenticate(created.api_key)->chatbot_id() == created.chatbot.id);
}

TEST_CASE_METHOD(Fixture, "malformed and unknown keys are refused without an exception") {
    CHECK_FALSE(registry.authenticate(""));
    CHECK_FALSE(registry.authenticate("ob_live_nothex"));
    CHECK_FALSE(registry.authenticate("ob_live_00000000000000000000000000000000"));
}

TEST_CASE_METHOD(Fixture, "bad input to create is a typed error and writes nothing") {
    CHECK(testing::code_of([&] { registry.create("org-a", named("")); }) ==
          ErrorCode::invalid_argument);
    CHECK(testing::code_of([&] {
              registry.create("org-a", {"a", json::object{{"x", std::nan("")}}});
          }) == ErrorCode::invalid_argument);
    CHECK(testing::code_of([&] {
              registry.create("org-a", {"a", json::object{{"bad\xff", 1}}});
          }) == ErrorCode::invalid_argument);
    CHECK(testing::code_of([&] { registry.create("", named("a")); }) ==
          ErrorCode::invalid_argument);
    CHECK(registry.list("org-a").empty());
}

TEST_CASE(
    "with the key cache, rotation under concurrent authentication never revives the old key") {
    auto store = std::make_shared<MemoryStore>();
    ChatbotRegistry registry(store);
    auto current = registry.create("org", named("a"));
    std::mutex retired_mutex;
    std::vector<std::string> retired;  // keys whose rotation has returned: dead from then on
    std::atomic<bool> stop{false};
    std::atomic<int> old_key_successes{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t) {
        readers.emplace_back([&] {
            while (!stop) {
                std::vector<std::string> snapshot;
                {
                    std::lock_guard lock(retired_mutex);
                    snapshot.assign(retired.end() - std::min<std::size_t>(retired.size(), 3),
                                    retired.end());
                }
                for (const auto& key : snapshot) {
                    if (registry.authenticate(key)) ++old_key_successes;
                }
            }
        });
    }
    for (int i = 0; i < 200; ++i) {
        const auto rotated = registry.rotate_key("org", current.chatbot.id);
        {
            std::lock_guard lock(retired_mutex);
            retired.push_back(current.api_key);
        }
        current = rotated;
        registry.authenticate(current.api_key);  // refill the cache with the new key
    }
    stop = true;
    for (auto& t : readers) t.join();
    CHECK(old_key_successes == 0);
}

TEST_CASE("TestRegistry creates a chatbot in one line, deterministically") {
    testing::TestRegistry a, b;
    const auto bot_a = a.add_chatbot("org-1", "Support", {{"lang", "en"}});
    const auto bot_b = b.add_chatbot("org-1", "Support", {{"lang", "en"}});
    CHECK(bot_a.api_key == bot_b.api_key);  // same seed, same key
    CHECK(bot_a.chatbot == bot_b.chatbot);
    CHECK(a.registry.authenticate(bot_a.api_key)->chatbot_id() == bot_a.chatbot.id);
    CHECK(a.registry.get("org-1", bot_a.chatbot.id).settings == json::object{{"lang", "en"}});
    a.clock->advance(std::chrono::hours(1));
    CHECK(a.add_chatbot().chatbot.created_at - bot_a.chatbot.created_at == std::chrono::hours(1));
}

TEST_CASE(
    "registries over one store stay exact: a rotation or deletion through one is seen "
    "by all when it returns") {
    auto store = std::make_shared<MemoryStore>();
    ChatbotRegistry admin(store), ingest(store);
    const auto a = admin.create("org", named("a"));
    const auto b = admin.create("org", named("b"));
    REQUIRE(ingest.authenticate(a.api_key));  // both now cached by ingest
    REQUIRE(ingest.authenticate(b.api_key));

    const auto rotated = admin.rotate_key("org", a.chatbot.id);
    CHECK_FALSE(ingest.authenticate(a.api_key));
    CHECK(ingest.authenticate(rotated.api_key));

    admin.remove("org", b.chatbot.id);
    CHECK_FALSE(ingest.authenticate(b.api_key));

    admin.update("org", a.chatbot.id, {"renamed", object_of(R"({"k":1})")});
    CHECK(ingest.get("org", a.chatbot.id).name == "renamed");
    CHECK(ingest.get("org", a.chatbot.id).settings == object_of(R"({"k":1})"));
}

namespace {

// A bad batch for each rule, with the field the HTTP API names for it.
std::vector<std::pair<CaptureBatch, std::string>> bad_batches() {
    const CapturedMessage ok{"user", "hi", std::nullopt, std::nullopt};
    const CaptureBatch base{"conv", std::nullopt, {}, {ok}};
    std::vector<std::pair<CaptureBatch, std::string>> out;
    auto add = [&](std::string field, auto change) {
        CaptureBatch b = base;
        change(b);
        out.emplace_back(std::move(b), std::move(field));
    };
    add("conversationId", [](CaptureBatch& b) { b.external_conversation_id.clear(); });
    add("conversationId", [](CaptureBatch& b) { b.external_conversation_id.assign(201, 'c'); });
    add("messages", [](CaptureBatch& b) { b.messages.clear(); });
    add("messages", [&](CaptureBatch& b) { b.messages.assign(101, ok); });
    add("messages[0].role", [](CaptureBatch& b) { b.messages[0].role = "robot"; });
    add("messages[1].content", [&](CaptureBatch& b) {
        b.messages.push_back(ok);
        b.messages[1].content.assign(kMaxContentBytes + 1, 'x');
    });
    add("messages[0].content", [](CaptureBatch& b) { b.messages[0].content = "bad \xc3"; });
    add("messages[0].id", [](CaptureBatch& b) { b.messages[0].external_id = ""; });
    add("messages[0].id",
        [](CaptureBatch& b) { b.messages[0].external_id = std::string(201, 'i'); });
    add("user", [](CaptureBatch& b) { b.metadata["user"] = 1; });
    add("custom.plan", [](CaptureBatch& b) {
        b.metadata["custom"] = json::object{{"plan", json::array{}}};
    });
    add("metadata", [](CaptureBatch& b) { b.metadata["other"] = json::object{}; });
    return out;
}

}  // namespace

TEST_CASE("capture from C++ refuses what the HTTP API refuses, naming the same field") {
    testing::TestRegistry t;
    const auto bot = t.add_chatbot();
    const auto key = t.registry.authenticate(bot.api_key);
    REQUIRE(key);
    for (auto& entry : bad_batches()) {
        // Named copies: clang 14 cannot capture structured bindings in a lambda.
        CaptureBatch& batch = entry.first;
        const std::string& field = entry.second;
        INFO(field);
        const auto error = testing::error_of([&] { t.registry.capture(*key, batch); });
        REQUIRE(error);
        CHECK(error->code() == ErrorCode::invalid_argument);
        CHECK(error->field() == field);
    }
    CHECK(t.store->count_data(bot.chatbot.id) == ChatbotDataCounts{});
}

TEST_CASE("capture from C++ keeps the first of two messages with the same id") {
    testing::TestRegistry t;
    const auto bot = t.add_chatbot();
    const auto key = t.registry.authenticate(bot.api_key);
    REQUIRE(key);
    CaptureBatch batch{"conv", std::nullopt, {}, {}};
    batch.messages.push_back({"user", "first", "m1", std::nullopt});
    batch.messages.push_back({"user", "second", "m1", std::nullopt});
    CHECK(t.registry.capture(*key, batch).messages_stored == 1);
}

// API.md section 12: usage is written by the registry itself, in the background, at its
// interval -- no flush_key_usage() call here -- and what is left is written when the
// registry goes away.
TEST_CASE("last use is written in the background at the flush interval, and at destruction") {
    auto clock = std::make_shared<testing::FakeClock>();
    auto store = std::make_shared<MemoryStore>();
    RegistryOptions options;
    options.clock = clock;
    options.key_usage_flush_interval = std::chrono::milliseconds(20);
    std::string id;
    {
        ChatbotRegistry registry(store, options);
        const auto bot = registry.create("org-1", {"Used", {}});
        id = bot.chatbot.id;
        CaptureBatch batch;
        batch.external_conversation_id = "c";
        batch.messages.push_back({"user", "hi", std::nullopt, std::nullopt});
        registry.capture(*registry.authenticate(bot.api_key), batch);
        const auto used = std::chrono::floor<std::chrono::seconds>(clock->now());
        // Bounded wait for the background write (it is due after 20 ms).
        std::optional<std::chrono::sys_seconds> seen;
        for (int i = 0; i < 500 && !seen; ++i) {
            seen = store->keys("org-1", id)->current.last_used_at;
            if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        CHECK(seen == used);

        // A later use, then the registry is destroyed before the next interval could
        // matter: the destructor writes it.
        options.key_usage_flush_interval = std::chrono::hours(1);
        ChatbotRegistry slow(store, options);
        clock->advance(std::chrono::seconds(30));
        slow.capture(*slow.authenticate(bot.api_key), batch);
    }
    CHECK(store->keys("org-1", id)->current.last_used_at ==
          std::chrono::floor<std::chrono::seconds>(clock->now()));
}

TEST_CASE_METHOD(Fixture, "cached_get and cached_list answer only what get and list have read") {
    const auto created = registry.create("org-a", named("Cached"));
    const std::string& id = created.chatbot.id;
    CHECK_FALSE(registry.cached_get("org-a", id));
    CHECK_FALSE(registry.cached_list("org-a"));
    CHECK_FALSE(registry.cached_list("org-a", PageRequest{std::nullopt, 10}));

    const Chatbot got = registry.get("org-a", id);
    const auto cached = registry.cached_get("org-a", id);
    REQUIRE(cached);
    CHECK(*cached == got);
    const auto whole = registry.list("org-a");
    REQUIRE(registry.cached_list("org-a"));
    CHECK(*registry.cached_list("org-a") == whole);
    CHECK(registry.cached_list("org-a", PageRequest{std::nullopt, 10})->items == whole);

    // Scoped like get and list: another organization's entries are never answered.
    CHECK_FALSE(registry.cached_get("org-b", id));
    CHECK_FALSE(registry.cached_list("org-b"));
    // The checks of get and list come first, cached or not.
    CHECK(testing::code_of([&] { registry.cached_get("org-a", "NOT-A-UUID"); }) ==
          ErrorCode::not_found);
    CHECK(testing::code_of([&] {
              registry.cached_list("org-a", PageRequest{std::nullopt, 0});
          }) == ErrorCode::invalid_argument);

    // A write to the organization: nothing of it is answered from memory any more, and a
    // snapshot taken before stays as it was.
    registry.update("org-a", id, {std::string("Renamed"), std::nullopt});
    CHECK_FALSE(registry.cached_get("org-a", id));
    CHECK_FALSE(registry.cached_list("org-a"));
    CHECK(cached->name == "Cached");
    CHECK(registry.get("org-a", id).name == "Renamed");
    CHECK(registry.cached_get("org-a", id)->name == "Renamed");
}

TEST_CASE("the chatbot cache is off when asked, and holds nothing past its capacity") {
    auto store = std::make_shared<MemoryStore>();
    RegistryOptions off;
    off.cache_chatbots = false;
    ChatbotRegistry uncached(store, off);
    const auto small = uncached.create("org-a", named("Small"));
    uncached.get("org-a", small.chatbot.id);
    uncached.list("org-a");
    CHECK_FALSE(uncached.cached_get("org-a", small.chatbot.id));
    CHECK_FALSE(uncached.cached_list("org-a"));

    RegistryOptions small_cache;
    small_cache.chatbot_cache_bytes = 4096;
    ChatbotRegistry bounded(store, small_cache);
    json::object large;
    large["text"] = std::string(8192, 'x');
    const auto big = bounded.create("org-a", {"Big", large});
    CHECK(bounded.get("org-a", big.chatbot.id).settings == large);  // read, not kept
    CHECK_FALSE(bounded.cached_get("org-a", big.chatbot.id));
    CHECK(bounded.list("org-a").size() == 2);
    CHECK_FALSE(bounded.cached_list("org-a"));
    bounded.get("org-a", small.chatbot.id);
    CHECK(bounded.cached_get("org-a", small.chatbot.id));
}
