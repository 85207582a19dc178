// "bot-" and 7 as "bot-7": test ids built by appending (GCC 12 at -O3 sees a false -Wrestrict
// in "text" + std::string, which the Release -Werror build would stop at).
#pragma once

#include <string>

namespace chatbotmgr::test {

inline std::string numbered(std::string prefix, long long n) {
    prefix += std::to_string(n);
    return prefix;
}

}  // namespace chatbotmgr::test
