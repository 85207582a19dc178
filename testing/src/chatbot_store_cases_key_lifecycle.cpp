// Conformance cases: the key lifecycle of API.md sections 11 and 12 -- a previous key in
// grace, key expiry, last use -- through the port, and through a ChatbotRegistry over the
// store with a fake clock, so every boundary is checked to the second on every store.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "builders.hpp"
#include "cases.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "concurrency.hpp"

namespace chatbotmgr::testing::detail::store_cases {
namespace {

using std::chrono::seconds;

KeyOwner previous_owner_of(const Chatbot& c, std::int64_t until) {
    return KeyOwner{c.id, c.org_id, KeySlot::previous, at(until)};
}

KeyVerdict verdict(const ChatbotRegistry& r, const std::string& key) {
    return r.check_key(key).verdict;
}

CaptureBatch one_message(const std::string& conversation) {
    return batch(conversation, {message("user", "hello")});
}

}  // namespace

void rotation_with_grace_keeps_previous_key(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(51);
    const Chatbot c = f.make("org-a", "Graceful");
    insert(*store, c);
    const Digest old_digest = digest_for(c.id);
    store->record_key_usage(std::vector<KeyUsage>{{old_digest, at(kBaseTime + 5)}});

    const Digest fresh = digest_for("fresh");
    const auto rotated = store->replace_key("org-a", c.id, new_key(fresh, kBaseTime + 10),
                                            at(kBaseTime + 70), journal_entry());
    REQUIRE(rotated);
    CHECK(rotated->key_prefix == prefix_for(fresh));
    CHECK(store->find_by_key_digest(old_digest) == previous_owner_of(c, kBaseTime + 70));
    CHECK(store->find_by_key_digest(fresh) ==
          KeyOwner{c.id, c.org_id, KeySlot::current, std::nullopt});

    const auto keys = store->keys("org-a", c.id);
    REQUIRE(keys);
    CHECK(keys->current ==
          KeyState{prefix_for(fresh), at(kBaseTime + 10), std::nullopt, std::nullopt});
    // The old key's issue time and last use go with it.
    CHECK(keys->previous ==
          KeyState{c.key_prefix, c.created_at, at(kBaseTime + 70), at(kBaseTime + 5)});
    CHECK_FALSE(store->keys("org-b", c.id));
    CHECK_FALSE(store->keys("org-a", f.uuid()));
}

void previous_key_grace_capped_by_its_expiry(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(52);
    const Chatbot c = f.make("org-a", "Expiring");
    REQUIRE(store->insert(c, new_key(digest_for(c.id), kBaseTime, kBaseTime + 30),
                          std::numeric_limits<std::size_t>::max(), journal_entry()));
    CHECK(store->find_by_key_digest(digest_for(c.id)) ==
          KeyOwner{c.id, c.org_id, KeySlot::current, at(kBaseTime + 30)});
    const Digest fresh = digest_for("fresh");
    REQUIRE(store->replace_key("org-a", c.id, new_key(fresh, kBaseTime + 10, kBaseTime + 500),
                               at(kBaseTime + 3'600), journal_entry()));
    // Accepted until the grace end or its own expiry, whichever comes first.
    CHECK(store->find_by_key_digest(digest_for(c.id)) == previous_owner_of(c, kBaseTime + 30));
    CHECK(store->find_by_key_digest(fresh) ==
          KeyOwner{c.id, c.org_id, KeySlot::current, at(kBaseTime + 500)});
    const auto keys = store->keys("org-a", c.id);
    REQUIRE(keys);
    CHECK(keys->current.expires_at == at(kBaseTime + 500));
    CHECK(keys->previous->expires_at == at(kBaseTime + 30));
}

void second_rotation_kills_previous_key(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(53);
    const Chatbot c = f.make("org-a", "Twice");
    insert(*store, c);
    const Digest first = digest_for(c.id);
    const Digest second = digest_for("second");
    const Digest third = digest_for("third");
    const Digest fourth = digest_for("fourth");
    REQUIRE(
        store->replace_key("org-a", c.id, new_key(second), at(kBaseTime + 100), journal_entry()));
    // Again with a grace: the first key dies, the second becomes the previous key.
    REQUIRE(
        store->replace_key("org-a", c.id, new_key(third), at(kBaseTime + 200), journal_entry()));
    CHECK_FALSE(store->find_by_key_digest(first));
    CHECK(store->find_by_key_digest(second) == previous_owner_of(c, kBaseTime + 200));
    // Without a grace: both older keys die.
    REQUIRE(store->replace_key("org-a", c.id, new_key(fourth), std::nullopt, journal_entry()));
    CHECK_FALSE(store->find_by_key_digest(second));
    CHECK_FALSE(store->find_by_key_digest(third));
    CHECK(store->find_by_key_digest(fourth)->slot == KeySlot::current);
    CHECK_FALSE(store->keys("org-a", c.id)->previous);
    // Dead digests are free again.
    const Chatbot other = f.make("org-a", "Other");
    store->insert(other, first);
    CHECK(store->find_by_key_digest(first)->chatbot_id == other.id);
}

void drop_previous_key_rules(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(54);
    const Chatbot c = f.make("org-a", "Ending");
    insert(*store, c);
    const Digest fresh = digest_for("fresh");
    CHECK(store->drop_previous_key("org-a", c.id, at(kBaseTime), journal_entry()) ==
          std::optional<bool>(false));
    REQUIRE(store->replace_key("org-a", c.id, new_key(fresh), at(kBaseTime + 60), journal_entry()));
    CHECK(store->drop_previous_key("org-b", c.id, at(kBaseTime), journal_entry()) == std::nullopt);
    CHECK(store->drop_previous_key("org-a", f.uuid(), at(kBaseTime), journal_entry()) ==
          std::nullopt);
    CHECK(store->find_by_key_digest(digest_for(c.id)));  // untouched by those

    const auto before = store->key_generation();
    CHECK(store->drop_previous_key("org-a", c.id, at(kBaseTime + 59), journal_entry()) ==
          std::optional<bool>(true));
    if (before) CHECK(*store->key_generation() > *before);
    CHECK_FALSE(store->find_by_key_digest(digest_for(c.id)));
    CHECK(store->find_by_key_digest(fresh)->slot == KeySlot::current);
    CHECK_FALSE(store->keys("org-a", c.id)->previous);
    CHECK(store->drop_previous_key("org-a", c.id, at(kBaseTime + 59), journal_entry()) ==
          std::optional<bool>(false));

    // A previous key whose grace is over is dropped too, but reported as not live.
    const Digest later = digest_for("later");
    REQUIRE(store->replace_key("org-a", c.id, new_key(later), at(kBaseTime + 60), journal_entry()));
    CHECK(store->drop_previous_key("org-a", c.id, at(kBaseTime + 60), journal_entry()) ==
          std::optional<bool>(false));
    CHECK_FALSE(store->find_by_key_digest(fresh));
}

void remove_kills_both_keys(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(55);
    const Chatbot c = f.make("org-a", "Doomed");
    insert(*store, c);
    const Digest fresh = digest_for("fresh");
    REQUIRE(
        store->replace_key("org-a", c.id, new_key(fresh), at(kBaseTime + 600), journal_entry()));
    REQUIRE(store->remove("org-a", c.id, journal_entry()));
    CHECK_FALSE(store->find_by_key_digest(digest_for(c.id)));
    CHECK_FALSE(store->find_by_key_digest(fresh));
    // Both digests are free again.
    const Chatbot a = f.make("org-a", "A");
    const Chatbot b = f.make("org-a", "B");
    store->insert(a, digest_for(c.id));
    store->insert(b, fresh);
    CHECK(store->find_by_key_digest(fresh)->chatbot_id == b.id);
}

void record_key_usage_keeps_latest(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(56);
    const Chatbot a = f.make("org-a", "A");
    const Chatbot b = f.make("org-a", "B");
    insert(*store, a);
    insert(*store, b);
    CHECK(store->keys("org-a", a.id)->current.last_used_at == std::nullopt);
    store->record_key_usage(std::vector<KeyUsage>{{digest_for(a.id), at(kBaseTime + 20)},
                                                  {digest_for("never issued"), at(kBaseTime)},
                                                  {digest_for(b.id), at(kBaseTime + 3)}});
    // An older report (another instance's view) never moves it back.
    store->record_key_usage(std::vector<KeyUsage>{{digest_for(a.id), at(kBaseTime + 10)}});
    store->record_key_usage({});
    CHECK(store->keys("org-a", a.id)->current.last_used_at == at(kBaseTime + 20));
    CHECK(store->keys("org-a", b.id)->current.last_used_at == at(kBaseTime + 3));

    // Usage of a key now in grace lands on the previous key; the new key starts unused.
    const Digest fresh = digest_for("fresh");
    REQUIRE(
        store->replace_key("org-a", a.id, new_key(fresh), at(kBaseTime + 600), journal_entry()));
    store->record_key_usage(std::vector<KeyUsage>{{digest_for(a.id), at(kBaseTime + 30)}});
    auto keys = store->keys("org-a", a.id);
    CHECK(keys->current.last_used_at == std::nullopt);
    CHECK(keys->previous->last_used_at == at(kBaseTime + 30));
    store->record_key_usage(std::vector<KeyUsage>{{fresh, at(kBaseTime + 31)}});
    keys = store->keys("org-a", a.id);
    CHECK(keys->current.last_used_at == at(kBaseTime + 31));
    CHECK(keys->previous->last_used_at == at(kBaseTime + 30));
    // A rotation without grace: the new key starts unused, the old usage is gone with it.
    REQUIRE(store->replace_key("org-a", b.id, new_key(digest_for("b2")), std::nullopt,
                               journal_entry()));
    CHECK(store->keys("org-a", b.id)->current.last_used_at == std::nullopt);
}

void previous_key_digest_conflicts(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(57);
    const Chatbot a = f.make("org-a", "A");
    const Chatbot b = f.make("org-a", "B");
    insert(*store, a);
    insert(*store, b);
    REQUIRE(store->replace_key("org-a", a.id, new_key(digest_for("fresh")), at(kBaseTime + 60),
                               journal_entry()));
    // a's old digest is a previous key now: no one else may take it.
    const Chatbot c = f.make("org-a", "C");
    CHECK(code_of([&] { store->insert(c, digest_for(a.id)); }) == ErrorCode::conflict);
    CHECK_FALSE(store->get("org-a", c.id));
    CHECK(code_of([&] {
              store->replace_key("org-a", b.id, new_key(digest_for(a.id)), std::nullopt,
                                 journal_entry());
          }) == ErrorCode::conflict);
    CHECK(store->find_by_key_digest(digest_for(b.id))->chatbot_id == b.id);
    CHECK(store->find_by_key_digest(digest_for(a.id)) == previous_owner_of(a, kBaseTime + 60));
}

// A rotation with a grace kills the key before the previous one: after rotation i
// returns, no lookup started afterwards finds key i - 2, and key i - 1 is the previous key.
void rotation_storm_with_grace(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(58);
    const Chatbot c = f.make("org-a", "Hot");
    constexpr std::size_t kRotations = 30;
    std::vector<Digest> digests{digest_for(c.id)};
    for (std::size_t i = 1; i <= kRotations; ++i) digests.push_back(digest_for(cat("grace ", i)));
    insert(*store, c);

    std::atomic<std::size_t> dead{0};  // digests[0, dead) are dead
    std::atomic<bool> done{false};
    std::atomic<std::size_t> violations{0};
    std::atomic<std::size_t> lookups{0};
    std::vector<std::string> problems;
    std::thread readers([&] {
        problems = run_threads(3, [&](std::size_t reader) {
            std::size_t probe = reader;
            while (!done.load()) {
                const std::size_t gone = dead.load();
                if (gone > 0 && store->find_by_key_digest(digests[probe++ % gone]))
                    violations.fetch_add(1);
                lookups.fetch_add(1);
                if (gone == 0) std::this_thread::yield();
            }
        });
    });
    std::vector<std::string> main_problems;
    for (std::size_t i = 1; i <= kRotations; ++i) {
        const std::size_t before = lookups.load();
        while (lookups.load() < before + 3 && !done.load()) std::this_thread::yield();
        if (!store->replace_key("org-a", c.id, new_key(digests[i]), at(kBaseTime + 3'600),
                                journal_entry()))
            main_problems.push_back("replace_key found no chatbot");
        if (i >= 2) dead.store(i - 1);
        const auto previous = store->find_by_key_digest(digests[i - 1]);
        if (!previous || previous->slot != KeySlot::previous)
            main_problems.push_back(cat("key ", i - 1, " is not the previous key"));
    }
    done.store(true);
    readers.join();
    for (const auto& p : main_problems) FAIL_CHECK(p);
    require_no_problems(problems);
    CHECK(violations.load() == 0);
}

// API.md section 18: accepted while now < rotation time + grace, rejected from that
// instant; GET .../key shows the previous key exactly as long.
void registry_grace_boundary_to_the_second(ConformanceTarget& target) {
    RegistryOverStore t(target.open());
    const auto created = t.registry.create("org-a", {"Grace", {}});
    t.set(kBaseTime + 10);
    const auto rotated = t.registry.rotate_key("org-a", created.chatbot.id,
                                               RotateOptions{seconds(60), std::nullopt});
    CHECK(rotated.previous_key_expires_at == at(kBaseTime + 70));
    // Twice per instant: the second lookup is a cached one on stores that allow caching.
    for (int i = 0; i < 2; ++i) {
        CHECK(verdict(t.registry, created.api_key) == KeyVerdict::previous_key);
        CHECK(verdict(t.registry, rotated.api_key) == KeyVerdict::valid);
    }
    const auto key = t.registry.authenticate(created.api_key);
    REQUIRE(key);
    CHECK(key->slot() == KeySlot::previous);
    CHECK(key->chatbot_id() == created.chatbot.id);
    t.set(kBaseTime + 69);
    CHECK(verdict(t.registry, created.api_key) == KeyVerdict::previous_key);
    const auto keys = t.registry.keys("org-a", created.chatbot.id);
    REQUIRE(keys.previous);
    CHECK(keys.previous->prefix == created.chatbot.key_prefix);
    CHECK(keys.previous->expires_at == at(kBaseTime + 70));
    CHECK(keys.current.issued_at == at(kBaseTime + 10));
    t.set(kBaseTime + 70);
    for (int i = 0; i < 2; ++i) {
        CHECK(verdict(t.registry, created.api_key) == KeyVerdict::expired);
        CHECK_FALSE(t.registry.authenticate(created.api_key));
    }
    CHECK_FALSE(t.registry.keys("org-a", created.chatbot.id).previous);
    CHECK(verdict(t.registry, rotated.api_key) == KeyVerdict::valid);
    // Ending a grace that is over already: nothing was live.
    CHECK_FALSE(t.registry.end_grace("org-a", created.chatbot.id));
}

void registry_key_expiry_boundary(ConformanceTarget& target) {
    RegistryOverStore t(target.open());
    const auto created = t.registry.create("org-a", {"Expiring", {}}, at(kBaseTime + 100));
    t.set(kBaseTime + 99);
    CHECK(verdict(t.registry, created.api_key) == KeyVerdict::valid);
    CHECK(verdict(t.registry, created.api_key) == KeyVerdict::valid);
    t.set(kBaseTime + 100);
    CHECK(verdict(t.registry, created.api_key) == KeyVerdict::expired);
    CHECK_FALSE(t.registry.authenticate(created.api_key));
    CHECK(t.registry.keys("org-a", created.chatbot.id).current.expires_at == at(kBaseTime + 100));

    // A rotated key gets its own expiry, or none.
    const auto rotated = t.registry.rotate_key("org-a", created.chatbot.id,
                                               RotateOptions{seconds(0), at(kBaseTime + 200)});
    t.set(kBaseTime + 199);
    CHECK(verdict(t.registry, rotated.api_key) == KeyVerdict::valid);
    t.set(kBaseTime + 200);
    CHECK(verdict(t.registry, rotated.api_key) == KeyVerdict::expired);
    const auto forever = t.registry.rotate_key("org-a", created.chatbot.id);
    t.set(kBaseTime + 400 * 86'400);
    CHECK(verdict(t.registry, forever.api_key) == KeyVerdict::valid);
    CHECK(t.registry.keys("org-a", created.chatbot.id).current.expires_at == std::nullopt);
}

void registry_end_grace_and_delete(ConformanceTarget& target) {
    auto store = target.open();
    RegistryOverStore t(store);
    RegistryOverStore other(store, 8);  // a second registry over the same data
    const auto created = t.registry.create("org-a", {"Ending", {}});
    const auto rotated = t.registry.rotate_key("org-a", created.chatbot.id,
                                               RotateOptions{seconds(3'600), std::nullopt});
    CHECK(other.registry.authenticate(created.api_key));  // fills its cache, if any
    CHECK(t.registry.end_grace("org-a", created.chatbot.id));
    CHECK_FALSE(t.registry.authenticate(created.api_key));
    CHECK_FALSE(other.registry.authenticate(created.api_key));
    CHECK(verdict(other.registry, created.api_key) == KeyVerdict::invalid);
    CHECK_FALSE(t.registry.end_grace("org-a", created.chatbot.id));
    CHECK(code_of([&] { t.registry.end_grace("org-b", created.chatbot.id); }) ==
          ErrorCode::not_found);

    // Delete kills both keys.
    const auto again = t.registry.rotate_key("org-a", created.chatbot.id,
                                             RotateOptions{seconds(3'600), std::nullopt});
    CHECK(other.registry.authenticate(rotated.api_key));
    CHECK(other.registry.authenticate(again.api_key));
    t.registry.remove("org-a", created.chatbot.id);
    CHECK_FALSE(other.registry.authenticate(rotated.api_key));
    CHECK_FALSE(other.registry.authenticate(again.api_key));
}

// The race of issue 13: registries authenticate the old key on other threads while the
// chatbot is rotated with grace 0, or its grace is ended: not one success may start after
// rotate_key / end_grace returned.
void registry_rotation_race(ConformanceTarget& target) {
    auto store = target.open();
    RegistryOverStore t(store);
    std::vector<std::unique_ptr<RegistryOverStore>> others;
    for (std::uint64_t i = 0; i < 2; ++i)
        others.push_back(std::make_unique<RegistryOverStore>(store, 20 + i));
    const auto created = t.registry.create("org-a", {"Raced", {}});
    const std::string& id = created.chatbot.id;
    std::string live = created.api_key;
    constexpr int kRounds = 12;
    for (int round = 0; round < kRounds; ++round) {
        // The key under attack: with a grace round, the previous key (killed by end_grace);
        // otherwise the current key (killed by a rotation with grace 0).
        const bool with_grace = round % 2 == 1;
        const std::string old_key = live;
        if (with_grace)
            live = t.registry.rotate_key("org-a", id, RotateOptions{seconds(3'600), std::nullopt})
                       .api_key;
        for (auto& o : others) REQUIRE(o->registry.authenticate(old_key));  // warm caches
        std::atomic<bool> killed{false};
        std::atomic<bool> stop{false};
        std::atomic<int> late_successes{0};
        std::atomic<int> attempts{0};
        const auto problems = run_threads(others.size() + 1, [&](std::size_t i) {
            if (i == others.size()) {
                while (attempts.load() < 20) std::this_thread::yield();
                if (with_grace) {
                    if (!t.registry.end_grace("org-a", id))
                        throw std::runtime_error("end_grace found no live previous key");
                } else {
                    live = t.registry.rotate_key("org-a", id).api_key;
                }
                killed.store(true);
                while (attempts.load() < 60) std::this_thread::yield();
                stop.store(true);
                return;
            }
            while (!stop.load()) {
                const bool after = killed.load();
                const bool ok = others[i]->registry.authenticate(old_key).has_value();
                if (after && ok) late_successes.fetch_add(1);
                attempts.fetch_add(1);
            }
        });
        require_no_problems(problems);
        CHECK(late_successes.load() == 0);
        CHECK_FALSE(t.registry.authenticate(old_key));
        CHECK(t.registry.authenticate(live));
    }
}

void registry_records_last_use(ConformanceTarget& target) {
    auto store = target.open();
    RegistryOverStore t(store);
    RegistryOverStore other(store, 9);
    const auto created = t.registry.create("org-a", {"Used", {}});
    const auto id = created.chatbot.id;
    CHECK(t.registry.keys("org-a", id).current.last_used_at == std::nullopt);
    t.set(kBaseTime + 5);
    t.registry.capture(*t.registry.authenticate(created.api_key), one_message("c1"));
    // Kept in memory until flushed.
    CHECK(t.registry.keys("org-a", id).current.last_used_at == std::nullopt);
    t.registry.flush_key_usage();
    CHECK(t.registry.keys("org-a", id).current.last_used_at == at(kBaseTime + 5));
    t.registry.flush_key_usage();  // nothing new: nothing changes

    // Two registries (instances) with their own views: the stored value is the latest.
    t.set(kBaseTime + 50);
    t.registry.capture(*t.registry.authenticate(created.api_key), one_message("c2"));
    other.set(kBaseTime + 40);
    other.registry.capture(*other.registry.authenticate(created.api_key), one_message("c3"));
    t.registry.flush_key_usage();
    other.registry.flush_key_usage();
    CHECK(t.registry.keys("org-a", id).current.last_used_at == at(kBaseTime + 50));

    // With a grace, each key is credited with its own use.
    t.set(kBaseTime + 60);
    const auto rotated =
        t.registry.rotate_key("org-a", id, RotateOptions{seconds(600), std::nullopt});
    t.set(kBaseTime + 61);
    t.registry.capture(*t.registry.authenticate(created.api_key), one_message("c4"));
    t.set(kBaseTime + 62);
    t.registry.capture(*t.registry.authenticate(rotated.api_key), one_message("c5"));
    t.registry.flush_key_usage();
    const auto keys = t.registry.keys("org-a", id);
    CHECK(keys.current.last_used_at == at(kBaseTime + 62));
    REQUIRE(keys.previous);
    CHECK(keys.previous->last_used_at == at(kBaseTime + 61));
}

void reopen_keeps_key_lifecycle(ConformanceTarget& target) {
    ChatbotFactory f(59);
    const Chatbot c = f.make("org-a", "Kept");
    const Digest fresh = digest_for("fresh");
    {
        auto store = target.open();
        insert(*store, c);
        store->record_key_usage(std::vector<KeyUsage>{{digest_for(c.id), at(kBaseTime + 7)}});
        REQUIRE(store->replace_key("org-a", c.id, new_key(fresh, kBaseTime + 9, kBaseTime + 900),
                                   at(kBaseTime + 600), journal_entry()));
        store->record_key_usage(std::vector<KeyUsage>{{fresh, at(kBaseTime + 11)}});
    }
    auto store = target.open();
    CHECK(store->find_by_key_digest(digest_for(c.id)) == previous_owner_of(c, kBaseTime + 600));
    CHECK(store->find_by_key_digest(fresh) ==
          KeyOwner{c.id, c.org_id, KeySlot::current, at(kBaseTime + 900)});
    const auto keys = store->keys("org-a", c.id);
    REQUIRE(keys);
    CHECK(keys->current ==
          KeyState{prefix_for(fresh), at(kBaseTime + 9), at(kBaseTime + 900), at(kBaseTime + 11)});
    CHECK(keys->previous ==
          KeyState{c.key_prefix, c.created_at, at(kBaseTime + 600), at(kBaseTime + 7)});
}

}  // namespace chatbotmgr::testing::detail::store_cases
