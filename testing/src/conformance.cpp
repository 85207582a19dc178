// The storage conformance suite. Each case is a plain function over a fresh target; the
// registration below turns every (store, case) pair into its own Catch2 test case.
//
// Catch2's assertion macros are not thread-safe: concurrent cases collect what their
// worker threads saw and assert on the main thread afterwards.
#include "chatbotmgr/testing/conformance.hpp"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <deque>
#include <exception>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/secrets.hpp"
#include "chatbotmgr/testing/fakes.hpp"

namespace chatbotmgr::testing {
namespace {

// --- Helpers ---

Seconds at(std::int64_t unix_seconds) {
    return Seconds{std::chrono::seconds{unix_seconds}};
}

constexpr std::int64_t kBaseTime = 1'705'312'800;  // 2024-01-15T10:00:00Z

Digest digest_for(const std::string& label) {
    return sha256("conformance-key:" + label);
}

std::string prefix_for(const Digest& d) {
    return "ob_live_" + to_hex(d).substr(0, 6);
}

// Chatbots with reproducible ids: each case seeds its own generator.
class ChatbotFactory {
  public:
    explicit ChatbotFactory(std::uint64_t seed) : random_(seed) {}

    Chatbot make(const std::string& org, const std::string& name,
                 std::int64_t created = kBaseTime) {
        Chatbot c;
        c.id = generate_uuid_v4(random_);
        c.org_id = org;
        c.name = name;
        c.key_prefix = prefix_for(digest_for(c.id));
        c.settings_json = "{}";
        c.created_at = at(created);
        return c;
    }
    std::string uuid() { return generate_uuid_v4(random_); }

  private:
    DeterministicRandom random_;
};

// Inserts c with the digest derived from its id.
void insert(ChatbotStore& store, const Chatbot& c) {
    store.insert(c, digest_for(c.id));
}

CapturedMessage message(std::string role, std::string content,
                        std::optional<std::string> external_id = std::nullopt) {
    CapturedMessage m;
    m.role = std::move(role);
    m.content = std::move(content);
    m.external_id = std::move(external_id);
    return m;
}

CaptureBatch batch(std::string conversation, std::vector<CapturedMessage> messages) {
    CaptureBatch b;
    b.external_conversation_id = std::move(conversation);
    b.external_user_id = "user_456";
    b.metadata_json = R"({"user":{"id":"user_456"}})";
    b.messages = std::move(messages);
    return b;
}

boost::json::object settings_of(const Chatbot& c) {
    return boost::json::parse(c.settings_json).as_object();
}

// Returns the code of the chatbotmgr::Error that fn throws; fails the test if fn
// returns normally or throws anything else.
template <class F>
ErrorCode error_code_of(F&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.code();
    }
    FAIL("expected a chatbotmgr::Error, but the call returned normally");
    return ErrorCode::internal;
}

// Runs body(i) on n threads at once and returns, per thread, what went wrong ("" when
// nothing did). Exceptions never escape a worker.
template <class F>
std::vector<std::string> run_threads(std::size_t n, F body) {
    std::vector<std::string> problems(n);
    std::atomic<std::size_t> ready{0};
    std::vector<std::thread> threads;
    threads.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            // Start together, so the calls really overlap.
            ready.fetch_add(1);
            while (ready.load() < n) std::this_thread::yield();
            try {
                body(i);
            } catch (const std::exception& e) {
                problems[i] = std::string("exception: ") + e.what();
            } catch (...) {
                problems[i] = "unknown exception";
            }
        });
    }
    for (auto& t : threads) t.join();
    return problems;
}

void require_no_problems(const std::vector<std::string>& problems) {
    for (std::size_t i = 0; i < problems.size(); ++i) {
        INFO("thread " << i);
        CHECK(problems[i] == "");
    }
}

// --- Cases: insert, get, list ---

