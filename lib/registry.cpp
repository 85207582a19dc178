#include "chatbotmgr/registry.hpp"

#include <boost/json/object.hpp>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/secrets.hpp"
#include "settings.hpp"
#include "verified_cache.hpp"

namespace chatbotmgr {
namespace {

[[noreturn]] void throw_not_found() {
    throw Error(ErrorCode::not_found, "chatbot not found");
}

void check_org(std::string_view org_id) {
    if (org_id.empty())
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
    mutable detail::VerifiedCache<Chatbot> key_cache;

    Impl(std::shared_ptr<ChatbotStore> s, RegistryOptions& o)
        : store(std::move(s)),
          clock(o.clock ? std::move(o.clock) : system_clock()),
          random(o.random ? std::move(o.random) : system_random()),
          cache_keys(o.cache_keys && store->exclusive_to_this_process()),
          key_cache(o.key_cache_capacity) {}

    void forget_keys_of(const std::string& chatbot_id) {
        if (cache_keys) key_cache.invalidate_owner(chatbot_id);
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

std::vector<Chatbot> ChatbotRegistry::list(std::string_view org_id) const {
    check_org(org_id);
    return impl_->store->list(org_id);
}

Chatbot ChatbotRegistry::get(std::string_view org_id, std::string_view chatbot_id) const {
    check_org(org_id);
    check_chatbot_id(chatbot_id);
    auto found = impl_->store->get(org_id, chatbot_id);
    if (!found) throw_not_found();
    return std::move(*found);
}

ChatbotWithKey ChatbotRegistry::create(std::string_view org_id, NewChatbot input) {
    check_org(org_id);
    Chatbot chatbot;
    chatbot.org_id = std::string(org_id);
    chatbot.name = normalize_name(input.name);
    chatbot.settings_json = input.settings ? detail::settings_to_json(*input.settings) : "{}";
    chatbot.created_at = std::chrono::floor<std::chrono::seconds>(impl_->clock->now());
    for (int attempt = 1;; ++attempt) {
        chatbot.id = generate_uuid_v4(*impl_->random);
        std::string key = generate_api_key(*impl_->random);
        chatbot.key_prefix = key.substr(0, kApiKeyVisiblePrefixLength);
        try {
            impl_->store->insert(chatbot, sha256(key));
            return {std::move(chatbot), std::move(key)};
        } catch (const Error& e) {
            if (e.code() != ErrorCode::conflict || attempt == kMaxInsertAttempts) throw;
        }
    }
}

Chatbot ChatbotRegistry::update(std::string_view org_id, std::string_view chatbot_id,
                                ChatbotPatch patch) {
    check_org(org_id);
    // Validate the whole patch before looking the chatbot up (API.md: 400 before 404).
    std::optional<std::string> name;
    if (patch.name) name = normalize_name(*patch.name);
    const boost::json::object* settings_patch = nullptr;
    if (patch.settings_patch) {
        detail::check_settings(*patch.settings_patch, "settings");
        settings_patch = &patch.settings_patch->get_object();
    }
    check_chatbot_id(chatbot_id);
    if (!name && !settings_patch) return get(org_id, chatbot_id);

    auto updated = impl_->store->update(org_id, chatbot_id, [&](Chatbot& c) {
        if (name) c.name = *name;
        if (settings_patch) {
            boost::json::value settings = parse_json_strict(c.settings_json);
            if (!settings.is_object()) settings = boost::json::object();
            merge_patch(settings.get_object(), *settings_patch);
            c.settings_json = detail::settings_to_json(settings);
        }
    });
    if (!updated) throw_not_found();
    impl_->forget_keys_of(updated->id);
    return std::move(*updated);
}

void ChatbotRegistry::remove(std::string_view org_id, std::string_view chatbot_id) {
    check_org(org_id);
    check_chatbot_id(chatbot_id);
    if (!impl_->store->remove(org_id, chatbot_id)) throw_not_found();
    impl_->forget_keys_of(std::string(chatbot_id));
}

ChatbotWithKey ChatbotRegistry::rotate_key(std::string_view org_id, std::string_view chatbot_id) {
    check_org(org_id);
    check_chatbot_id(chatbot_id);
    for (int attempt = 1;; ++attempt) {
        std::string key = generate_api_key(*impl_->random);
        try {
            auto updated = impl_->store->replace_key(
                org_id, chatbot_id, sha256(key),
                std::string_view(key).substr(0, kApiKeyVisiblePrefixLength));
            if (!updated) throw_not_found();
            impl_->forget_keys_of(updated->id);
            return {std::move(*updated), std::move(key)};
        } catch (const Error& e) {
            if (e.code() != ErrorCode::conflict || attempt == kMaxInsertAttempts) throw;
        }
    }
}

Chatbot ChatbotRegistry::authenticate(std::string_view api_key) const {
    if (!is_api_key_format(api_key)) throw Error(ErrorCode::unauthenticated, "invalid API key");
    const Digest digest = sha256(api_key);
    if (impl_->cache_keys) {
        if (auto hit = impl_->key_cache.find(digest)) return std::move(*hit);
    }
    const auto ticket = impl_->key_cache.ticket();
    auto found = impl_->store->find_by_key_digest(digest);
    if (!found) throw Error(ErrorCode::unauthenticated, "invalid API key");
    if (impl_->cache_keys) impl_->key_cache.insert(digest, found->id, *found, ticket);
    return std::move(*found);
}

CaptureResult ChatbotRegistry::capture(const Chatbot& chatbot, const CaptureBatch& batch) {
    if (batch.messages.empty())
        throw Error(ErrorCode::invalid_argument, "messages must not be empty", "messages");
    auto result = impl_->store->append_capture(chatbot.id, batch);
    if (!result) throw Error(ErrorCode::unauthenticated, "invalid API key");
    return std::move(*result);
}

}  // namespace chatbotmgr
