// Runs the storage conformance suite (chatbotmgr::testing) over the built-in stores.
#include <memory>

#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/sqlite/sqlite_store.hpp"
#include "chatbotmgr/testing/conformance.hpp"
#include "temp_dir.hpp"

namespace {

using chatbotmgr::testing::AccountConformanceTarget;
using chatbotmgr::testing::ConformanceTarget;

template <class Base, class Port>
class MemoryTarget final : public Base {
  public:
    std::shared_ptr<Port> open() override { return std::make_shared<chatbotmgr::MemoryStore>(); }
};

// A file in a fresh temp dir; every open() after the first reopens the same file.
template <class Base, class Port>
class SqliteTarget final : public Base {
  public:
    std::shared_ptr<Port> open() override {
        chatbotmgr::sqlite::SqliteOptions options;
        options.path = dir_.file("conformance.db");
        return std::make_shared<chatbotmgr::sqlite::SqliteStore>(std::move(options));
    }

  private:
    chatbotmgr::test::TempDir dir_;
};

CHATBOTMGR_STORAGE_CONFORMANCE("memory", [] {
    return std::make_unique<MemoryTarget<ConformanceTarget, chatbotmgr::ChatbotStore>>();
});
CHATBOTMGR_PERSISTENT_STORAGE_CONFORMANCE("sqlite", [] {
    return std::make_unique<SqliteTarget<ConformanceTarget, chatbotmgr::ChatbotStore>>();
});
CHATBOTMGR_ACCOUNT_STORE_CONFORMANCE("memory", [] {
    return std::make_unique<MemoryTarget<AccountConformanceTarget, chatbotmgr::AccountStore>>();
});
CHATBOTMGR_PERSISTENT_ACCOUNT_STORE_CONFORMANCE("sqlite", [] {
    return std::make_unique<SqliteTarget<AccountConformanceTarget, chatbotmgr::AccountStore>>();
});

}  // namespace
