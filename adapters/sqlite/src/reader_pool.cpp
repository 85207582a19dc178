#include "reader_pool.hpp"

#include <utility>

namespace chatbotmgr::sqlite::detail {

ReaderPool::ReaderPool(ConnectionConfig config, std::size_t size)
    : config_(std::move(config)), slots_(size == 0 ? 1 : size) {
    for (std::size_t i = slots_.size(); i-- > 0;) free_.push_back(i);
}

ReaderPool::Lease ReaderPool::acquire() {
    std::size_t slot = 0;
    {
        std::unique_lock lock(mutex_);
        freed_.wait(lock, [this] { return !free_.empty(); });
        slot = free_.back();
        free_.pop_back();
    }
    if (!slots_[slot]) {
        try {
            slots_[slot] = std::make_unique<Connection>(config_, Role::reader);
        } catch (...) {
            release(slot, false);
            throw;
        }
    }
    return Lease(*this, slot);
}

void ReaderPool::release(std::size_t slot, bool discard) noexcept {
    if (discard) slots_[slot].reset();
    {
        std::lock_guard lock(mutex_);
        free_.push_back(slot);
    }
    freed_.notify_one();
}

}  // namespace chatbotmgr::sqlite::detail
