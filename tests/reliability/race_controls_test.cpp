// Negative controls for the race tests: the same storms against stores that are broken on
// purpose must be caught. They show that the race tests can fail, and for what.
#include <catch2/catch.hpp>

#include <atomic>
#include <barrier>
#include <map>
#include <memory>
#include <mutex>

#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/registry.hpp"
#include "storms.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::reliability;

namespace {

// Forwards every call to a MemoryStore; the controls override what they break. It reports
// no key_generation(): lookups are never cached, so a broken find_by_key_digest shows.
class ForwardingStore : public ChatbotStore {
  public:
    using ChatbotStore::insert;
    bool insert(const Chatbot& c, const NewKey& k, std::size_t max_in_org,
                JournalEntry entry) override {
        return inner_->insert(c, k, max_in_org, std::move(entry));
    }
    std::vector<Chatbot> list(std::string_view org) override { return inner_->list(org); }
    std::optional<Chatbot> get(std::string_view org, std::string_view id) override {
        return inner_->get(org, id);
    }
    std::optional<Chatbot> update(std::string_view org, std::string_view id,
                                  const std::function<void(Chatbot&)>& mutate,
                                  JournalEntry entry) override {
        return inner_->update(org, id, mutate, std::move(entry));
    }
    bool remove(std::string_view org, std::string_view id, JournalEntry entry) override {
        return inner_->remove(org, id, std::move(entry));
    }
    std::optional<Chatbot> replace_key(std::string_view org, std::string_view id, const NewKey& k,
                                       std::optional<std::chrono::sys_seconds> until,
                                       JournalEntry entry) override {
        return inner_->replace_key(org, id, k, until, std::move(entry));
    }
    std::optional<bool> drop_previous_key(std::string_view org, std::string_view id,
                                          std::chrono::sys_seconds now,
                                          JournalEntry entry) override {
        return inner_->drop_previous_key(org, id, now, std::move(entry));
    }
    std::optional<ChatbotKeys> keys(std::string_view org, std::string_view id) override {
        return inner_->keys(org, id);
    }
    std::optional<KeyOwner> find_by_key_digest(const Digest& d) override {
        return inner_->find_by_key_digest(d);
    }
    void record_key_usage(std::span<const KeyUsage> usage) override {
        inner_->record_key_usage(usage);
    }
    std::optional<CaptureResult> append_capture(std::string_view id,
                                                const CaptureBatch& b) override {
        return inner_->append_capture(id, b);
    }
    std::optional<IdempotencyRecord> find_idempotency_record(
        const Digest& scope, std::chrono::sys_seconds now) override {
        return inner_->find_idempotency_record(scope, now);
    }
    void ping() override {}

  protected:
    std::shared_ptr<MemoryStore> inner_ = std::make_shared<MemoryStore>();
};

// Rotation that leaves the old digest working (a lazily cleaned-up old key).
class LingeringKeyStore final : public ForwardingStore {
  public:
    using ChatbotStore::insert;
    bool insert(const Chatbot& c, const NewKey& k, std::size_t max_in_org,
                JournalEntry entry) override {
        if (!ForwardingStore::insert(c, k, max_in_org, std::move(entry))) return false;
        std::lock_guard lock(mutex_);
        current_[c.id] = k.digest;
        return true;
    }
    std::optional<Chatbot> replace_key(std::string_view org, std::string_view id, const NewKey& k,
                                       std::optional<std::chrono::sys_seconds> until,
                                       JournalEntry entry) override {
        auto result = ForwardingStore::replace_key(org, id, k, until, std::move(entry));
        std::lock_guard lock(mutex_);
        if (result) {
            old_[current_[std::string(id)]] = {std::string(org), std::string(id)};
            current_[std::string(id)] = k.digest;
        }
        return result;
    }
    std::optional<KeyOwner> find_by_key_digest(const Digest& d) override {
        if (auto found = ForwardingStore::find_by_key_digest(d)) return found;
        std::pair<std::string, std::string> owner;
        {
            std::lock_guard lock(mutex_);
            const auto it = old_.find(d);
            if (it == old_.end()) return std::nullopt;
            owner = it->second;
        }
        if (!ForwardingStore::get(owner.first, owner.second)) return std::nullopt;
        return KeyOwner{owner.second, owner.first, KeySlot::current, std::nullopt};
    }

  private:
    std::mutex mutex_;
    std::map<std::string, Digest> current_;
    std::map<Digest, std::pair<std::string, std::string>> old_;
};

// Read-modify-write in two steps: the first two updates both read before either writes,
// so one of them loses the other's change (a lost update, made certain by a barrier).
class TwoStepUpdateStore final : public ForwardingStore {
  public:
    std::optional<Chatbot> update(std::string_view org, std::string_view id,
                                  const std::function<void(Chatbot&)>& mutate,
                                  JournalEntry entry) override {
        auto current = ForwardingStore::get(org, id);
        if (!current) return std::nullopt;
        Chatbot changed = *current;
        mutate(changed);
        if (calls_.fetch_add(1) < 2) both_read_.arrive_and_wait();
        return ForwardingStore::update(
            org, id,
            [&](Chatbot& c) {
                c.name = changed.name;
                c.settings = changed.settings;
            },
            std::move(entry));
    }

  private:
    std::atomic<int> calls_{0};
    std::barrier<> both_read_{2};
};

}  // namespace

TEST_CASE("race control: a store whose old key lingers after rotation is caught", "[race]") {
    RegistryOptions options;
    options.cache_keys = false;  // the store's answer is what authenticate sees
    ChatbotRegistry registry(std::make_shared<LingeringKeyStore>(), options);
    const RotationStorm r = rotation_storm(registry, 10, 2);
    CHECK(r.stale_tries > 0);
    CHECK(r.stale_accepted > 0);
    CHECK(r.alive_after > 1);
}

TEST_CASE("race control: a non-atomic read-modify-write loses a member and is caught", "[race]") {
    ChatbotRegistry registry(std::make_shared<TwoStepUpdateStore>());
    const MergeStorm m = merge_storm(registry, 2, 3);
    CHECK(m.errors == 0);
    CHECK(m.missing > 0);
}
