#include "chatbotmgr/registry.hpp"

#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

#include <boost/json/object.hpp>

#include "chatbot_cache.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/permissions.hpp"
#include "chatbotmgr/secrets.hpp"
#include "idempotency.hpp"
#include "journal.hpp"
#include "key_usage.hpp"
#include "paging.hpp"
#include "settings.hpp"
#include "verified_cache.hpp"

namespace chatbotmgr {
namespace {

[[noreturn]] void throw_not_found() {
    throw Error(ErrorCode::not_found, "chatbot not found");
}

// The first check of every call: the role (API.md section 10: before validation and
// before existence, so a refused caller learns nothing), then the organization.
void admit(const Actor& actor, Action action) {
    check_permitted(actor, action);
    if (actor.org_id.empty())
        throw Error(ErrorCode::invalid_argument, "organization id must not be empty", "org_id");
}

// A path id that is not a lowercase canonical UUID cannot name a chatbot.
void check_chatbot_id(std::string_view id) {
    if (!is_canonical_uuid(id)) throw_not_found();
}

using std::chrono::sys_seconds;

sys_seconds whole_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::floor<std::chrono::seconds>(t);
}

// API.md section 12: in the future, at most kMaxKeyLifetime ahead.
void check_key_expiry(const std::optional<sys_seconds>& expires_at,
                      std::chrono::system_clock::time_point now) {
    if (!expires_at) return;
    if (*expires_at <= now)
        throw Error(ErrorCode::invalid_argument, "key_expires_at must be in the future",
                    "key_expires_at");
    if (*expires_at > now + kMaxKeyLifetime)
        throw Error(ErrorCode::invalid_argument, "key_expires_at must be at most 366 days ahead",
                    "key_expires_at");
}

void check_grace(std::chrono::seconds grace) {
    if (grace < std::chrono::seconds::zero() || grace > kMaxGracePeriod)
        throw Error(ErrorCode::invalid_argument,
                    "grace_seconds must be an integer from 0 to 604800", "grace_seconds");
}

NewKey issue_key(const std::string& key, sys_seconds issued_at,
                 std::optional<sys_seconds> expires_at) {
    return NewKey{sha256(key), key.substr(0, kApiKeyVisiblePrefixLength), issued_at, expires_at};
}

AuditTarget chatbot_target(std::string_view id, std::string_view name) {
    return {"chatbot", std::string(id), std::string(name)};
}

boost::json::value rfc3339_or_null(const std::optional<sys_seconds>& t) {
    if (!t) return nullptr;
    return boost::json::string(format_rfc3339(*t));
}

// A key collision, worth a retry with a new key; never an Idempotency-Key conflict.
bool is_key_collision(const Error& e) {
    return e.code() == ErrorCode::conflict && !detail::is_idempotency_conflict(e);
}

constexpr int kMaxInsertAttempts = 3;  // ids and keys are 122/128 random bits: retries are
                                       // for a broken random source, not for luck

}  // namespace

struct ChatbotRegistry::Impl {
    std::shared_ptr<ChatbotStore> store;
    std::shared_ptr<Clock> clock;
    std::shared_ptr<RandomSource> random;
    bool cache_keys;
    std::size_t max_chatbots_per_org;
    mutable detail::VerifiedCache<KeyOwner> key_cache;
    bool cache_chatbots;
    mutable detail::ChatbotCache chatbot_cache;
    detail::KeyUsageLog key_usage;
    std::mutex flush_mutex;  // one batch at a time, so a later one never lands first
    detail::InFlightCalls in_flight;
    // Last: stopped and joined first, while everything it uses still exists.
    std::jthread flusher;

    Impl(std::shared_ptr<ChatbotStore> s, RegistryOptions& o)
        : store(std::move(s)),
          clock(o.clock ? std::move(o.clock) : system_clock()),
          random(o.random ? std::move(o.random) : system_random()),
          cache_keys(o.cache_keys && store->key_generation().has_value()),
          max_chatbots_per_org(o.max_chatbots_per_org),
          key_cache(o.key_cache_capacity),
          cache_chatbots(o.cache_chatbots && store->chatbot_generation({}).has_value()),
          chatbot_cache(o.chatbot_cache_bytes) {
        if (o.key_usage_flush_interval > std::chrono::milliseconds::zero())
            flusher = std::jthread([this, every = o.key_usage_flush_interval](
                                       std::stop_token stop) { flush_periodically(stop, every); });
    }