void insert_then_get(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(1);
    Chatbot c = f.make("org-a", "Support Bot");
    c.settings_json = R"({"onboarded":true,"nested":{"k":[1,2]}})";
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
    CHECK(error_code_of([&] { store->insert(same_id, digest_for("other")); }) ==
          ErrorCode::conflict);
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
    CHECK(error_code_of([&] { store->insert(other, digest_for(c.id)); }) == ErrorCode::conflict);
    CHECK_FALSE(store->get("org-a", other.id));
    CHECK(store->list("org-a").size() == 1);
    const auto found = store->find_by_key_digest(digest_for(c.id));
    REQUIRE(found);
    CHECK(found->id == c.id);
}

void list_order(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(5);
    std::vector<Chatbot> all;
    // Three share one created_at (ties broken by id descending), others are spread out.
    for (int i = 0; i < 3; ++i) all.push_back(f.make("org-a", "tie " + std::to_string(i)));
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
    const auto updated = store->update("org-a", c.id, [](Chatbot& x) {
        x.name = "After";
        x.settings_json = R"({"a":1})";
    });
    REQUIRE(updated);
    Chatbot expected = c;
    expected.name = "After";
    expected.settings_json = R"({"a":1})";
    CHECK(*updated == expected);
    CHECK(store->get("org-a", c.id) == expected);
    CHECK(store->list("org-a") == std::vector<Chatbot>{expected});
    // The key is untouched.
    const auto by_key = store->find_by_key_digest(digest_for(c.id));
    REQUIRE(by_key);
    CHECK(*by_key == expected);
}

void update_not_found(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(8);
    const Chatbot c = f.make("org-a", "Mine");
    insert(*store, c);
    const auto rename = [](Chatbot& x) { x.name = "Hijacked"; };
    CHECK_FALSE(store->update("org-b", c.id, rename));
    CHECK_FALSE(store->update("org-a", f.uuid(), rename));
    CHECK(store->get("org-a", c.id) == c);
}

struct CustomFailure {
    int value;
};

void update_whose_mutate_throws_writes_nothing(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(9);
    Chatbot c = f.make("org-a", "Stable");
    c.settings_json = R"({"keep":true})";
    insert(*store, c);

    try {
        store->update("org-a", c.id, [](Chatbot& x) {
            x.name = "Half done";
            x.settings_json = R"({"keep":false})";
            throw Error(ErrorCode::invalid_argument, "settings too deep", "settings");
        });
        FAIL("update returned although mutate threw");
    } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::invalid_argument);
        CHECK(e.field() == "settings");
    }
    CHECK(store->get("org-a", c.id) == c);

    // Exceptions of any type propagate unchanged.
    try {
        store->update("org-a", c.id, [](Chatbot& x) {
            x.name = "Half done";
            throw CustomFailure{42};
        });
        FAIL("update returned although mutate threw");
    } catch (const CustomFailure& e) {
        CHECK(e.value == 42);
    }
    CHECK(store->get("org-a", c.id) == c);

    // The store is not left stuck: the next update works.
    const auto ok = store->update("org-a", c.id, [](Chatbot& x) { x.name = "Renamed"; });
    REQUIRE(ok);
    CHECK(ok->name == "Renamed");
    CHECK(store->get("org-a", c.id)->name == "Renamed");
}

