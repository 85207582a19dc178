#include "chatbotmgr/registry.hpp"

#include <boost/json/object.hpp>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/permissions.hpp"
#include "chatbotmgr/secrets.hpp"
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

    Impl(std::shared_ptr<ChatbotStore> s, RegistryOptions& o)
        : store(std::move(s)),
          clock(o.clock ? std::move(o.clock) : system_clock()),
          random(o.random ? std::move(o.random) : system_random()),
          cache_keys(o.cache_keys && store->key_generation().has_value()),
          max_chatbots_per_org(o.max_chatbots_per_org),
          key_cache(o.key_cache_capacity) {}

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

ChatbotRegistry::~ChatbotRegistry() = default;

ChatbotStore& ChatbotRegistry::store() const noexcept {
    return *impl_->store;
}

std::vector<Chatbot> ChatbotRegistry::list(const Actor& actor) const {
    admit(actor, Action::list_chatbots);
    return impl_->store->list(actor.org_id);
}

Chatbot ChatbotRegistry::get(const Actor& actor, std::string_view chatbot_id) const {
    admit(actor, Action::get_chatbot);
    check_chatbot_id(chatbot_id);
    auto found = impl_->store->get(actor.org_id, chatbot_id);
    if (!found) throw_not_found();
    return std::move(*found);
}

ChatbotWithKey ChatbotRegistry::create(const Actor& actor, NewChatbot input) {
    admit(actor, Action::create_chatbot);
    Chatbot chatbot;
    chatbot.org_id = actor.org_id;
    chatbot.name = normalize_name(input.name);
    detail::checked_settings_json(input.settings);
    chatbot.settings = std::move(input.settings);
    chatbot.created_at = std::chrono::floor<std::chrono::seconds>(impl_->clock->now());
    for (int attempt = 1;; ++attempt) {
        chatbot.id = generate_uuid_v4(*impl_->random);
        std::string key = generate_api_key(*impl_->random);
        chatbot.key_prefix = key.substr(0, kApiKeyVisiblePrefixLength);
        bool inserted = false;
        try {
            inserted = impl_->store->insert(chatbot, sha256(key), impl_->max_chatbots_per_org);
        } catch (const Error& e) {
            if (e.code() != ErrorCode::conflict || attempt == kMaxInsertAttempts) throw;
            continue;  // an id or key collision: draw again
        }
        if (!inserted)
            throw Error(ErrorCode::conflict,
                        "the organization has " + std::to_string(impl_->max_chatbots_per_org) +
                            " chatbots, the most it may have; delete one first");
        return {std::move(chatbot), std::move(key)};
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

    auto updated = impl_->store->update(org_id, chatbot_id, [&](Chatbot& c) {
        if (name) c.name = *name;
        if (patch.settings_patch) {
            merge_patch(c.settings, *patch.settings_patch);
            detail::checked_settings_json(c.settings);  // the merged result obeys the limits too
        }
    });
    if (!updated) throw_not_found();
    return std::move(*updated);
}

void ChatbotRegistry::remove(const Actor& actor, std::string_view chatbot_id) {
    admit(actor, Action::delete_chatbot);
    check_chatbot_id(chatbot_id);
    if (!impl_->store->remove(actor.org_id, chatbot_id)) throw_not_found();
}

ChatbotWithKey ChatbotRegistry::rotate_key(const Actor& actor, std::string_view chatbot_id) {
    admit(actor, Action::rotate_key);
    const std::string& org_id = actor.org_id;
    check_chatbot_id(chatbot_id);
    for (int attempt = 1;; ++attempt) {
        std::string key = generate_api_key(*impl_->random);
        try {
            auto updated = impl_->store->replace_key(
                org_id, chatbot_id, sha256(key),
                std::string_view(key).substr(0, kApiKeyVisiblePrefixLength));
            if (!updated) throw_not_found();
            return {std::move(*updated), std::move(key)};
        } catch (const Error& e) {
            if (e.code() != ErrorCode::conflict || attempt == kMaxInsertAttempts) throw;
        }
    }
}

std::optional<VerifiedKey> ChatbotRegistry::authenticate(std::string_view api_key) const {
    if (!is_api_key_format(api_key)) return std::nullopt;
    auto owner = impl_->find_key_owner(sha256(api_key));
    if (!owner) return std::nullopt;
    return VerifiedKey(std::move(owner->chatbot_id), std::move(owner->org_id), KeySlot::current);
}

CaptureResult ChatbotRegistry::capture(const VerifiedKey& key, CaptureBatch batch) {
    validate_capture(batch);
    auto result = impl_->store->append_capture(key.chatbot_id(), batch);
    if (!result) throw Error(ErrorCode::unauthenticated, "invalid API key");
    return std::move(*result);
}

}  // namespace chatbotmgr
