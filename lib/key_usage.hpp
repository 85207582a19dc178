// Internal: when each key was last used, kept in memory between batched writes (API.md
// section 12). A capture only takes a short lock to note its key; writing happens in
// flush, outside that lock, so a slow store never holds a capture up.
#pragma once

#include <algorithm>
#include <chrono>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "chatbotmgr/keys.hpp"
#include "chatbotmgr/secrets.hpp"

namespace chatbotmgr::detail {

class KeyUsageLog {
  public:
    void record(const Digest& digest, std::chrono::sys_seconds at) {
        std::lock_guard lock(mutex_);
        auto [it, inserted] = pending_.try_emplace(digest, at);
        if (!inserted && it->second < at) it->second = at;
    }

    // Everything noted since the last take, and forgets it.
    std::vector<KeyUsage> take() {
        std::unordered_map<Digest, std::chrono::sys_seconds, DigestHash> taken;
        {
            std::lock_guard lock(mutex_);
            taken.swap(pending_);
        }
        std::vector<KeyUsage> out;
        out.reserve(taken.size());
        for (const auto& [digest, at] : taken) out.push_back(KeyUsage{digest, at});
        return out;
    }

    // Puts back what a failed write took, so the next flush retries it.
    void restore(const std::vector<KeyUsage>& usage) {
        for (const KeyUsage& u : usage) record(u.digest, u.last_used_at);
    }

  private:
    std::mutex mutex_;
    std::unordered_map<Digest, std::chrono::sys_seconds, DigestHash> pending_;
};

}  // namespace chatbotmgr::detail