// Merges {"<key>": value} into the chatbot's settings inside update.
std::optional<Chatbot> merge_member(ChatbotStore& store, const std::string& org,
                                    const std::string& id, const std::string& key,
                                    boost::json::value value) {
    return store.update(org, id, [&](Chatbot& x) {
        boost::json::object settings = settings_of(x);
        boost::json::object patch;
        patch[key] = value;
        merge_patch(settings, patch);
        x.settings_json = to_compact_json(settings);
    });
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
            const std::string key = "t" + std::to_string(i) + "r" + std::to_string(round);
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
            const std::string key = "t" + std::to_string(i) + "r" + std::to_string(round);
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
        const std::string key = "k" + std::to_string(i);
        if (i % 2 == 0) {
            if (!merge_member(*store, "org-a", c.id, key, true))
                throw std::runtime_error("update found no chatbot");
            outcome[i] = 1;
            return;
        }
        try {
            store->update("org-a", c.id, [&](Chatbot& x) {
                x.settings_json = R"({"poisoned":true})";
                throw Error(ErrorCode::invalid_argument, "rejected", "settings");
            });
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
        CHECK(settings.contains("k" + std::to_string(i)) == (i % 2 == 0));
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
    CHECK(store->record_analysis(c.id, r1->conversation_id, "sentiment", R"({"score":1})"));
    CHECK(store->record_analysis(c.id, r2->conversation_id, "summary", R"({"text":"x"})"));
    CHECK(store->record_analysis(keep.id, rk->conversation_id, "summary", "{}"));
    CHECK(store->count_data(c.id) == ChatbotDataCounts{2, 3, 2});

    CHECK(store->remove("org-a", c.id));
    CHECK_FALSE(store->get("org-a", c.id));
    CHECK_FALSE(store->find_by_key_digest(digest_for(c.id)));
    CHECK(store->count_data(c.id) == ChatbotDataCounts{});
    CHECK(store->list("org-a") == std::vector<Chatbot>{keep});
    // The other chatbot's data is untouched.
    CHECK(store->count_data(keep.id) == ChatbotDataCounts{1, 1, 1});

    // Nothing can be attached to the deleted chatbot afterwards.
    CHECK_FALSE(store->append_capture(c.id, batch("conv-1", {message("user", "late")})));
    CHECK_FALSE(store->record_analysis(c.id, r1->conversation_id, "sentiment", "{}"));
    CHECK(store->count_data(c.id) == ChatbotDataCounts{});
    CHECK_FALSE(store->remove("org-a", c.id));
}

void remove_not_found(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(13);
    const Chatbot c = f.make("org-a", "Mine");
    insert(*store, c);
    REQUIRE(store->append_capture(c.id, batch("conv", {message("user", "x")})));
    CHECK_FALSE(store->remove("org-b", c.id));
    CHECK_FALSE(store->remove("org-a", f.uuid()));
    CHECK(store->get("org-a", c.id) == c);
    CHECK(store->count_data(c.id) == ChatbotDataCounts{1, 1, 0});
}

// --- Cases: keys ---

void replace_key_retires_old_digest(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(14);
    const Chatbot c = f.make("org-a", "Rotating");
    insert(*store, c);
    const Digest fresh = digest_for("fresh");
    const auto rotated = store->replace_key("org-a", c.id, fresh, prefix_for(fresh));
    REQUIRE(rotated);
    Chatbot expected = c;
    expected.key_prefix = prefix_for(fresh);
    CHECK(*rotated == expected);
    CHECK_FALSE(store->find_by_key_digest(digest_for(c.id)));
    CHECK(store->find_by_key_digest(fresh) == expected);
    CHECK(store->get("org-a", c.id) == expected);

    // The retired digest is free again.
    const Chatbot other = f.make("org-a", "Other");
    store->insert(other, digest_for(c.id));
    CHECK(store->find_by_key_digest(digest_for(c.id))->id == other.id);
}

void replace_key_to_existing_digest_conflicts(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(15);
    const Chatbot a = f.make("org-a", "A");
    const Chatbot b = f.make("org-b", "B");
    insert(*store, a);
    insert(*store, b);
    CHECK(error_code_of([&] {
              store->replace_key("org-a", a.id, digest_for(b.id), prefix_for(digest_for(b.id)));
          }) == ErrorCode::conflict);
    // Both keys still work, and a's prefix is unchanged.
    CHECK(store->find_by_key_digest(digest_for(a.id)) == a);
    CHECK(store->find_by_key_digest(digest_for(b.id)) == b);
    CHECK(store->get("org-a", a.id) == a);
}

void replace_key_not_found(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(16);
    const Chatbot c = f.make("org-a", "Mine");
    insert(*store, c);
    const Digest fresh = digest_for("fresh");
    CHECK_FALSE(store->replace_key("org-b", c.id, fresh, prefix_for(fresh)));
    CHECK_FALSE(store->replace_key("org-a", f.uuid(), fresh, prefix_for(fresh)));
    CHECK(store->find_by_key_digest(digest_for(c.id)) == c);
    CHECK_FALSE(store->find_by_key_digest(fresh));
}

void find_by_key_digest_any_organization(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(17);
    const Chatbot a = f.make("org-a", "A");
    const Chatbot b = f.make("org-b", "B");
    insert(*store, a);
    insert(*store, b);
    CHECK(store->find_by_key_digest(digest_for(a.id)) == a);
    CHECK(store->find_by_key_digest(digest_for(b.id)) == b);
    CHECK_FALSE(store->find_by_key_digest(digest_for("never issued")));
    CHECK_FALSE(store->find_by_key_digest(Digest{}));
}

void rotation_storm(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(18);
    const Chatbot c = f.make("org-a", "Hot");
    constexpr std::size_t kRotations = 40;
    std::vector<Digest> digests;
    digests.push_back(digest_for(c.id));
    for (std::size_t i = 1; i <= kRotations; ++i)
        digests.push_back(digest_for("rotation " + std::to_string(i)));
    insert(*store, c);

    // retired = how many leading digests replace_key has retired and returned for.
    std::atomic<std::size_t> retired{0};
    std::atomic<bool> done{false};
    std::atomic<std::size_t> lookups{0};
    std::mutex violations_mutex;
    std::vector<std::string> violations;

    constexpr std::size_t kReaders = 4;
    std::atomic<std::size_t> readers_alive{kReaders};
    std::vector<std::string> problems;
    std::thread readers([&] {
        problems = run_threads(kReaders, [&](std::size_t reader) {
            struct Exit {
                std::atomic<std::size_t>& alive;
                ~Exit() { alive.fetch_sub(1); }
            } exit{readers_alive};
            std::size_t probe = reader;
            while (!done.load()) {
                const std::size_t gone = retired.load();
                if (gone == 0) {
                    store->find_by_key_digest(digests[0]);
                    lookups.fetch_add(1);
                    continue;
                }
                // Any digest retired before this lookup started must find nothing.
                const std::size_t j = probe++ % gone;
                if (store->find_by_key_digest(digests[j])) {
                    std::lock_guard lock(violations_mutex);
                    violations.push_back("digest " + std::to_string(j) + " found after " +
                                         std::to_string(gone) + " rotations");
                }
                lookups.fetch_add(1);
            }
        });
    });
    std::vector<std::string> main_problems;
    for (std::size_t i = 1; i <= kRotations; ++i) {
        // Let the readers get going between rotations.
        const std::size_t before = lookups.load();
        while (lookups.load() < before + kReaders && readers_alive.load() > 0)
            std::this_thread::yield();
        const auto r = store->replace_key("org-a", c.id, digests[i], prefix_for(digests[i]));
        if (!r) main_problems.push_back("replace_key found no chatbot");
        retired.store(i);
        if (store->find_by_key_digest(digests[i - 1]))
            main_problems.push_back("old digest found right after rotation " + std::to_string(i));
        const auto current = store->find_by_key_digest(digests[i]);
        if (!current || current->id != c.id)
            main_problems.push_back("new digest not found after rotation " + std::to_string(i));
    }
    done.store(true);
    readers.join();
    for (const auto& p : main_problems) FAIL_CHECK(p);
    require_no_problems(problems);
    CHECK(violations.empty());
    for (const auto& v : violations) FAIL_CHECK(v);
    CHECK(lookups.load() >= kRotations * kReaders);
}

// --- Cases: captures ---

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
    second.metadata_json = "{}";
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
    CHECK(store->count_data(a.id) == ChatbotDataCounts{2, 3, 0});
    CHECK(store->count_data(b.id) == ChatbotDataCounts{1, 1, 0});
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
    CHECK(store->count_data(c.id) == ChatbotDataCounts{1, 6, 0});

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
    CHECK(store->count_data(c.id) == ChatbotDataCounts{2, 7, 0});
}

