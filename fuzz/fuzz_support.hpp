// Shared helpers of the libFuzzer targets: invariant checks that abort (so libFuzzer
// records the input as a crash) and the secret scan every target applies to its outputs.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "chatbotmgr/secrets.hpp"

// A broken invariant is a finding: print it and abort, which libFuzzer reports as a crash
// and saves the input under -artifact_prefix.
#define FUZZ_CHECK(cond)                                                                        \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            std::abort();                                                                       \
        }                                                                                       \
    } while (false)

namespace chatbotmgr::fuzz {

inline bool is_lower_hex(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

// True when text contains a complete API key or session token anywhere (not only at the
// start): what an error message, a warning or a log line must never carry.
inline bool contains_secret(std::string_view text) noexcept {
    const auto scan = [&](std::string_view prefix, std::size_t length) {
        for (std::size_t at = text.find(prefix); at != std::string_view::npos;
             at = text.find(prefix, at + 1)) {
            if (text.size() - at < length) return false;
            bool hex = true;
            for (std::size_t i = at + prefix.size(); i < at + length && hex; ++i)
                hex = is_lower_hex(text[i]);
            if (hex) return true;
        }
        return false;
    };
    return scan(kApiKeyPrefix, kApiKeyLength) || scan(kSessionTokenPrefix, kSessionTokenLength);
}

}  // namespace chatbotmgr::fuzz
