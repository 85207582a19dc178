// Conformance cases: key digests (replace_key, find_by_key_digest), rotation under load.
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "builders.hpp"
#include "cases.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "concurrency.hpp"

namespace chatbotmgr::testing::detail::store_cases {

// The registry serves cached key lookups only while the generation it read them under is
// current: a store that reports one must move it for every revocation, before returning.
void key_generation_moves_on_revocation(ConformanceTarget& target) {
    auto store = target.open();
    if (!store->key_generation()) {
        WARN("the store reports no key_generation: the registry never caches its lookups");
        return;
    }
    ChatbotFactory f(41);
    const Chatbot a = f.make("org-a", "Rotated");
    const Chatbot b = f.make("org-a", "Deleted");
    insert(*store, a);
    insert(*store, b);
    const auto before_rotation = *store->key_generation();
    const Digest fresh = digest_for("fresh");
    REQUIRE(store->replace_key("org-a", a.id, new_key(fresh), std::nullopt, journal_entry()));
    const auto after_rotation = *store->key_generation();
    CHECK(after_rotation > before_rotation);
    REQUIRE(store->remove("org-a", b.id, journal_entry()));
    CHECK(*store->key_generation() > after_rotation);
}

void replace_key_retires_old_digest(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(14);
    const Chatbot c = f.make("org-a", "Rotating");
    insert(*store, c);
    const Digest fresh = digest_for("fresh");
    const auto rotated =
        store->replace_key("org-a", c.id, new_key(fresh), std::nullopt, journal_entry());
    REQUIRE(rotated);
    Chatbot expected = c;
    expected.key_prefix = prefix_for(fresh);
    CHECK(*rotated == expected);
    CHECK_FALSE(store->find_by_key_digest(digest_for(c.id)));
    CHECK(store->find_by_key_digest(fresh) == owner_of(expected));
    CHECK(store->get("org-a", c.id) == expected);

    // The retired digest is free again.
    const Chatbot other = f.make("org-a", "Other");
    store->insert(other, digest_for(c.id));
    CHECK(store->find_by_key_digest(digest_for(c.id))->chatbot_id == other.id);
}

void replace_key_to_existing_digest_conflicts(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(15);
    const Chatbot a = f.make("org-a", "A");
    const Chatbot b = f.make("org-b", "B");
    insert(*store, a);
    insert(*store, b);
    CHECK(code_of([&] {
              store->replace_key("org-a", a.id, new_key(digest_for(b.id)), std::nullopt,
                                 journal_entry());
          }) == ErrorCode::conflict);
    // Both keys still work, and a's prefix is unchanged.
    CHECK(store->find_by_key_digest(digest_for(a.id)) == owner_of(a));
    CHECK(store->find_by_key_digest(digest_for(b.id)) == owner_of(b));
    CHECK(store->get("org-a", a.id) == a);
}

void replace_key_not_found(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(16);
    const Chatbot c = f.make("org-a", "Mine");
    insert(*store, c);
    const Digest fresh = digest_for("fresh");
    CHECK_FALSE(store->replace_key("org-b", c.id, new_key(fresh), std::nullopt, journal_entry()));
    CHECK_FALSE(
        store->replace_key("org-a", f.uuid(), new_key(fresh), std::nullopt, journal_entry()));
    CHECK(store->find_by_key_digest(digest_for(c.id)) == owner_of(c));
    CHECK_FALSE(store->find_by_key_digest(fresh));
}

void find_by_key_digest_any_organization(ConformanceTarget& target) {
    auto store = target.open();
    ChatbotFactory f(17);
    const Chatbot a = f.make("org-a", "A");
    const Chatbot b = f.make("org-b", "B");
    insert(*store, a);
    insert(*store, b);
    CHECK(store->find_by_key_digest(digest_for(a.id)) == owner_of(a));
    CHECK(store->find_by_key_digest(digest_for(b.id)) == owner_of(b));
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
        digests.push_back(digest_for(cat("rotation ", i)));
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
                    violations.push_back(cat("digest ", j, " found after ", gone, " rotations"));
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
        const auto r =
            store->replace_key("org-a", c.id, new_key(digests[i]), std::nullopt, journal_entry());
        if (!r) main_problems.push_back("replace_key found no chatbot");
        retired.store(i);
        if (store->find_by_key_digest(digests[i - 1]))
            main_problems.push_back(cat("old digest found right after rotation ", i));
        const auto current = store->find_by_key_digest(digests[i]);
        if (!current || current->chatbot_id != c.id)
            main_problems.push_back(cat("new digest not found after rotation ", i));
    }
    done.store(true);
    readers.join();
    for (const auto& p : main_problems) FAIL_CHECK(p);
    require_no_problems(problems);
    CHECK(violations.empty());
    for (const auto& v : violations) FAIL_CHECK(v);
    CHECK(lookups.load() >= kRotations * kReaders);
}

}  // namespace chatbotmgr::testing::detail::store_cases