void append_capture_for_missing_chatbot(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(21);
    const std::string missing = f.uuid();
    CHECK_FALSE(store->append_capture(missing, batch("conv-1", {message("user", "hi", "m1")})));
    CHECK(store->count_data(missing) == ChatbotDataCounts{});
    // The chatbot appearing later starts from nothing.
    Chatbot c = f.make("org-a", "Late");
    c.id = missing;
    insert(*store, c);
    CHECK(store->count_data(missing) == ChatbotDataCounts{});
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
    for (int i = 0; i < 10; ++i)
        messages.push_back(message("user", "text " + std::to_string(i), "id" + std::to_string(i)));
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
    CHECK(store->count_data(c.id) == ChatbotDataCounts{1, 10, 0});
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

    CHECK(store->record_analysis(a.id, conv->conversation_id, "sentiment", R"({"score":0.5})"));
    CHECK(store->record_analysis(a.id, conv->conversation_id, "summary", R"({"text":"hi"})"));
    // Another chatbot's conversation, an unknown conversation, an unknown chatbot.
    CHECK_FALSE(store->record_analysis(b.id, conv->conversation_id, "sentiment", "{}"));
    CHECK_FALSE(store->record_analysis(a.id, f.uuid(), "sentiment", "{}"));
    CHECK_FALSE(store->record_analysis(f.uuid(), conv->conversation_id, "sentiment", "{}"));
    CHECK(store->count_data(a.id) == ChatbotDataCounts{1, 1, 2});
    CHECK(store->count_data(b.id) == ChatbotDataCounts{});
}

