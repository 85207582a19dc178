// The cases of the suite, one function each, declared from the lists in conformance.hpp.
// Each takes a fresh target and checks with Catch2 assertions on the calling thread.
//   store_cases:   chatbot_store_cases_*.cpp (by topic)
//   account_cases: account_store_cases.cpp
#pragma once

#include "chatbotmgr/testing/conformance.hpp"

namespace chatbotmgr::testing::detail {

#define CHATBOTMGR_CONFORMANCE_DETAIL_DECLARE_STORE_CASE(id, ...) void id(ConformanceTarget&);
#define CHATBOTMGR_CONFORMANCE_DETAIL_DECLARE_ACCOUNT_CASE(id, ...) \
    void id(AccountConformanceTarget&);

namespace store_cases {
CHATBOTMGR_CONFORMANCE_STORE_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_DECLARE_STORE_CASE, ~)
CHATBOTMGR_CONFORMANCE_PERSISTENT_STORE_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_DECLARE_STORE_CASE, ~)
}  // namespace store_cases

namespace account_cases {
CHATBOTMGR_CONFORMANCE_ACCOUNT_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_DECLARE_ACCOUNT_CASE, ~)
CHATBOTMGR_CONFORMANCE_PERSISTENT_ACCOUNT_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_DECLARE_ACCOUNT_CASE,
                                                ~)
}  // namespace account_cases

#undef CHATBOTMGR_CONFORMANCE_DETAIL_DECLARE_STORE_CASE
#undef CHATBOTMGR_CONFORMANCE_DETAIL_DECLARE_ACCOUNT_CASE

}  // namespace chatbotmgr::testing::detail
