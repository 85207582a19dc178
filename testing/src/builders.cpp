#include "builders.hpp"

#include "chatbotmgr/json.hpp"
#include "chatbotmgr/secrets.hpp"

#include <stdexcept>

namespace chatbotmgr::testing::detail {

std::chrono::sys_seconds at(std::int64_t unix_seconds) {
    return std::chrono::sys_seconds{std::chrono::seconds{unix_seconds}};
}

Digest digest_for(std::string_view label) {
    return sha256(cat("conformance-key:", label));
}

std::string prefix_for(const Digest& d) {
    return cat("ob_live_", to_hex(d).substr(0, 6));
}

Chatbot ChatbotFactory::make(const std::string& org, const std::string& name,
                             std::int64_t created) {
    Chatbot c;
    c.id = generate_uuid_v4(random_);
    c.org_id = org;
    c.name = name;
    c.key_prefix = prefix_for(digest_for(c.id));
    c.created_at = at(created);
    return c;
}

std::string ChatbotFactory::uuid() {
    return generate_uuid_v4(random_);
}

NewKey new_key(const Digest& d, std::int64_t issued, std::optional<std::int64_t> expires) {
    NewKey key{d, prefix_for(d), at(issued), std::nullopt};
    if (expires) key.expires_at = at(*expires);
    return key;
}

void insert(ChatbotStore& store, const Chatbot& c) {
    store.insert(c, digest_for(c.id));
}

bool insert_limited(ChatbotStore& store, const Chatbot& c, std::size_t max_in_org) {
    return store.insert(c, NewKey{digest_for(c.id), c.key_prefix, c.created_at, std::nullopt},
                        max_in_org, journal_entry());
}

CapturedMessage message(std::string role, std::string content,
                        std::optional<std::string> external_id) {
    CapturedMessage m;
    m.role = std::move(role);
    m.content = std::move(content);
    m.external_id = std::move(external_id);
    return m;
}

CaptureBatch batch(std::string conversation, std::vector<CapturedMessage> messages) {
    CaptureBatch b;
    b.external_conversation_id = std::move(conversation);
    b.external_user_id = "user_456";
    b.metadata = {{"user", {{"id", "user_456"}}}};
    b.messages = std::move(messages);
    return b;
}

boost::json::object settings_of(const Chatbot& c) {
    return c.settings;
}

KeyOwner owner_of(const Chatbot& c) {
    return KeyOwner{c.id, c.org_id, KeySlot::current, std::nullopt};
}

boost::json::object object_of(std::string_view json_text) {
    return parse_json_strict(json_text).as_object();
}

StoreInspection& inspect(ChatbotStore& store) {
    auto* inspection = dynamic_cast<StoreInspection*>(&store);
    if (!inspection)
        throw std::logic_error(
            "the conformance suite needs the store to implement chatbotmgr::StoreInspection "
            "(record_analysis, count_data) to check that delete cascades");
    return *inspection;
}

SessionRecord session(const std::string& label, const std::string& user, std::int64_t expires) {
    SessionRecord s;
    s.token_digest = sha256(cat("conformance-session:", label));
    s.user_id = user;
    s.org_id = "org-1";
    s.expires_at = at(expires);
    return s;
}

std::string lower_email(std::string_view email) {
    std::string lower(email);
    for (char& c : lower)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return lower;
}

void add_user(AccountStore& store, const User& user, std::string_view hash) {
    store.insert_user(user, lower_email(user.email), hash, journal_entry());
}

User member(const std::string& id, const std::string& org, const std::string& email, Role role,
            std::int64_t created) {
    return User{id, org, email, role, at(created)};
}

Digest invitation_digest(std::string_view label) {
    return sha256(cat("conformance-invitation:", label));
}

Invitation invitation(const std::string& id, const std::string& org, const std::string& email,
                      Role role, std::int64_t created) {
    return Invitation{id, org, email, role, at(created), at(created + 7 * 24 * 3600)};
}

void add_invitation(AccountStore& store, const Invitation& inv) {
    store.insert_invitation(inv, lower_email(inv.email), invitation_digest(inv.id),
                            journal_entry());
}

}  // namespace chatbotmgr::testing::detail