void count_data_of_unknown_chatbot(ConformanceTarget& target) {
    auto store = target.open();
    CHECK(store->count_data("no-such-chatbot") == ChatbotDataCounts{});
    CHECK(store->count_data("") == ChatbotDataCounts{});
}

// --- Cases: races ---

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
                    c.id, batch("conv-" + std::to_string(w) + "-" + std::to_string(n % 7),
                                {message("user", "m", "id" + std::to_string(n)),
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
    const bool removed = store->remove("org-a", c.id);
    remove_returned.store(true);
    writers.join();

    CHECK(removed);
    require_no_problems(problems);
    CHECK(stored_batches.load() >= 3 * kWriters);
    CHECK(store->count_data(c.id) == ChatbotDataCounts{});
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
            made[t].push_back(f.make("org-storm",
                                     "bot " + std::to_string(t) + "/" + std::to_string(i),
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
            CHECK(*found == c);
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
        c.name = "writer " + std::to_string(i);
        try {
            store->insert(c, digest_for("contended " + std::to_string(i)));
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
    CHECK(stored->name == "writer " + std::to_string(winner));
    // Only the winner's key exists.
    for (std::size_t i = 0; i < kThreads; ++i) {
        INFO("writer " << i);
        CHECK(store->find_by_key_digest(digest_for("contended " + std::to_string(i))).has_value() ==
              (i == winner));
    }
}

void ping_answers(ConformanceTarget& target) {
    auto store = target.open();
    CHECK_NOTHROW(store->ping());
}

// --- Cases: persistence ---

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
        REQUIRE(store->update("org-a", kept.id, [](Chatbot& x) {
            x.name = "Kept (renamed)";
            x.settings_json = R"({"theme":"dark"})";
        }));
        REQUIRE(store->replace_key("org-a", kept.id, rotated, prefix_for(rotated)));
        const auto r = store->append_capture(
            kept.id, batch("conv-1", {message("user", "hi", "m1"), message("assistant", "yo")}));
        REQUIRE(r);
        conversation_id = r->conversation_id;
        REQUIRE(store->record_analysis(kept.id, conversation_id, "summary", "{}"));
        REQUIRE(store->append_capture(gone.id, batch("conv-1", {message("user", "bye")})));
        REQUIRE(store->remove("org-a", gone.id));
    }  // the store is destroyed here
    auto store = target.open();
    kept.name = "Kept (renamed)";
    kept.settings_json = R"({"theme":"dark"})";
    kept.key_prefix = prefix_for(rotated);
    CHECK(store->get("org-a", kept.id) == kept);
    CHECK(store->list("org-a") == std::vector<Chatbot>{kept});
    CHECK(store->list("org-b") == std::vector<Chatbot>{other_org});
    CHECK(store->find_by_key_digest(rotated) == kept);
    CHECK_FALSE(store->find_by_key_digest(digest_for(kept.id)));
    CHECK_FALSE(store->find_by_key_digest(digest_for(gone.id)));
    CHECK(store->count_data(kept.id) == ChatbotDataCounts{1, 2, 1});
    CHECK(store->count_data(gone.id) == ChatbotDataCounts{});
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
            made[t].push_back(
                f.make("org-durable", "bot " + std::to_string(t) + "/" + std::to_string(i)));
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
            CHECK(store->find_by_key_digest(digest_for(c.id)) == c);
            CHECK(store->count_data(c.id) == ChatbotDataCounts{1, 1, 0});
        }
    }
}

