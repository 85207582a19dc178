// Race tests: storms of concurrent registry calls on the in-memory store and on SQLite.
// Run in the normal suite and under ThreadSanitizer (label "race"). Worker threads only
// count what they see; every assertion runs on the main thread (Catch2 is not
// thread-safe). Counts are fixed; nothing here depends on timing to pass.
#include <catch2/catch.hpp>

#include <SQLiteCpp/SQLiteCpp.h>
#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "chatbotmgr/capture.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/secrets.hpp"
#include "storms.hpp"
#include "support.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::reliability;
using chatbotmgr::reliability::MemoryTarget;
using chatbotmgr::reliability::SqliteTarget;
namespace json = boost::json;

namespace {

NewChatbot named(std::string name) {
    return NewChatbot{std::move(name), {}};
}

CaptureBatch batch(const std::string& conversation, int n) {
    CaptureBatch b;
    b.external_conversation_id = conversation;
    b.messages.push_back({"user", "question " + std::to_string(n), "q" + std::to_string(n), {}});
    b.messages.push_back({"assistant", "answer " + std::to_string(n), std::nullopt, {}});
    return b;
}

// Rows that point at a parent that no longer exists, in any table of an SQLite file.
std::int64_t sqlite_orphans(const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    return db
        .execAndGet(
            "SELECT (SELECT count(*) FROM conversations WHERE chatbot_id NOT IN "
            "(SELECT id FROM chatbots)) + (SELECT count(*) FROM messages WHERE "
            "conversation_id NOT IN (SELECT id FROM conversations)) + (SELECT count(*) "
            "FROM analysis_results WHERE conversation_id NOT IN (SELECT id FROM "
            "conversations) OR chatbot_id NOT IN (SELECT id FROM chatbots))")
        .getInt64();
}

}  // namespace

TEMPLATE_TEST_CASE("race: after rotate_key returns, the old key never authenticates", "[race]",
                   MemoryTarget, SqliteTarget) {
    TestType target;
    for (const bool cache : {true, false}) {
        INFO("key cache " << (cache ? "on" : "off"));
        RegistryOptions options;
        options.cache_keys = cache;
        ChatbotRegistry registry(target.store, options);
        const RotationStorm r = rotation_storm(registry, 40, 3);
        CHECK(r.rotate_errors == 0);
        CHECK(r.stale_tries > 0);
        CHECK(r.stale_accepted == 0);
        CHECK(r.current_rejected == 0);
        CHECK(r.wrong_bot == 0);
        CHECK(r.other_errors == 0);
        CHECK(r.alive_after == 1);  // only the newest key
    }
}

TEMPLATE_TEST_CASE("race: delete vs capture leaves no orphan conversation or message", "[race]",
                   MemoryTarget, SqliteTarget) {
    constexpr int kRounds = 6;
    constexpr int kCapturers = 3;
    TestType target;
    ChatbotRegistry registry(target.store);
    std::vector<std::string> deleted_ids;
    long total_stored = 0, late_successes = 0, other_errors = 0;

    for (int round = 0; round < kRounds; ++round) {
        const auto created = registry.create("org-race", named("doomed"));
        std::atomic<bool> removed{false};
        std::atomic<long> successes{0}, late{0}, errors{0}, stored{0};
        std::vector<std::thread> capturers;
        for (int c = 0; c < kCapturers; ++c) {
            capturers.emplace_back([&, c] {
                for (int n = 0; n < 400; ++n) {
                    const bool after_remove = removed.load();
                    try {
                        const auto key = registry.authenticate(created.api_key);
                        if (!key) {
                            if (after_remove) return;  // deleted: the key is dead for good
                            continue;
                        }
                        const auto result = registry.capture(
                            *key,
                            batch("conv-" + std::to_string(c) + "-" + std::to_string(n % 5), n));
                        // An analysis row too, so the cascade has every table to clear.
                        target.store->record_analysis(key->chatbot_id(), result.conversation_id,
                                                      "summary", "{}");
                        stored += static_cast<long>(result.messages_stored);
                        ++successes;
                        if (after_remove) ++late;
                    } catch (const Error& e) {
                        if (e.code() != ErrorCode::unauthenticated) ++errors;
                        if (after_remove) return;  // deleted: the key is dead for good
                    }
                }
            });
        }
        // Delete while the capturers are busy (after a few captures landed, if they do soon).
        for (int spin = 0; spin < 100000 && successes.load() < 3 * (round + 1); ++spin)
            std::this_thread::yield();
        registry.remove("org-race", created.chatbot.id);
        removed.store(true);
        for (auto& t : capturers) t.join();

        total_stored += stored.load();
        late_successes += late.load();
        other_errors += errors.load();
        deleted_ids.push_back(created.chatbot.id);
    }

    CHECK(total_stored > 0);
    CHECK(late_successes == 0);
    CHECK(other_errors == 0);
    for (const auto& id : deleted_ids) CHECK(target.store->count_data(id) == ChatbotDataCounts{});
    if (!target.db_path.empty()) CHECK(sqlite_orphans(target.db_path) == 0);
}

TEMPLATE_TEST_CASE("race: concurrent merge patches never lose a member", "[race]", MemoryTarget,
                   SqliteTarget) {
    TestType target;
    ChatbotRegistry registry(target.store);
    const MergeStorm m = merge_storm(registry, 4, 25);
    CHECK(m.errors == 0);
    CHECK(m.missing == 0);
    CHECK(m.unexpected == 0);
    CHECK(m.members == m.expected_members);
}

TEMPLATE_TEST_CASE("race: create storms give unique ids and keys", "[race]", MemoryTarget,
                   SqliteTarget) {
    constexpr int kThreads = 4;
    constexpr int kCreates = 50;
    TestType target;
    ChatbotRegistry registry(target.store);

    std::vector<std::vector<ChatbotWithKey>> made(kThreads);
    std::atomic<long> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kCreates; ++i) {
                try {
                    made[t].push_back(registry.create("org-" + std::to_string(t % 2),
                                                      named("bot " + std::to_string(i))));
                } catch (const Error&) {
                    ++errors;
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(errors.load() == 0);

    std::set<std::string> ids, keys;
    int bad_format = 0, wrong_owner = 0;
    for (const auto& list : made) {
        for (const auto& c : list) {
            ids.insert(c.chatbot.id);
            keys.insert(c.api_key);
            if (!is_canonical_uuid(c.chatbot.id) || !is_api_key_format(c.api_key)) ++bad_format;
            try {
                const auto key = registry.authenticate(c.api_key);
                if (!key || key->chatbot_id() != c.chatbot.id) ++wrong_owner;
            } catch (const Error&) {
                ++wrong_owner;
            }
        }
    }
    const std::size_t total = static_cast<std::size_t>(kThreads) * kCreates;
    CHECK(ids.size() == total);
    CHECK(keys.size() == total);
    CHECK(bad_format == 0);
    CHECK(wrong_owner == 0);
    CHECK(registry.list("org-0").size() + registry.list("org-1").size() == total);
}
