// The rotation and merge storms, shared by the race tests and their negative controls.
#include "storms.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "chatbotmgr/error.hpp"

namespace chatbotmgr::reliability {
namespace json = boost::json;

namespace {
NewChatbot named(std::string name) {
    return NewChatbot{std::move(name), {}};
}

// prefix followed by n, by appending: GCC 12 at -O3 reports a false -Wrestrict for
// "t" + std::to_string(t).
std::string numbered(const char* prefix, int n) {
    std::string out(prefix);
    out += std::to_string(n);
    return out;
}
}  // namespace

RotationStorm rotation_storm(ChatbotRegistry& registry, int rotations, int readers) {
    const auto created = registry.create("org-race", named("rotating"));
    std::vector<std::string> keys(static_cast<std::size_t>(rotations) + 1);
    keys[0] = created.api_key;
    std::atomic<int> published{0};  // keys[0..published] written; all but the last are dead
    std::atomic<int> started{0};    // rotations begun
    std::atomic<bool> done{false};
    std::atomic<long> stale_tries{0}, stale_accepted{0}, current_rejected{0}, wrong_bot{0},
        other_errors{0}, tries{0};

    std::vector<std::thread> threads;
    for (int r = 0; r < readers; ++r) {
        threads.emplace_back([&, r] {
            std::minstd_rand rng(static_cast<unsigned>(r + 1));
            while (!done.load()) {
                const int latest = published.load(std::memory_order_acquire);
                const int started_before = started.load();
                if (latest > 0) {
                    const std::string& old = keys[rng() % static_cast<unsigned>(latest)];
                    ++stale_tries;
                    try {
                        if (registry.authenticate(old)) ++stale_accepted;
                    } catch (const Error&) {
                        ++other_errors;
                    }
                }
                try {
                    const auto key = registry.authenticate(keys[static_cast<std::size_t>(latest)]);
                    if (!key) {
                        if (started_before == latest && started.load() == started_before)
                            ++current_rejected;
                    } else if (key->chatbot_id() != created.chatbot.id) {
                        ++wrong_bot;
                    }
                } catch (const Error&) {
                    ++other_errors;
                }
                ++tries;
            }
        });
    }
    RotationStorm out;
    for (int i = 1; i <= rotations; ++i) {
        started.store(i);
        try {
            keys[static_cast<std::size_t>(i)] =
                registry.rotate_key("org-race", created.chatbot.id).api_key;
        } catch (const Error&) {
            ++out.rotate_errors;
            keys[static_cast<std::size_t>(i)] = keys[static_cast<std::size_t>(i) - 1];
        }
        published.store(i, std::memory_order_release);
        // Let the readers work between rotations (bounded: never waits on the clock).
        const long seen = tries.load();
        for (int spin = 0; spin < 100000 && tries.load() < seen + 4; ++spin)
            std::this_thread::yield();
    }
    done.store(true);
    for (auto& t : threads) t.join();

    for (const auto& k : keys) {
        try {
            if (registry.authenticate(k)) ++out.alive_after;
        } catch (const Error&) {
        }
    }
    registry.remove("org-race", created.chatbot.id);
    out.stale_tries = stale_tries.load();
    out.stale_accepted = stale_accepted.load();
    out.current_rejected = current_rejected.load();
    out.wrong_bot = wrong_bot.load();
    out.other_errors = other_errors.load();
    return out;
}

MergeStorm merge_storm(ChatbotRegistry& registry, int threads, int patches) {
    const auto bot =
        registry.create("org-race", NewChatbot{"merge", json::object{{"keep", true}}}).chatbot;
    std::atomic<long> errors{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            const std::string mine = numbered("t", t);
            for (int p = 0; p < patches; ++p) {
                json::object patch;
                patch[mine] = json::object{{numbered("p", p), p}};
                patch["flat_" + mine + "_" + std::to_string(p)] = true;
                try {
                    registry.update(
                        "org-race", bot.id,
                        ChatbotPatch{p % 5 == 0 ? std::optional<std::string>(mine) : std::nullopt,
                                     std::move(patch)});
                } catch (const Error&) {
                    ++errors;
                }
            }
            try {
                registry.update(
                    "org-race", bot.id,
                    ChatbotPatch{std::nullopt, json::object{{"flat_" + mine + "_0", nullptr}}});
            } catch (const Error&) {
                ++errors;
            }
        });
    }
    for (auto& w : workers) w.join();

    MergeStorm out;
    out.errors = errors.load();
    const json::object s = registry.get("org-race", bot.id).settings;
    if (!s.contains("keep")) ++out.missing;
    for (int t = 0; t < threads; ++t) {
        const std::string mine = numbered("t", t);
        const json::value* nested = s.if_contains(mine);
        for (int p = 0; p < patches; ++p) {
            const std::string key = numbered("p", p);
            if (!nested || !nested->is_object() || !nested->get_object().contains(key) ||
                nested->get_object().at(key) != p)
                ++out.missing;
            const bool flat = s.contains("flat_" + mine + "_" + std::to_string(p));
            if (p == 0 && flat) ++out.unexpected;  // removed by its own thread
            if (p != 0 && !flat) ++out.missing;
        }
    }
    out.members = static_cast<long>(s.size());
    out.expected_members = 1 + threads + threads * (patches - 1);
    registry.remove("org-race", bot.id);
    return out;
}

}  // namespace chatbotmgr::reliability
