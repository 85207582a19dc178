#include "builders.hpp"

#include <boost/json/parse.hpp>

#include "chatbotmgr/secrets.hpp"

namespace chatbotmgr::testing::detail {

Seconds at(std::int64_t unix_seconds) {
    return Seconds{std::chrono::seconds{unix_seconds}};
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
    c.settings_json = "{}";
    c.created_at = at(created);
    return c;
}

std::string ChatbotFactory::uuid() {
    return generate_uuid_v4(random_);
}

void insert(ChatbotStore& store, const Chatbot& c) {
    store.insert(c, digest_for(c.id));
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
    b.metadata_json = R"({"user":{"id":"user_456"}})";
    b.messages = std::move(messages);
    return b;
}

boost::json::object settings_of(const Chatbot& c) {
    return boost::json::parse(c.settings_json).as_object();
}

SessionRecord session(const std::string& label, const std::string& user, std::int64_t expires) {
    SessionRecord s;
    s.token_digest = sha256(cat("conformance-session:", label));
    s.user_id = user;
    s.org_id = "org-1";
    s.expires_at = at(expires);
    return s;
}

}  // namespace chatbotmgr::testing::detail