    void flush() {
        std::lock_guard lock(flush_mutex);
        std::vector<KeyUsage> batch = key_usage.take();
        if (batch.empty()) return;
        try {
            store->record_key_usage(batch);
        } catch (...) {
            key_usage.restore(batch);
            throw;
        }
    }

    void flush_periodically(std::stop_token stop, std::chrono::milliseconds every) {
        std::mutex m;
        std::condition_variable_any wake;
        std::unique_lock lock(m);
        for (;;) {
            // Returns at the interval, or at once when the registry is being destroyed
            // (the destructor writes what is left).
            wake.wait_for(lock, stop, every, [] { return false; });
            if (stop.stop_requested()) return;
            try {
                flush();
            } catch (...) {
                // Kept in memory; the next round retries. Readiness reports the store.
            }
        }
    }

    AuditEvent event(const Actor& actor, AuditAction action, AuditTarget target) const {
        return detail::make_event(actor, action, std::move(target), clock->now());
    }

    sys_seconds now_seconds() const { return whole_seconds(clock->now()); }

    // create and rotate_key, retry-safe: `answer` receives the encoded answer that the
    // call's record keeps.
    struct Retry {
        const detail::IdempotentRun& run;
        const AnswerEncoder<ChatbotWithKey>& encode;
        std::string answer;
    };

    ChatbotWithKey create(const Actor& actor, NewChatbot input,
                          std::optional<sys_seconds> key_expires_at, Retry* retry);

    // A retry-safe call: run(retry) makes the change, writing retry's record with it.
    template <class Run>
    IdempotentAnswer run_once(const Actor& actor, const IdempotentCall& call,
                              const AnswerEncoder<ChatbotWithKey>& encode, Run&& run) {
        const detail::IdempotentRun once(actor, call, now_seconds());
        return detail::run_once(
            in_flight, once,
            [&] { return store->find_idempotency_record(once.scope(), now_seconds()); },
            [&] {
                Retry retry{once, encode, {}};
                run(retry);
                return std::move(retry.answer);
            });
    }
    ChatbotWithKey rotate_key(const Actor& actor, std::string_view chatbot_id,
                              const RotateOptions& options, Retry* retry);

    // The organization's chatbot generation; only while cache_chatbots.
    std::uint64_t chatbot_generation(std::string_view org_id) const {
        return store->chatbot_generation(org_id).value_or(0);
    }

    // The organization's list through the cache (only while cache_chatbots).
    std::shared_ptr<const detail::ChatbotList> whole_list(std::string_view org_id) const {
        const std::uint64_t before = chatbot_generation(org_id);
        if (auto hit = chatbot_cache.find_list(org_id, before)) return hit;
        auto found = std::make_shared<const detail::ChatbotList>(store->list(org_id));
        chatbot_cache.insert_list(org_id, found, before, chatbot_generation(org_id));
        return found;
    }

    // A page of the organization's list as the store would answer list_page: from a cached
    // whole list, if there is one.
    Page<Chatbot> page_of(const detail::ChatbotList& all, const PageRequest& request) const {
        return detail::fetch_page<Chatbot>(request, [&](const auto& after, std::size_t limit) {
            return detail::page_of_list(all, after, limit, detail::Order::newest_first);
        });
    }

    std::optional<KeyOwner> find_key_owner(const Digest& digest) const {
        if (!cache_keys) return store->find_by_key_digest(digest);
        const std::uint64_t before = *store->key_generation();
        if (auto hit = key_cache.find(digest, before)) return hit;
        auto found = store->find_by_key_digest(digest);
        if (found) key_cache.insert(digest, *found, before, *store->key_generation());
        return found;
    }
};

ChatbotRegistry::ChatbotRegistry(std::shared_ptr<ChatbotStore> store, RegistryOptions options) {
    if (!store) throw Error(ErrorCode::invalid_argument, "store must not be null", "store");
    impl_ = std::make_unique<Impl>(std::move(store), options);
}

ChatbotRegistry::~ChatbotRegistry() {
    if (impl_->flusher.joinable()) {
        impl_->flusher.request_stop();
        impl_->flusher.join();
    }
    try {
        impl_->flush();  // a clean shutdown loses no usage
    } catch (...) {
        // The store is gone or failing: nothing left to write it to.
    }
}

