// What every SqliteStore over one database file shares within a process. Internal.
//
// The key and session caches of the core are exact only if every writer of the file
// reports its revocations (ChatbotStore::key_generation), and the chatbot caches only if
// every writer reports its chatbot writes (ChatbotStore::chatbot_generation). Store objects in this
// process share the counters here; another process cannot, so the first store to open a file takes
// an exclusive lock on "<file>-lock" for the process, and a second process is refused with a clear
// error instead of silently serving revoked keys.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "chatbotmgr/generation_table.hpp"

namespace chatbotmgr::sqlite::detail {

class FileHub {
  public:
    // The hub of path for this process: shared with every live store over the same file.
    // Creates the database file with mode 0600 when it does not exist (SQLite gives the
    // -wal and -shm files the mode of the database). Throws Error(unavailable) when
    // another process holds the file.
    static std::shared_ptr<FileHub> open(const std::string& path);

    FileHub(const FileHub&) = delete;
    FileHub& operator=(const FileHub&) = delete;
    ~FileHub();

    std::atomic<std::uint64_t> key_generation{0};
    std::atomic<std::uint64_t> session_generation{0};
    GenerationTable chatbot_generations;

  private:
    FileHub() = default;
    int lock_fd_ = -1;
};

}  // namespace chatbotmgr::sqlite::detail