// --- Account store cases ---

void accounts_organizations(AccountConformanceTarget& target) {
    auto store = target.open();
    const Organization acme = store->find_or_create_organization("Acme", "org-1");
    CHECK(acme == Organization{"org-1", "Acme"});
    // Existing name: the stored organization, whatever new id is offered.
    CHECK(store->find_or_create_organization("Acme", "org-2") == acme);
    CHECK(store->find_organization("org-1") == acme);
    CHECK_FALSE(store->find_organization("org-2"));
    // Names are exact: another case is another organization.
    CHECK(store->find_or_create_organization("acme", "org-3") == Organization{"org-3", "acme"});
    CHECK_FALSE(store->find_organization("unknown"));
}

void accounts_organization_id_conflict(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("First", "org-1");
    CHECK(error_code_of([&] { store->find_or_create_organization("Second", "org-1"); }) ==
          ErrorCode::conflict);
    CHECK(store->find_organization("org-1") == Organization{"org-1", "First"});
}

void accounts_concurrent_find_or_create(AccountConformanceTarget& target) {
    auto store = target.open();
    constexpr std::size_t kThreads = 8;
    std::vector<Organization> seen(kThreads);
    const auto problems = run_threads(kThreads, [&](std::size_t i) {
        seen[i] = store->find_or_create_organization("Shared", "org-" + std::to_string(i));
    });
    require_no_problems(problems);
    for (const auto& org : seen) CHECK(org == seen[0]);
    CHECK(store->find_organization(seen[0].id) == seen[0]);
}

void accounts_users(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    CHECK(store->count_users() == 0);
    const User ada{"user-1", "org-1", "Ada@Example.com"};
    store->insert_user(ada, "$argon2id$hash-1");
    CHECK(store->count_users() == 1);

    const auto found = store->find_user_by_email("ada@example.com");
    REQUIRE(found);
    CHECK(found->first == ada);
    CHECK(found->second == "$argon2id$hash-1");
    CHECK_FALSE(store->find_user_by_email("bob@example.com"));

    // The same email in another case is the same user.
    const User again{"user-2", "org-1", "ADA@example.COM"};
    CHECK(error_code_of([&] { store->insert_user(again, "$argon2id$hash-2"); }) ==
          ErrorCode::conflict);
    CHECK(store->count_users() == 1);
    CHECK(store->find_user_by_email("ada@example.com")->second == "$argon2id$hash-1");

    store->insert_user(User{"user-3", "org-1", "bob@example.com"}, "$argon2id$hash-3");
    CHECK(store->count_users() == 2);
}

SessionRecord session(const std::string& label, const std::string& user, std::int64_t expires) {
    SessionRecord s;
    s.token_digest = sha256("conformance-session:" + label);
    s.user_id = user;
    s.org_id = "org-1";
    s.expires_at = at(expires);
    return s;
}

bool same_session(const SessionRecord& a, const SessionRecord& b) {
    return a.token_digest == b.token_digest && a.user_id == b.user_id && a.org_id == b.org_id &&
           a.expires_at == b.expires_at;
}

