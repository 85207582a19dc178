// The storage conformance suites (chatbots and accounts), unchanged, on PostgreSQL: one
// fresh database per case.
#include <memory>

#include "chatbotmgr/postgres/postgres_store.hpp"
#include "chatbotmgr/testing/conformance.hpp"
#include "pg_test_support.hpp"

namespace {

template <class Base, class Port>
class PostgresTarget : public Base {
  public:
    std::shared_ptr<Port> open() override {
        if (!db_) db_ = std::make_unique<cbm_pg_test::TempDatabase>();
        return std::make_shared<chatbotmgr::postgres::PostgresStore>(
            cbm_pg_test::options_for(db_->conninfo()));
    }

  private:
    std::unique_ptr<cbm_pg_test::TempDatabase> db_;  // dropped with the target
};

CHATBOTMGR_PERSISTENT_STORAGE_CONFORMANCE("postgres", [] {
    return std::make_unique<
        PostgresTarget<chatbotmgr::testing::ConformanceTarget, chatbotmgr::ChatbotStore>>();
});
CHATBOTMGR_PERSISTENT_ACCOUNT_STORE_CONFORMANCE("postgres", [] {
    return std::make_unique<
        PostgresTarget<chatbotmgr::testing::AccountConformanceTarget, chatbotmgr::AccountStore>>();
});

}  // namespace
