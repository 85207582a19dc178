// Library benchmarks: every ChatbotRegistry operation on the in-memory and the SQLite store
// (synchronous=FULL, the default), single-threaded and with several threads.
//
//   build/ci/bench/chatbotmgr_bench                       # everything
//   build/ci/bench/chatbotmgr_bench --benchmark_filter=Authenticate
#include <benchmark/benchmark.h>

#include <boost/json.hpp>

#include <atomic>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "chatbotmgr/json.hpp"
#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/sqlite/sqlite_store.hpp"

namespace {

using namespace chatbotmgr;
namespace fs = std::filesystem;

struct Memory {
    static std::shared_ptr<ChatbotStore> open() { return std::make_shared<MemoryStore>(); }
};

struct Sqlite {
    static std::shared_ptr<ChatbotStore> open() {
        static std::atomic<int> counter{0};
        const fs::path dir = fs::temp_directory_path() / "chatbotmgr-bench";
        fs::create_directories(dir);
        const fs::path file =
            dir / ("bench-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".db");
        for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(file.string() + suffix);
        sqlite::SqliteOptions options;
        options.path = file.string();
        return std::make_shared<sqlite::SqliteStore>(options);
    }
};

// One registry per benchmark run, shared by its threads: the first thread to arrive builds
// it, the others wait; it is destroyed when the last thread lets go of it.
struct World {
    std::shared_ptr<ChatbotStore> store;
    std::unique_ptr<ChatbotRegistry> registry;
    std::vector<ChatbotWithKey> bots;
};

template <class Store>
std::shared_ptr<World> world(std::size_t bots, bool cache_keys = true, bool cache_chatbots = true) {
    static std::mutex mutex;
    static std::weak_ptr<World> current;
    std::lock_guard lock(mutex);
    if (auto existing = current.lock()) return existing;
    auto w = std::make_shared<World>();
    w->store = Store::open();
    w->registry = std::make_unique<ChatbotRegistry>(
        w->store,
        // One organization takes every create of a run: no per-organization limit here.
        RegistryOptions{.cache_keys = cache_keys,
                        .key_cache_capacity = 100'000,
                        .cache_chatbots = cache_chatbots,
                        .chatbot_cache_bytes = 64 * 1024 * 1024,
                        .max_chatbots_per_org = std::numeric_limits<std::size_t>::max(),
                        .clock = {},
                        .random = {}});
    // Creating from several threads lets group commit share fsyncs on SQLite.
    std::mutex bots_mutex;
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> creators;
    for (int t = 0; t < 16; ++t) {
        creators.emplace_back([&] {
            for (std::size_t i; (i = next++) < bots;) {
                auto bot = w->registry->create(
                    "org-bench",
                    {"bot " + std::to_string(i),
                     parse_json_strict(R"({"onboarded":true,"theme":{"color":"blue"}})")
                         .as_object()});
                std::lock_guard bots_lock(bots_mutex);
                w->bots.push_back(std::move(bot));
            }
        });
    }
    for (auto& t : creators) t.join();
    current = w;
    return w;
}

const ChatbotWithKey& bot_for(const World& w, benchmark::State& state) {
    return w.bots[static_cast<std::size_t>(state.thread_index()) % w.bots.size()];
}

template <class Store>
void Authenticate(benchmark::State& state, bool warm) {
    const auto w = world<Store>(8, warm);
    const std::string key = bot_for(*w, state).api_key;
    for (auto _ : state) benchmark::DoNotOptimize(w->registry->authenticate(key));
    state.SetItemsProcessed(state.iterations());
}
template <class Store>
void AuthenticateWarm(benchmark::State& state) {
    Authenticate<Store>(state, true);
}
template <class Store>
void AuthenticateCold(benchmark::State& state) {
    Authenticate<Store>(state, false);
}

// Get and List read through the registry's chatbot cache (RegistryOptions::cache_chatbots);
// the Uncached variants read the store every time.
template <class Store>
void Get(benchmark::State& state, bool cached) {
    const auto w = world<Store>(8, true, cached);
    const std::string id = bot_for(*w, state).chatbot.id;
    for (auto _ : state) benchmark::DoNotOptimize(w->registry->get("org-bench", id));
    state.SetItemsProcessed(state.iterations());
}
template <class Store>
void Get(benchmark::State& state) {
    Get<Store>(state, true);
}
template <class Store>
void GetUncached(benchmark::State& state) {
    Get<Store>(state, false);
}

template <class Store>
void List(benchmark::State& state, bool cached) {
    const auto w = world<Store>(static_cast<std::size_t>(state.range(0)), true, cached);
    for (auto _ : state) benchmark::DoNotOptimize(w->registry->list("org-bench"));
    state.SetItemsProcessed(state.iterations());
}
template <class Store>
void List(benchmark::State& state) {
    List<Store>(state, true);
}
template <class Store>
void ListUncached(benchmark::State& state) {
    List<Store>(state, false);
}

template <class Store>
void Create(benchmark::State& state) {
    const auto w = world<Store>(0);
    for (auto _ : state)
        benchmark::DoNotOptimize(w->registry->create("org-bench", {"new bot", {}}));
    state.SetItemsProcessed(state.iterations());
}

template <class Store>
void Patch(benchmark::State& state) {
    const auto w = world<Store>(8);
    const std::string id = bot_for(*w, state).chatbot.id;
    // append, not operator+: GCC 12 warns (-Wrestrict) about the inlined "m" + string.
    std::string member = "m";
    member.append(std::to_string(state.thread_index()));
    std::int64_t n = 0;
    for (auto _ : state) {
        ChatbotPatch patch{std::nullopt, boost::json::object{{member, ++n}}};
        benchmark::DoNotOptimize(w->registry->update("org-bench", id, std::move(patch)));
    }
    state.SetItemsProcessed(state.iterations());
}

template <class Store>
void Rotate(benchmark::State& state) {
    const auto w = world<Store>(8);
    const std::string id = bot_for(*w, state).chatbot.id;
    for (auto _ : state) benchmark::DoNotOptimize(w->registry->rotate_key("org-bench", id));
    state.SetItemsProcessed(state.iterations());
}

template <class Store>
void Delete(benchmark::State& state) {
    const auto w = world<Store>(0);
    for (auto _ : state) {
        state.PauseTiming();
        const auto bot = w->registry->create("org-bench", {"doomed", {}});
        state.ResumeTiming();
        w->registry->remove("org-bench", bot.chatbot.id);
    }
    state.SetItemsProcessed(state.iterations());
}

template <class Store>
void Capture(benchmark::State& state) {
    const auto w = world<Store>(8);
    const auto key = w->registry->authenticate(bot_for(*w, state).api_key);
    if (!key) {
        state.SkipWithError("the chatbot's key does not authenticate");
        return;
    }
    CaptureBatch batch;
    batch.external_conversation_id = "conv-" + std::to_string(state.thread_index());
    batch.messages.push_back({"user", "How do I cancel my plan?", std::nullopt, std::nullopt});
    std::int64_t n = 0;
    for (auto _ : state) {
        batch.messages[0].external_id = "msg-" + std::to_string(++n);
        benchmark::DoNotOptimize(w->registry->capture(*key, batch));
    }
    state.SetItemsProcessed(state.iterations());
}

#define CHATBOTMGR_BENCH(fn, store) \
    BENCHMARK_TEMPLATE(fn, store)->UseRealTime()->Threads(1)->Threads(4)
// Writes also with 32 threads: on SQLite, group commit lets them share one fsync.
#define CHATBOTMGR_WRITE_BENCH(fn, store) CHATBOTMGR_BENCH(fn, store)->Threads(32)

CHATBOTMGR_BENCH(AuthenticateWarm, Memory);
CHATBOTMGR_BENCH(AuthenticateWarm, Sqlite);
CHATBOTMGR_BENCH(AuthenticateCold, Memory);
CHATBOTMGR_BENCH(AuthenticateCold, Sqlite);
CHATBOTMGR_BENCH(Get, Memory);
CHATBOTMGR_BENCH(Get, Sqlite);
CHATBOTMGR_BENCH(List, Memory)->Arg(20)->Arg(1000);
CHATBOTMGR_BENCH(List, Sqlite)->Arg(20)->Arg(1000);
CHATBOTMGR_BENCH(GetUncached, Memory);
CHATBOTMGR_BENCH(GetUncached, Sqlite);
CHATBOTMGR_BENCH(ListUncached, Memory)->Arg(20)->Arg(1000);
CHATBOTMGR_BENCH(ListUncached, Sqlite)->Arg(20)->Arg(1000);
CHATBOTMGR_WRITE_BENCH(Create, Memory);
CHATBOTMGR_WRITE_BENCH(Create, Sqlite);
CHATBOTMGR_WRITE_BENCH(Patch, Memory);
CHATBOTMGR_WRITE_BENCH(Patch, Sqlite);
CHATBOTMGR_WRITE_BENCH(Rotate, Memory);
CHATBOTMGR_WRITE_BENCH(Rotate, Sqlite);
// Single-threaded: each iteration pauses the clock to create the chatbot it deletes.
BENCHMARK_TEMPLATE(Delete, Memory)->UseRealTime();
BENCHMARK_TEMPLATE(Delete, Sqlite)->UseRealTime();
CHATBOTMGR_WRITE_BENCH(Capture, Memory);
CHATBOTMGR_WRITE_BENCH(Capture, Sqlite);

}  // namespace

BENCHMARK_MAIN();