ChatbotStore& ChatbotRegistry::store() const noexcept {
    return *impl_->store;
}

std::vector<Chatbot> ChatbotRegistry::list(const Actor& actor) const {
    admit(actor, Action::list_chatbots);
    if (!impl_->cache_chatbots) return impl_->store->list(actor.org_id);
    return *impl_->whole_list(actor.org_id);
}

Page<Chatbot> ChatbotRegistry::list(const Actor& actor, const PageRequest& page) const {
    admit(actor, Action::list_chatbots);
    if (impl_->cache_chatbots) {
        if (auto all = impl_->chatbot_cache.find_list(actor.org_id,
                                                      impl_->chatbot_generation(actor.org_id)))
            return impl_->page_of(*all, page);
    }
    // A page is read as a page (keyset query): an organization may hold 10,000 chatbots.
    return detail::fetch_page<Chatbot>(page, [&](const auto& after, std::size_t limit) {
        return impl_->store->list_page(actor.org_id, after, limit);
    });
}

Chatbot ChatbotRegistry::get(const Actor& actor, std::string_view chatbot_id) const {
    admit(actor, Action::get_chatbot);
    check_chatbot_id(chatbot_id);
    if (!impl_->cache_chatbots) {
        auto found = impl_->store->get(actor.org_id, chatbot_id);
        if (!found) throw_not_found();
        return std::move(*found);
    }
    const std::uint64_t before = impl_->chatbot_generation(actor.org_id);
    if (auto hit = impl_->chatbot_cache.find(actor.org_id, chatbot_id, before)) return *hit;
    auto found = impl_->store->get(actor.org_id, chatbot_id);
    if (!found) throw_not_found();
    auto row = std::make_shared<const Chatbot>(std::move(*found));
    impl_->chatbot_cache.insert(row, before, impl_->chatbot_generation(actor.org_id));
    return *row;
}

std::shared_ptr<const Chatbot> ChatbotRegistry::cached_get(const Actor& actor,
                                                           std::string_view chatbot_id) const {
    admit(actor, Action::get_chatbot);
    check_chatbot_id(chatbot_id);
    if (!impl_->cache_chatbots) return nullptr;
    return impl_->chatbot_cache.find(actor.org_id, chatbot_id,
                                     impl_->chatbot_generation(actor.org_id));
}

std::shared_ptr<const std::vector<Chatbot>> ChatbotRegistry::cached_list(const Actor& actor) const {
    admit(actor, Action::list_chatbots);
    if (!impl_->cache_chatbots) return nullptr;
    return impl_->chatbot_cache.find_list(actor.org_id, impl_->chatbot_generation(actor.org_id));
}

std::optional<Page<Chatbot>> ChatbotRegistry::cached_list(const Actor& actor,
                                                          const PageRequest& page) const {
    admit(actor, Action::list_chatbots);
    detail::check_page_limit(page.limit);
    auto all = cached_list(actor);
    if (!all) return std::nullopt;
    return impl_->page_of(*all, page);
}

ChatbotWithKey ChatbotRegistry::create(const Actor& actor, NewChatbot input,
                                       std::optional<sys_seconds> key_expires_at) {
    return impl_->create(actor, std::move(input), key_expires_at, nullptr);
}

IdempotentAnswer ChatbotRegistry::create(const Actor& actor, NewChatbot input,
                                         std::optional<sys_seconds> key_expires_at,
                                         const IdempotentCall& call,
                                         const AnswerEncoder<ChatbotWithKey>& encode) {
    admit(actor, Action::create_chatbot);
    return impl_->run_once(actor, call, encode, [&](Impl::Retry& retry) {
        impl_->create(actor, std::move(input), key_expires_at, &retry);
    });
}

