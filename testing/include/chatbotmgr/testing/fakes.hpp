// Deterministic stand-ins for the core's injected time and randomness.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "chatbotmgr/clock.hpp"

namespace chatbotmgr::testing {

// A clock that stands still until told to move. Thread-safe.
class FakeClock final : public Clock {
  public:
    explicit FakeClock(std::chrono::sys_seconds start =
                           std::chrono::sys_seconds{
                               std::chrono::seconds{1'705'312'800}})  // 2024-01-15T10:00:00Z
        : now_(start.time_since_epoch().count()) {}

    std::chrono::system_clock::time_point now() const override {
        return std::chrono::system_clock::time_point{std::chrono::seconds{now_.load()}};
    }
    void advance(std::chrono::seconds by) { now_ += by.count(); }
    void set(std::chrono::sys_seconds t) { now_ = t.time_since_epoch().count(); }

  private:
    std::atomic<std::int64_t> now_;
};

// Reproducible "random" bytes: a counter run through SplitMix64. Thread-safe. Never use
// outside tests -- the output is predictable by design.
class DeterministicRandom final : public RandomSource {
  public:
    explicit DeterministicRandom(std::uint64_t seed = 1) : state_(seed) {}

    void fill(std::span<std::byte> out) override {
        for (std::size_t i = 0; i < out.size(); i += 8) {
            std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
            z ^= z >> 31;
            for (std::size_t j = 0; j < 8 && i + j < out.size(); ++j)
                out[i + j] = static_cast<std::byte>(z >> (8 * j));
        }
    }

  private:
    std::atomic<std::uint64_t> state_;
};

}  // namespace chatbotmgr::testing
