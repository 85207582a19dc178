// Shared by the reliability tests: store targets for TEMPLATE_TEST_CASE and a scratch dir.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/sqlite/sqlite_store.hpp"
#include "chatbotmgr/storage.hpp"

namespace chatbotmgr::reliability {

// A unique directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class ScratchDir {
  public:
    ScratchDir() {
        const char* tmp = std::getenv("TMPDIR");
        std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/chatbotmgr-rel-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~ScratchDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;

    std::string file(const std::string& name) const { return (path_ / name).string(); }
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

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