void accounts_sessions(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    store->insert_user(User{"user-1", "org-1", "ada@example.com"}, "hash");
    const SessionRecord s1 = session("one", "user-1", kBaseTime + 3600);
    store->insert_session(s1);
    const auto found = store->find_session(s1.token_digest);
    REQUIRE(found);
    CHECK(same_session(*found, s1));
    CHECK_FALSE(store->find_session(sha256("unknown")));
    CHECK(error_code_of([&] { store->insert_session(s1); }) == ErrorCode::conflict);

    CHECK(store->delete_session(s1.token_digest));
    CHECK_FALSE(store->find_session(s1.token_digest));
    CHECK_FALSE(store->delete_session(s1.token_digest));
}

void accounts_expired_sessions(AccountConformanceTarget& target) {
    auto store = target.open();
    store->find_or_create_organization("Acme", "org-1");
    store->insert_user(User{"user-1", "org-1", "ada@example.com"}, "hash");
    const SessionRecord old1 = session("old1", "user-1", kBaseTime - 7200);
    const SessionRecord old2 = session("old2", "user-1", kBaseTime - 1);
    const SessionRecord live = session("live", "user-1", kBaseTime + 3600);
    store->insert_session(old1);
    store->insert_session(old2);
    store->insert_session(live);
    CHECK(store->delete_expired_sessions(at(kBaseTime)) == 2);
    CHECK_FALSE(store->find_session(old1.token_digest));
    CHECK_FALSE(store->find_session(old2.token_digest));
    CHECK(store->find_session(live.token_digest));
    CHECK(store->delete_expired_sessions(at(kBaseTime)) == 0);
}

void accounts_reopen(AccountConformanceTarget& target) {
    const SessionRecord s = session("durable", "user-1", kBaseTime + 3600);
    {
        auto store = target.open();
        store->find_or_create_organization("Acme", "org-1");
        store->insert_user(User{"user-1", "org-1", "Ada@example.com"}, "hash");
        store->insert_session(s);
    }
    auto store = target.open();
    CHECK(store->find_organization("org-1") == Organization{"org-1", "Acme"});
    CHECK(store->find_or_create_organization("Acme", "org-9").id == "org-1");
    const auto user = store->find_user_by_email("ada@example.com");
    REQUIRE(user);
    CHECK(user->first == User{"user-1", "org-1", "Ada@example.com"});
    CHECK(store->count_users() == 1);
    const auto found = store->find_session(s.token_digest);
    REQUIRE(found);
    CHECK(same_session(*found, s));
}

// --- Registration ---

template <class Target>
struct CaseDef {
    const char* name;
    void (*run)(Target&);
    bool persistent_only;
};

const CaseDef<ConformanceTarget> kStoreCases[] = {
    {"insert then get returns the chatbot", insert_then_get, false},
    {"get is scoped to the organization", get_is_scoped_to_organization, false},
    {"insert with an existing id is a conflict", insert_existing_id_conflicts, false},
    {"insert with an existing key digest is a conflict", insert_existing_digest_conflicts, false},
    {"list is newest first, ties by id descending", list_order, false},
    {"list is scoped to the organization", list_is_scoped_to_organization, false},
    {"update stores name and settings", update_changes_name_and_settings, false},
    {"update of a missing or foreign chatbot is nullopt", update_not_found, false},
    {"update whose mutate throws writes nothing", update_whose_mutate_throws_writes_nothing, false},
    {"concurrent updates of different members lose nothing", concurrent_updates_lose_nothing,
     false},
    {"failing updates do not disturb concurrent ones",
     failing_updates_do_not_disturb_concurrent_ones, false},
    {"remove cascades to conversations, messages and analyses", remove_cascades, false},
    {"remove of a missing or foreign chatbot is false", remove_not_found, false},
    {"replace_key retires the old digest", replace_key_retires_old_digest, false},
    {"replace_key to an existing digest is a conflict", replace_key_to_existing_digest_conflicts,
     false},
    {"replace_key of a missing or foreign chatbot is nullopt", replace_key_not_found, false},
    {"find_by_key_digest finds in any organization", find_by_key_digest_any_organization, false},
    {"rotation storm: a retired digest is never found", rotation_storm, false},
    {"append_capture upserts the conversation with a stable id",
     append_capture_upserts_conversation, false},
    {"append_capture deduplicates by message id", append_capture_deduplicates, false},
    {"append_capture for a missing chatbot writes nothing", append_capture_for_missing_chatbot,
     false},
    {"concurrent identical captures store each message once", concurrent_identical_captures, false},
    {"record_analysis needs the chatbot's own conversation", record_analysis_rules, false},
    {"count_data of an unknown chatbot is zero", count_data_of_unknown_chatbot, false},
    {"delete racing with captures leaves no orphans", delete_racing_with_captures, false},
    {"create storm stores every chatbot", create_storm, false},
    {"concurrent inserts of one id: exactly one wins", concurrent_inserts_of_one_id, false},
    {"ping answers", ping_answers, false},
    {"reopen keeps every acknowledged write", reopen_keeps_acknowledged_writes, true},
    {"reopen keeps concurrent acknowledged writes", reopen_keeps_concurrent_writes, true},
};

