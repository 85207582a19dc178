// Storage selection of chatbotmgr-server.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/group_commit.hpp"
#include "chatbotmgr/journal.hpp"
#include "chatbotmgr/storage.hpp"
#include "config.hpp"

namespace chatbotmgr::server {

struct Storage {
    std::shared_ptr<ChatbotStore> chatbots;
    std::shared_ptr<AccountStore> accounts;
    std::shared_ptr<JournalStore> journal;  // audit events and idempotency records
    std::function<void()> ping;  // throws Error(unavailable) when storage does not answer
    std::shared_ptr<GroupCommit> group_commit;  // SQLite only: whole writes in its groups
};

// Called after each storage commit with its time and number of writes (SQLite: one
// group commit of the writer; PostgreSQL: one write transaction, possibly from several
// threads at once).
using CommitObserver = std::function<void(std::chrono::nanoseconds, std::size_t)>;

// Opens (creating when missing) the configured storage and checks that it answers.
// Throws chatbotmgr::Error (or std::exception) with a readable message.
Storage open_storage(const StorageConfig& config, CommitObserver on_commit = {});

}  // namespace chatbotmgr::server
