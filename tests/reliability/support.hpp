// Shared by the reliability tests: store targets for TEMPLATE_TEST_CASE and a scratch dir.
#pragma once

#include <memory>
#include <string>

#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/sqlite/sqlite_store.hpp"
#include "chatbotmgr/storage.hpp"
#include "temp_dir.hpp"

namespace chatbotmgr::reliability {

using ScratchDir = test::TempDir;

// SqliteOptions for a file, everything else at its default.
inline sqlite::SqliteOptions sqlite_options(std::string path) {
    sqlite::SqliteOptions o;
    o.path = std::move(path);
    return o;
}

struct MemoryTarget {
    std::shared_ptr<MemoryStore> store = std::make_shared<MemoryStore>();
    std::string db_path;  // none
};

// SQLite with its production defaults (WAL, synchronous=FULL, group commit).
struct SqliteTarget {
    ScratchDir dir;
    std::string db_path = dir.file("race.db");
    std::shared_ptr<sqlite::SqliteStore> store =
        std::make_shared<sqlite::SqliteStore>(sqlite_options(db_path));
};

}  // namespace chatbotmgr::reliability
