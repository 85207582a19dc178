// GenerationTable: per-organization generation counters in constant memory, for stores
// that report ChatbotStore::chatbot_generation (storage.hpp).
//
// Organizations share a counter when their ids hash to the same one of a fixed number of
// buckets, which the port allows ("the values of several organizations may move
// together"): a write to one of them only makes the other's cached answers miss once.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

namespace chatbotmgr {

class GenerationTable {
  public:
    // The counter of org_id: a store grows it after each committed write to that
    // organization's chatbots, before the write's call returns.
    std::atomic<std::uint64_t>& counter(std::string_view org_id) noexcept {
        return counters_[std::hash<std::string_view>{}(org_id) % kBuckets];
    }
    std::uint64_t load(std::string_view org_id) const noexcept {
        return counters_[std::hash<std::string_view>{}(org_id) % kBuckets].load();
    }

  private:
    static constexpr std::size_t kBuckets = 256;
    std::array<std::atomic<std::uint64_t>, kBuckets> counters_{};
};

}  // namespace chatbotmgr
