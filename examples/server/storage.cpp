#include "storage.hpp"

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/sqlite/sqlite_store.hpp"
#ifdef CHATBOTMGR_SERVER_WITH_POSTGRES
#include "chatbotmgr/postgres/postgres_store.hpp"
#endif

namespace chatbotmgr::server {

Storage open_storage(const StorageConfig& config, CommitObserver on_commit) {
    if (config.postgres_url) {
#ifdef CHATBOTMGR_SERVER_WITH_POSTGRES
        // Shared by every instance on the same URL: the store caches nothing in the process
        // (it reports no key_generation()), so the registry and Accounts look keys and
        // sessions up in the database on every request, and a rotation, deletion or logout
        // on one instance holds on all of them at once.
        postgres::PostgresOptions options;
        options.conninfo = *config.postgres_url;
        options.pool_size = config.postgres_pool;
        options.on_commit = std::move(on_commit);
        auto store = std::make_shared<postgres::PostgresStore>(std::move(options));
        Storage s{store, store, store, [store] { store->ping(); }, nullptr};
        s.ping();
        return s;
#else
        throw Error(ErrorCode::invalid_argument,
                    "this build has no PostgreSQL support (libpq was not found)");
#endif
    }
    sqlite::SqliteOptions options;
    options.path = config.sqlite_path;
    options.on_commit = std::move(on_commit);
    auto store = std::make_shared<sqlite::SqliteStore>(std::move(options));
    Storage s{store, store, store, [store] { store->ping(); }, store};
    s.ping();
    return s;
}

}  // namespace chatbotmgr::server
