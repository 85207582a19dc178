// Flatness: latency of get and authenticate on SQLite databases of very different sizes
// (bench/flatness/make_db.py builds them; bench/flatness/run.sh does everything).
//
//   chatbotmgr_flatness_bench [benchmark flags] DB...
//
// Each DB comes with DB.keys (make_db.py's list of chatbots whose keys are known). Per
// database: Get (by id, in its organization), AuthenticateCold (no key cache: every call
// looks the digest up in SQLite) and AuthenticateWarm (the registry's key cache), each
// cycling over up to 1,000 chatbots spread over the whole file. The operating system's
// page cache is warm (the file was just written or read); SQLite's own cache is its
// default size.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <exception>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/sqlite/sqlite_store.hpp"

namespace {

using namespace chatbotmgr;

struct Known {
    std::string id;
    std::string org_id;
    std::string key;
};

struct Database {
    std::string path;
    std::string chatbots;  // as make_db.py wrote it
    std::vector<Known> known;
    std::shared_ptr<sqlite::SqliteStore> store;
    std::unique_ptr<ChatbotRegistry> cold;  // cache_keys = false
    std::unique_ptr<ChatbotRegistry> warm;  // cache_keys = true
};

void read_keys(Database& db) {
    std::ifstream in(db.path + ".keys");
    if (!in) throw std::runtime_error("cannot read " + db.path + ".keys (run make_db.py)");
    for (std::string line; std::getline(in, line);) {
        std::istringstream fields(line);
        std::string kind;
        std::getline(fields, kind, '\t');
        if (kind == "count") {
            std::getline(fields, db.chatbots, '\t');
        } else if (kind == "bot") {
            Known k;
            std::getline(fields, k.id, '\t');
            std::getline(fields, k.org_id, '\t');
            std::getline(fields, k.key, '\t');
            db.known.push_back(std::move(k));
        }
    }
    if (db.known.empty() || db.chatbots.empty())
        throw std::runtime_error(db.path + ".keys is incomplete (run make_db.py again)");
}

std::unique_ptr<Database> open_database(const std::string& path) {
    auto db = std::make_unique<Database>();
    db->path = path;
    read_keys(*db);
    sqlite::SqliteOptions options;
    options.path = path;
    db->store = std::make_shared<sqlite::SqliteStore>(options);
    db->cold = std::make_unique<ChatbotRegistry>(
        db->store,
        RegistryOptions{.cache_keys = false, .key_cache_capacity = 1, .clock = {}, .random = {}});
    db->warm = std::make_unique<ChatbotRegistry>(db->store);
    // Every known chatbot must be there under its key: a stale .keys file fails here.
    for (const auto& k : db->known) {
        const auto key = db->warm->authenticate(k.key);
        if (!key) throw std::runtime_error(path + ": a known key does not authenticate");
        if (key->chatbot_id() != k.id)
            throw std::runtime_error(path + ": a known key authenticates another chatbot");
    }
    return db;
}

void Get(benchmark::State& state, const Database* db) {
    std::size_t i = 0;
    for (auto _ : state) {
        const Known& k = db->known[i++ % db->known.size()];
        benchmark::DoNotOptimize(db->cold->get(k.org_id, k.id));
    }
    state.SetItemsProcessed(state.iterations());
}

void Authenticate(benchmark::State& state, const ChatbotRegistry* registry, const Database* db) {
    std::size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(registry->authenticate(db->known[i++ % db->known.size()].key));
    }
    state.SetItemsProcessed(state.iterations());
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s [benchmark flags] DB...\n", argv[0]);
        return 2;
    }
    std::vector<std::unique_ptr<Database>> databases;
    try {
        for (int i = 1; i < argc; ++i) databases.push_back(open_database(argv[i]));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "chatbotmgr_flatness_bench: %s\n", e.what());
        return 1;
    }
    for (const auto& db : databases) {
        const std::string n = "/chatbots:" + db->chatbots;
        benchmark::RegisterBenchmark(("Get" + n).c_str(), Get, db.get())->UseRealTime();
        benchmark::RegisterBenchmark(("AuthenticateCold" + n).c_str(), Authenticate, db->cold.get(),
                                     db.get())
            ->UseRealTime();
        benchmark::RegisterBenchmark(("AuthenticateWarm" + n).c_str(), Authenticate, db->warm.get(),
                                     db.get())
            ->UseRealTime();
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
