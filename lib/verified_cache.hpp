// Internal: an in-memory cache of verified secrets (digest -> what the secret grants),
// exact across every registry and store object over the same data.
//
// The danger of such a cache is serving a secret after it was revoked -- by this process
// or another registry or store object. The store reports a generation that changes after
// every committed revocation and before that call returns (ChatbotStore::key_generation).
// The cache holds the entries of one generation only: a lookup is a hit only while the
// store's generation is still the one the entries were read under, and a fill read under
// an older generation than the store's current one is dropped, so an in-flight reader
// cannot bring back what a revocation removed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <unordered_map>

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

    // The value cached for digest, if the cache still holds current_generation's entries.
    std::optional<Value> find(const Digest& digest, std::uint64_t current_generation) const {
        std::shared_lock lock(mutex_);
        if (generation_ != current_generation) return std::nullopt;
        const auto it = entries_.find(digest);
        if (it == entries_.end()) return std::nullopt;
        return it->second;
    }

    // Adds what a reader found in storage. read_generation: the store's generation taken
    // before reading storage; current_generation: taken after. Dropped unless both agree
    // and are not older than what the cache holds.
    void insert(const Digest& digest, Value value, std::uint64_t read_generation,
                std::uint64_t current_generation) {
        if (read_generation != current_generation) return;
        std::unique_lock lock(mutex_);
        if (read_generation < generation_) return;
        if (read_generation > generation_ || entries_.size() >= capacity_) {
            entries_.clear();
            generation_ = read_generation;
        }
        entries_.insert_or_assign(digest, std::move(value));
    }

  private:
    mutable std::shared_mutex mutex_;
    std::uint64_t generation_ = 0;
    std::size_t capacity_;
    std::unordered_map<Digest, Value, DigestHash, ConstantTimeDigestEqual> entries_;
};

}  // namespace chatbotmgr::detail
