// Internal: a counting semaphore that never waits -- a slot now, or a refusal now (which
// the Api answers with 503 and Retry-After). Bounds the logins queued for the
// password-hashing pool and the large bodies parsed at once.
#pragma once

#include <atomic>
#include <cstddef>
#include <optional>

namespace chatbotmgr::beast::detail {

class Slots {
  public:
    // Called when the last slot in use is given back (on that thread); may be null.
    using IdleHook = void (*)();

    explicit Slots(std::size_t capacity, IdleHook on_idle = nullptr) noexcept
        : capacity_(capacity), on_idle_(on_idle) {}
    Slots(const Slots&) = delete;
    Slots& operator=(const Slots&) = delete;

    // Holds one slot until destroyed; movable (into a job that outlives its caller).
    class Slot {
      public:
        Slot(Slot&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
        Slot& operator=(Slot&&) = delete;
        ~Slot() {
            if (owner_) owner_->release();
        }

      private:
        friend class Slots;
        explicit Slot(Slots* owner) noexcept : owner_(owner) {}
        Slots* owner_;
    };

    std::optional<Slot> try_acquire() noexcept {
        std::size_t used = used_.load(std::memory_order_relaxed);
        do {
            if (used >= capacity_) return std::nullopt;
        } while (!used_.compare_exchange_weak(used, used + 1, std::memory_order_acq_rel));
        return Slot(this);
    }

    std::size_t in_use() const noexcept { return used_.load(std::memory_order_relaxed); }
    std::size_t capacity() const noexcept { return capacity_; }

  private:
    void release() noexcept {
        if (used_.fetch_sub(1, std::memory_order_acq_rel) == 1 && on_idle_) on_idle_();
    }

    const std::size_t capacity_;
    const IdleHook on_idle_;
    std::atomic<std::size_t> used_{0};
};

}  // namespace chatbotmgr::beast::detail
