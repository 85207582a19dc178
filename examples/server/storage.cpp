#include "storage.hpp"

#include "chatbotmgr/sqlite/sqlite_store.hpp"

namespace chatbotmgr::server {

Storage open_storage(const StorageConfig& config) {
    // One engine today. PostgreSQL: if config.postgres_url is set, construct
    // chatbotmgr::postgres::PostgresStore here instead; the rest of the server is unchanged.
    sqlite::SqliteOptions options;
    options.path = config.sqlite_path;
    auto store = std::make_shared<sqlite::SqliteStore>(std::move(options));
    Storage s{store, store, [store] { store->ping(); }};
    s.ping();
    return s;
}

}  // namespace chatbotmgr::server
