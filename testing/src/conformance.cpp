// run_store_case / run_account_case: a fresh target from the factory, then the case.
// The cases are in chatbot_store_cases_*.cpp and account_store_cases.cpp; what registers
// them with Catch2 is the macros of conformance.hpp, in the integrator's test program.
#include "chatbotmgr/testing/conformance.hpp"

#include "cases.hpp"

namespace chatbotmgr::testing {

#define CHATBOTMGR_CONFORMANCE_DETAIL_RUN_STORE_CASE(id, ...) \
    case StoreCase::id:                                       \
        return detail::store_cases::id(*target);
#define CHATBOTMGR_CONFORMANCE_DETAIL_RUN_ACCOUNT_CASE(id, ...) \
    case AccountCase::id:                                       \
        return detail::account_cases::id(*target);

void run_store_case(StoreCase which, const ConformanceTargetFactory& factory) {
    const std::unique_ptr<ConformanceTarget> target = factory();
    REQUIRE(target != nullptr);
    switch (which) {
        CHATBOTMGR_CONFORMANCE_STORE_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_RUN_STORE_CASE, ~)
        CHATBOTMGR_CONFORMANCE_PERSISTENT_STORE_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_RUN_STORE_CASE,
                                                      ~)
    }
    FAIL("unknown StoreCase " << static_cast<int>(which));
}

void run_account_case(AccountCase which, const AccountConformanceTargetFactory& factory) {
    const std::unique_ptr<AccountConformanceTarget> target = factory();
    REQUIRE(target != nullptr);
    switch (which) {
        CHATBOTMGR_CONFORMANCE_ACCOUNT_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_RUN_ACCOUNT_CASE, ~)
        CHATBOTMGR_CONFORMANCE_PERSISTENT_ACCOUNT_CASES(
            CHATBOTMGR_CONFORMANCE_DETAIL_RUN_ACCOUNT_CASE, ~)
    }
    FAIL("unknown AccountCase " << static_cast<int>(which));
}

}  // namespace chatbotmgr::testing