ChatbotWithKey ChatbotRegistry::Impl::create(const Actor& actor, NewChatbot input,
                                             std::optional<sys_seconds> key_expires_at,
                                             Retry* retry) {
    admit(actor, Action::create_chatbot);
    Chatbot chatbot;
    chatbot.org_id = actor.org_id;
    chatbot.name = normalize_name(input.name);
    detail::checked_settings_json(input.settings);
    chatbot.settings = std::move(input.settings);
    const auto now = clock->now();
    check_key_expiry(key_expires_at, now);
    chatbot.created_at = whole_seconds(now);
    for (int attempt = 1;; ++attempt) {
        chatbot.id = generate_uuid_v4(*random);
        ChatbotWithKey created{chatbot, generate_api_key(*random), std::nullopt};
        const NewKey issued = issue_key(created.api_key, chatbot.created_at, key_expires_at);
        created.chatbot.key_prefix = issued.prefix;
        JournalEntry entry{
            event(actor, AuditAction::chatbot_created, chatbot_target(chatbot.id, chatbot.name)),
            std::nullopt,
            {}};
        if (retry) {
            retry->answer = retry->encode(created);
            entry.idempotency = retry->run.record(retry->answer);
        }
        bool inserted = false;
        try {
            inserted =
                store->insert(created.chatbot, issued, max_chatbots_per_org, std::move(entry));
        } catch (const Error& e) {
            if (!is_key_collision(e) || attempt == kMaxInsertAttempts) throw;
            continue;  // an id or key collision: draw again
        }
        if (!inserted)
            throw Error(ErrorCode::conflict,
                        "the organization has " + std::to_string(max_chatbots_per_org) +
                            " chatbots, the most it may have; delete one first");
        return created;
    }
}

Chatbot ChatbotRegistry::update(const Actor& actor, std::string_view chatbot_id,
                                ChatbotPatch patch) {
    admit(actor, Action::update_chatbot);
    const std::string& org_id = actor.org_id;
    // Validate the whole patch before looking the chatbot up (API.md: 400 before 404).
    std::optional<std::string> name;
    if (patch.name) name = normalize_name(*patch.name);
    if (patch.settings_patch) detail::checked_settings_json(*patch.settings_patch);
    check_chatbot_id(chatbot_id);
    if (!name && !patch.settings_patch) return get(actor, chatbot_id);

    JournalEntry entry{
        impl_->event(actor, AuditAction::chatbot_updated, chatbot_target(chatbot_id, "")),
        std::nullopt,
        {}};
    if (patch.settings_patch) entry.event.changes["settings"] = *patch.settings_patch;
    bool renamed = false;
    entry.complete = [&renamed](const Chatbot& c, JournalEntry& e) {
        e.event.target.name = c.name;
        if (renamed) e.event.changes["name"] = c.name;
    };
    auto updated = impl_->store->update(
        org_id, chatbot_id,
        [&](Chatbot& c) {
            if (name) {
                renamed = c.name != *name;
                c.name = *name;
            }
            if (patch.settings_patch) {
                merge_patch(c.settings, *patch.settings_patch);
                detail::checked_settings_json(
                    c.settings);  // the merged result obeys the limits too
            }
        },
        std::move(entry));
    if (!updated) throw_not_found();
    return std::move(*updated);
}

void ChatbotRegistry::remove(const Actor& actor, std::string_view chatbot_id) {
    admit(actor, Action::delete_chatbot);
    check_chatbot_id(chatbot_id);
    JournalEntry entry{
        impl_->event(actor, AuditAction::chatbot_deleted, chatbot_target(chatbot_id, "")),
        std::nullopt, [](const Chatbot& c, JournalEntry& e) { e.event.target.name = c.name; }};
    if (!impl_->store->remove(actor.org_id, chatbot_id, std::move(entry))) throw_not_found();
}

ChatbotWithKey ChatbotRegistry::rotate_key(const Actor& actor, std::string_view chatbot_id,
                                           RotateOptions options) {
    return impl_->rotate_key(actor, chatbot_id, options, nullptr);
}

IdempotentAnswer ChatbotRegistry::rotate_key(const Actor& actor, std::string_view chatbot_id,
                                             RotateOptions options, const IdempotentCall& call,
                                             const AnswerEncoder<ChatbotWithKey>& encode) {
    admit(actor, Action::rotate_key);
    return impl_->run_once(actor, call, encode, [&](Impl::Retry& retry) {
        impl_->rotate_key(actor, chatbot_id, options, &retry);
    });
}

