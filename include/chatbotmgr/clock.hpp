// Injected time and randomness, so tests are deterministic.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>

namespace chatbotmgr {

// Wall-clock time. Implementations must be safe to call from many threads.
class Clock {
  public:
    virtual ~Clock() = default;
    virtual std::chrono::system_clock::time_point now() const = 0;
};

// Cryptographically secure random bytes. Implementations must be safe to call from
// many threads. Everything secret or unguessable (API keys, session tokens, ids) is
// drawn from here.
class RandomSource {
  public:
    virtual ~RandomSource() = default;
    virtual void fill(std::span<std::byte> out) = 0;
};

// The process-wide defaults: the system clock and libsodium's CSPRNG.
std::shared_ptr<Clock> system_clock();
std::shared_ptr<RandomSource> system_random();

}  // namespace chatbotmgr
