#include "concurrency.hpp"

#include "chatbotmgr/testing/conformance.hpp"  // Catch2

namespace chatbotmgr::testing::detail {

void require_no_problems(const std::vector<std::string>& problems) {
    for (std::size_t i = 0; i < problems.size(); ++i) {
        INFO("thread " << i);
        CHECK(problems[i] == "");
    }
}

}  // namespace chatbotmgr::testing::detail