ChatbotWithKey ChatbotRegistry::Impl::rotate_key(const Actor& actor, std::string_view chatbot_id,
                                                 const RotateOptions& options, Retry* retry) {
    admit(actor, Action::rotate_key);
    const auto now = clock->now();
    check_grace(options.grace);
    check_key_expiry(options.key_expires_at, now);
    check_chatbot_id(chatbot_id);
    const sys_seconds rotated_at = whole_seconds(now);
    std::optional<sys_seconds> previous_until;
    if (options.grace > std::chrono::seconds::zero()) previous_until = rotated_at + options.grace;
    for (int attempt = 1;; ++attempt) {
        std::string key = generate_api_key(*random);
        const NewKey issued = issue_key(key, rotated_at, options.key_expires_at);
        JournalEntry entry{
            event(actor, AuditAction::chatbot_key_rotated, chatbot_target(chatbot_id, "")),
            std::nullopt,
            {}};
        entry.event.changes["grace_seconds"] = options.grace.count();
        entry.event.changes["previous_key_expires_at"] = rfc3339_or_null(previous_until);
        entry.complete = [&](const Chatbot& c, JournalEntry& e) {
            e.event.target.name = c.name;
            if (!retry) return;
            retry->answer = retry->encode(ChatbotWithKey{c, key, previous_until});
            e.idempotency = retry->run.record(retry->answer);
        };
        try {
            auto updated = store->replace_key(actor.org_id, chatbot_id, issued, previous_until,
                                              std::move(entry));
            if (!updated) throw_not_found();
            return {std::move(*updated), std::move(key), previous_until};
        } catch (const Error& e) {
            if (!is_key_collision(e) || attempt == kMaxInsertAttempts) throw;
        }
    }
}

std::optional<IdempotentAnswer> ChatbotRegistry::earlier_answer(const Actor& actor,
                                                                const IdempotentCall& call) const {
    const detail::IdempotentRun run(actor, call, impl_->now_seconds());
    return detail::earlier_answer(impl_->in_flight, run, [&] {
        return impl_->store->find_idempotency_record(run.scope(), impl_->now_seconds());
    });
}

bool ChatbotRegistry::end_grace(const Actor& actor, std::string_view chatbot_id) {
    admit(actor, Action::end_grace);
    check_chatbot_id(chatbot_id);
    JournalEntry entry{impl_->event(actor, AuditAction::chatbot_previous_key_revoked,
                                    chatbot_target(chatbot_id, "")),
                       std::nullopt,
                       [](const Chatbot& c, JournalEntry& e) { e.event.target.name = c.name; }};
    const auto dropped = impl_->store->drop_previous_key(actor.org_id, chatbot_id,
                                                         impl_->now_seconds(), std::move(entry));
    if (!dropped) throw_not_found();
    return *dropped;
}

ChatbotKeys ChatbotRegistry::keys(const Actor& actor, std::string_view chatbot_id) const {
    admit(actor, Action::get_key);
    check_chatbot_id(chatbot_id);
    auto found = impl_->store->keys(actor.org_id, chatbot_id);
    if (!found) throw_not_found();
    // A previous key is shown while it is accepted (API.md section 18: null once over).
    if (found->previous &&
        !(found->previous->expires_at && impl_->clock->now() < *found->previous->expires_at))
        found->previous.reset();
    return std::move(*found);
}

std::optional<VerifiedKey> ChatbotRegistry::authenticate(std::string_view api_key) const {
    return check_key(api_key).key;
}

KeyCheck ChatbotRegistry::check_key(std::string_view api_key) const {
    if (!is_api_key_format(api_key)) return {};
    const Digest digest = sha256(api_key);
    auto owner = impl_->find_key_owner(digest);
    if (!owner) return {};
    // Expiry is a comparison, not a query: exact for cached lookups too.
    if (owner->expires_at && impl_->clock->now() >= *owner->expires_at)
        return {KeyVerdict::expired, std::nullopt};
    const bool previous = owner->slot == KeySlot::previous;
    return {
        previous ? KeyVerdict::previous_key : KeyVerdict::valid,
        VerifiedKey(std::move(owner->chatbot_id), std::move(owner->org_id), owner->slot, digest)};
}

CaptureResult ChatbotRegistry::capture(const VerifiedKey& key, CaptureBatch batch) {
    validate_capture(batch);
    // Read before the capture commits, floored: a last use is never later than the truth.
    const sys_seconds used_at = whole_seconds(impl_->clock->now());
    auto result = impl_->store->append_capture(key.chatbot_id(), batch);
    if (!result) throw Error(ErrorCode::unauthenticated, "invalid API key");
    impl_->key_usage.record(key.digest_, used_at);
    return std::move(*result);
}

void ChatbotRegistry::flush_key_usage() {
    impl_->flush();
}

}  // namespace chatbotmgr
