// Internal: an in-memory cache of verified secrets (digest -> what the secret grants).
//
// The danger of such a cache is resurrection: a reader that missed, fetched the old record
// from storage, and inserts it *after* a concurrent rotation or revocation invalidated it.
// Every invalidation therefore bumps an epoch, and a fill only lands if no invalidation
// happened since the reader took its ticket before reading storage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "chatbotmgr/secrets.hpp"

namespace chatbotmgr::detail {

// Digest equality in constant time: the keys are digests of secrets.
struct ConstantTimeDigestEqual {
    bool operator()(const Digest& a, const Digest& b) const noexcept { return digests_equal(a, b); }
};

template <class Value>
class VerifiedCache {
  public:
    explicit VerifiedCache(std::size_t capacity) : capacity_(capacity) {}

    using Ticket = std::uint64_t;

    // Take before reading storage; hand to insert.
    Ticket ticket() const {
        std::shared_lock lock(mutex_);
        return epoch_;
    }

    std::optional<Value> find(const Digest& digest) const {
        std::shared_lock lock(mutex_);
        const auto it = entries_.find(digest);
        if (it == entries_.end()) return std::nullopt;
        return it->second.value;
    }

    void insert(const Digest& digest, const std::string& owner, Value value, Ticket ticket) {
        std::unique_lock lock(mutex_);
        if (ticket != epoch_) return;  // something was invalidated meanwhile: don't resurrect
        if (entries_.size() >= capacity_) {
            entries_.clear();
            by_owner_.clear();
        }
        entries_.insert_or_assign(digest, Entry{owner, std::move(value)});
        by_owner_[owner].push_back(digest);
    }

    // Forgets every digest of this owner (a chatbot id, a user id).
    void invalidate_owner(const std::string& owner) {
        std::unique_lock lock(mutex_);
        ++epoch_;
        const auto it = by_owner_.find(owner);
        if (it == by_owner_.end()) return;
        for (const Digest& d : it->second) entries_.erase(d);
        by_owner_.erase(it);
    }

    void invalidate(const Digest& digest) {
        std::unique_lock lock(mutex_);
        ++epoch_;
        const auto it = entries_.find(digest);
        if (it == entries_.end()) return;
        auto& digests = by_owner_[it->second.owner];
        std::erase_if(digests, [&](const Digest& d) { return digests_equal(d, digest); });
        if (digests.empty()) by_owner_.erase(it->second.owner);
        entries_.erase(it);
    }

  private:
    struct Entry {
        std::string owner;
        Value value;
    };
    mutable std::shared_mutex mutex_;
    std::uint64_t epoch_ = 0;
    std::size_t capacity_;
    std::unordered_map<Digest, Entry, DigestHash, ConstantTimeDigestEqual> entries_;
    std::unordered_map<std::string, std::vector<Digest>> by_owner_;
};

}  // namespace chatbotmgr::detail
