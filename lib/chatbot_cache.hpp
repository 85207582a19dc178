// Internal: what get and list answered, kept in memory per organization and exact across
// every registry and store object over the same data.
//
// The same rule as VerifiedCache (verified_cache.hpp), per organization: the store reports
// a generation for each organization that grows after every committed write to its
// chatbots, before that write returns (ChatbotStore::chatbot_generation). An
// organization's entries are served only while its generation is still the one they were
// read under, and a fill read under an older generation than the store's current one is
// dropped, so a reader that raced a write cannot bring back what it replaced.
//
// Entries are immutable snapshots shared with the callers (shared_ptr<const>), so a hit
// copies nothing and a caller's snapshot stays valid after the entry is dropped. The cache
// counts an estimate of the bytes its entries take and starts over when they would pass
// its capacity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chatbotmgr/chatbot.hpp"

namespace chatbotmgr::detail {

// Lets maps keyed by std::string be searched with a string_view, without a copy.
struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

using ChatbotList = std::vector<Chatbot>;

class ChatbotCache {
  public:
    explicit ChatbotCache(std::size_t capacity_bytes) : capacity_(capacity_bytes) {}

    // The chatbot cached for (org_id, id), if the cache holds current_generation's entries
    // of org_id; null otherwise.
    std::shared_ptr<const Chatbot> find(std::string_view org_id, std::string_view id,
                                        std::uint64_t current_generation) const;
    // The organization's whole list, likewise.
    std::shared_ptr<const ChatbotList> find_list(std::string_view org_id,
                                                 std::uint64_t current_generation) const;

    // Adds what a reader found in storage. read_generation: the organization's generation
    // taken before reading storage; current_generation: taken after. Dropped unless both
    // agree and are not older than what the cache holds for the organization.
    void insert(std::shared_ptr<const Chatbot> chatbot, std::uint64_t read_generation,
                std::uint64_t current_generation);
    void insert_list(std::string_view org_id, std::shared_ptr<const ChatbotList> list,
                     std::uint64_t read_generation, std::uint64_t current_generation);

  private:
    struct Organization {
        std::uint64_t generation = 0;
        std::shared_ptr<const ChatbotList> list;
        std::unordered_map<std::string, std::shared_ptr<const Chatbot>, StringHash, std::equal_to<>>
            chatbots;
        std::size_t bytes = 0;
    };

    // The organization's entry ready to take an entry of `bytes` read under generation,
    // or null when the fill must be dropped. With the lock held.
    Organization* room_for(std::string_view org_id, std::uint64_t generation, std::size_t bytes);

    mutable std::shared_mutex mutex_;
    std::unordered_map<std::string, Organization, StringHash, std::equal_to<>> organizations_;
    std::size_t bytes_ = 0;
    std::size_t capacity_;
};

// Estimated bytes a chatbot takes in memory: its strings and its settings, counted as the
// JSON parser counts them (JsonLimits::max_parsed_bytes, json.hpp).
std::size_t estimated_bytes(const Chatbot& chatbot) noexcept;

}  // namespace chatbotmgr::detail
