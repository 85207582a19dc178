#include "chatbotmgr/clock.hpp"

#include <sodium.h>

#include "chatbotmgr/error.hpp"
#include "sodium_init.hpp"

namespace chatbotmgr {
namespace {

class SystemClock final : public Clock {
  public:
    std::chrono::system_clock::time_point now() const override {
        return std::chrono::system_clock::now();
    }
};

class SodiumRandom final : public RandomSource {
  public:
    SodiumRandom() { ensure_sodium_initialized(); }
    void fill(std::span<std::byte> out) override { randombytes_buf(out.data(), out.size()); }
};

}  // namespace

void ensure_sodium_initialized() {
    // sodium_init is idempotent and thread-safe; a function-local static runs it once.
    static const bool ok = sodium_init() >= 0;
    if (!ok) throw Error(ErrorCode::internal, "libsodium could not be initialized");
}

std::shared_ptr<Clock> system_clock() {
    static const auto clock = std::make_shared<SystemClock>();
    return clock;
}

std::shared_ptr<RandomSource> system_random() {
    static const auto random = std::make_shared<SodiumRandom>();
    return random;
}

}  // namespace chatbotmgr
