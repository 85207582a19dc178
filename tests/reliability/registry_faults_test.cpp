// Storage faults as the registry's callers see them (label "faults"): disk full, a lock
// held past the busy timeout, a corrupt file at start. Each gives Error(unavailable), never
// a crash, never a partial write, and the registry works again once the fault clears.
// (The store-level cases, read-only files included, are in tests/storage/sqlite_test.cpp.)
#include <catch2/catch.hpp>

#include <SQLiteCpp/SQLiteCpp.h>
#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "chatbotmgr/capture.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/sqlite/sqlite_store.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "support.hpp"

using namespace chatbotmgr;
using chatbotmgr::reliability::ScratchDir;
using chatbotmgr::testing::error_of;
namespace json = boost::json;

namespace {

bool mentions_secret(const std::string& s) {
    return s.find("ob_live_") != std::string::npos || s.find("ob_sess_") != std::string::npos;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

CaptureBatch big_batch(const std::string& conversation, int n) {
    CaptureBatch b;
    b.external_conversation_id = conversation;
    for (int i = 0; i < 4; ++i) {
        // Appends, not operator+: GCC 12 at -O3 reports a false -Wrestrict for the chain.
        std::string id = "m";
        id += std::to_string(n);
        id += '-';
        id += std::to_string(i);
        b.messages.push_back({"user", std::string(8000, 'c'), std::move(id), {}});
    }
    return b;
}

json::object big_settings(char fill) {
    return json::object{{"blob", std::string(30000, fill)}};
}

// The chatbot an API key authenticates as; "" when it does not.
std::string chatbot_of(const ChatbotRegistry& registry, const std::string& api_key) {
    const auto key = registry.authenticate(api_key);
    return key ? key->chatbot_id() : "";
}

}  // namespace

TEST_CASE("faults: a full disk fails writes as unavailable, whole, and recovers", "[faults]") {
    ScratchDir dir;
    auto options = reliability::sqlite_options(dir.file("full.db"));
    options.max_page_count = 120;
    auto store = std::make_shared<sqlite::SqliteStore>(options);
    ChatbotRegistry registry(store);

    // Fill the file with chatbots that carry large settings until a create is refused.
    std::vector<ChatbotWithKey> bots;
    std::optional<Error> full;
    for (int i = 0; i < 100 && !full; ++i) {
        full = error_of([&] {
            bots.push_back(registry.create("org-f", NewChatbot{"filler", big_settings('a')}));
        });
    }
    REQUIRE(full);
    REQUIRE(bots.size() >= 4);
    CHECK(full->code() == ErrorCode::unavailable);
    CHECK_FALSE(mentions_secret(full->what()));
    INFO(full->what());
    CHECK(std::string(full->what()).find("full") != std::string::npos);
    // The refused create left nothing behind.
    CHECK(registry.list("org-f").size() == bots.size());

    // Every kind of write fails the same way and changes nothing.
    const Chatbot victim = bots.front().chatbot;
    const auto patch = error_of([&] {
        registry.update("org-f", victim.id,
                        ChatbotPatch{"renamed", json::object{{"more", std::string(30000, 'b')}}});
    });
    REQUIRE(patch);
    CHECK(patch->code() == ErrorCode::unavailable);
    CHECK(registry.get("org-f", victim.id) == victim);

    const auto capturer = registry.authenticate(bots.back().api_key);
    REQUIRE(capturer);
    ChatbotDataCounts before = store->count_data(capturer->chatbot_id());
    std::optional<Error> capture_error;
    for (int n = 0; n < 50 && !capture_error; ++n) {
        before = store->count_data(capturer->chatbot_id());
        capture_error = error_of([&] { registry.capture(*capturer, big_batch("conv", n)); });
    }
    REQUIRE(capture_error);
    CHECK(capture_error->code() == ErrorCode::unavailable);
    CHECK(store->count_data(capturer->chatbot_id()) == before);  // all of the batch or none

    // Rotation under a full disk: either it completed, or the old key still works.
    const auto rotated = error_of([&] {
        const auto r = registry.rotate_key("org-f", victim.id);
        CHECK(chatbot_of(registry, r.api_key) == victim.id);
    });
    if (rotated) {
        CHECK(rotated->code() == ErrorCode::unavailable);
        CHECK(chatbot_of(registry, bots.front().api_key) == victim.id);
    } else {
        CHECK_FALSE(registry.authenticate(bots.front().api_key));
    }

    // Reads keep working while the disk is full.
    CHECK(registry.list("org-f").size() == bots.size());

    // Space freed (the capturing chatbot and its conversation, two more chatbots): the same
    // registry and store accept writes again, no restart.
    registry.remove("org-f", bots.back().chatbot.id);
    registry.remove("org-f", bots[1].chatbot.id);
    registry.remove("org-f", bots[2].chatbot.id);
    const auto after = registry.create("org-f", NewChatbot{"after", big_settings('z')});
    CHECK(chatbot_of(registry, after.api_key) == after.chatbot.id);
    const auto after_key = registry.authenticate(after.api_key);
    REQUIRE(after_key);
    CHECK(registry.capture(*after_key, big_batch("again", 0)).messages_stored == 4);
}

TEST_CASE("faults: a lock held past busy_timeout fails writes as unavailable, reads go on",
          "[faults]") {
    ScratchDir dir;
    const std::string path = dir.file("locked.db");
    auto options = reliability::sqlite_options(path);
    options.busy_timeout = std::chrono::milliseconds(150);
    auto store = std::make_shared<sqlite::SqliteStore>(options);
    ChatbotRegistry registry(store);
    const auto bot = registry.create("org-l", NewChatbot{"locked", json::object{{"a", 1}}});

    SQLite::Database other(path, SQLite::OPEN_READWRITE);
    other.exec("BEGIN IMMEDIATE");  // another process holds the write lock

    const auto expect_unavailable = [](const std::optional<Error>& e) {
        REQUIRE(e);
        CHECK(e->code() == ErrorCode::unavailable);
        CHECK_FALSE(mentions_secret(e->what()));
    };
    expect_unavailable(error_of([&] { registry.create("org-l", NewChatbot{"new", {}}); }));
    expect_unavailable(error_of([&] {
        registry.update("org-l", bot.chatbot.id, ChatbotPatch{"x", json::object{{"b", 2}}});
    }));
    expect_unavailable(error_of([&] { registry.rotate_key("org-l", bot.chatbot.id); }));
    expect_unavailable(error_of([&] { registry.remove("org-l", bot.chatbot.id); }));
    const auto authed = registry.authenticate(bot.api_key);  // reads are not blocked (WAL)
    REQUIRE(authed);
    expect_unavailable(error_of([&] { registry.capture(*authed, big_batch("c", 0)); }));

    // Nothing of the failed writes is visible; the key was not rotated.
    CHECK(registry.list("org-l").size() == 1);
    CHECK(registry.get("org-l", bot.chatbot.id) == bot.chatbot);
    CHECK(chatbot_of(registry, bot.api_key) == bot.chatbot.id);
    CHECK(store->count_data(bot.chatbot.id) == ChatbotDataCounts{});

    other.exec("ROLLBACK");

    // The lock is gone: every write works again on the same objects.
    const auto rotated = registry.rotate_key("org-l", bot.chatbot.id);
    CHECK_FALSE(registry.authenticate(bot.api_key));
    const auto rotated_key = registry.authenticate(rotated.api_key);
    REQUIRE(rotated_key);
    CHECK(registry.capture(*rotated_key, big_batch("c", 1)).messages_stored == 4);
    CHECK(registry.update("org-l", bot.chatbot.id, ChatbotPatch{"renamed", std::nullopt}).name ==
          "renamed");
    registry.remove("org-l", bot.chatbot.id);
    CHECK(registry.list("org-l").empty());
}

TEST_CASE("faults: a corrupt file at start is refused, readable, and left untouched", "[faults]") {
    ScratchDir dir;
    SECTION("not a database at all") {
        const std::string path = dir.file("garbage.db");
        {
            std::ofstream out(path, std::ios::binary);
            for (int i = 0; i < 300; ++i) out << "definitely not SQLite\n";
        }
        const std::string before = read_file(path);
        const auto e =
            error_of([&] { sqlite::SqliteStore store(reliability::sqlite_options(path)); });
        REQUIRE(e);
        CHECK(e->code() == ErrorCode::unavailable);
        INFO(e->what());
        CHECK(std::string(e->what()).find(path) != std::string::npos);
        CHECK(read_file(path) == before);
    }
    SECTION("a database cut short") {
        const std::string path = dir.file("truncated.db");
        {
            auto store = std::make_shared<sqlite::SqliteStore>(reliability::sqlite_options(path));
            ChatbotRegistry registry(store);
            for (int i = 0; i < 30; ++i)
                registry.create("org-c", NewChatbot{"bot", big_settings('q')});
        }
        std::filesystem::resize_file(path, std::filesystem::file_size(path) / 3);
        const std::string before = read_file(path);
        // Refused at open, or every use is unavailable: never a crash, never "ok".
        const auto e = error_of([&] {
            auto store = std::make_shared<sqlite::SqliteStore>(reliability::sqlite_options(path));
            ChatbotRegistry registry(store);
            registry.list("org-c");
            registry.create("org-c", NewChatbot{"more", {}});
        });
        REQUIRE(e);
        CHECK(e->code() == ErrorCode::unavailable);
        CHECK(read_file(path).substr(0, before.size()) == before.substr(0, before.size()));
    }
}