const CaseDef<AccountConformanceTarget> kAccountCases[] = {
    {"organizations are found or created by exact name", accounts_organizations, false},
    {"an organization id in use is a conflict", accounts_organization_id_conflict, false},
    {"concurrent find_or_create agree on one organization", accounts_concurrent_find_or_create,
     false},
    {"users are unique by email, case-insensitively", accounts_users, false},
    {"sessions are stored, found and deleted", accounts_sessions, false},
    {"expired sessions are deleted", accounts_expired_sessions, false},
    {"reopen keeps organizations, users and sessions", accounts_reopen, true},
};

template <class Target>
class CaseInvoker final : public Catch::ITestInvoker {
  public:
    using Factory = std::function<std::unique_ptr<Target>()>;
    CaseInvoker(Factory factory, void (*run)(Target&)) : factory_(std::move(factory)), run_(run) {}

    void invoke() const override {
        const std::unique_ptr<Target> target = factory_();
        REQUIRE(target != nullptr);
        run_(*target);
    }

  private:
    Factory factory_;
    void (*run_)(Target&);
};

// Catch2 keeps StringRefs to names and tags: they must live as long as the program.
std::deque<std::string>& name_storage() {
    static std::deque<std::string> storage;
    return storage;
}

template <class Target, std::size_t N>
bool register_cases(const std::string& store_name, const std::string& infix,
                    const std::string& extra_tags, std::function<std::unique_ptr<Target>()> factory,
                    const CaseDef<Target> (&cases)[N]) {
    bool persistent = false;
    {
        const std::unique_ptr<Target> probe = factory();
        persistent = probe && probe->persistent();
    }
    static std::mutex mutex;
    std::lock_guard lock(mutex);
    auto& storage = name_storage();
    const std::string& tags =
        storage.emplace_back("[conformance][" + store_name + "]" + extra_tags);
    for (const auto& c : cases) {
        if (c.persistent_only && !persistent) continue;
        const std::string& name = storage.emplace_back(store_name + ": " + infix + c.name);
        Catch::AutoReg(new CaseInvoker<Target>(factory, c.run),
                       Catch::SourceLineInfo(__FILE__, static_cast<std::size_t>(__LINE__)),
                       Catch::StringRef(), Catch::NameAndTags(name.c_str(), tags.c_str()));
    }
    return true;
}

}  // namespace

bool register_storage_conformance(const std::string& store_name, ConformanceTargetFactory factory) {
    return register_cases<ConformanceTarget>(store_name, "", "", std::move(factory), kStoreCases);
}

bool register_account_store_conformance(const std::string& store_name,
                                        AccountConformanceTargetFactory factory) {
    return register_cases<AccountConformanceTarget>(store_name, "accounts: ", "[accounts]",
                                                    std::move(factory), kAccountCases);
}

}  // namespace chatbotmgr::testing
