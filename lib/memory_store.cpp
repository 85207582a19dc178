#include "chatbotmgr/memory_store.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include "chatbotmgr/error.hpp"

namespace chatbotmgr {
namespace {

struct ConversationRow {
    std::string id;
    std::string external_user_id;
    boost::json::object metadata;
    std::size_t messages = 0;
    std::unordered_set<std::string> message_ids;  // external ids stored so far
    std::size_t analysis_results = 0;
};

struct ChatbotRow {
    Chatbot chatbot;
    Digest key_digest{};
    // external conversation id -> conversation; deleting the row deletes them all.
    std::unordered_map<std::string, ConversationRow> conversations;
};

}  // namespace

// One reader-writer lock over everything: the reference implementation favours obvious
// correctness (every method is one critical section) over scalability.
struct MemoryStore::State {
    std::shared_mutex mutex;
    std::unordered_map<std::string, ChatbotRow> chatbots;  // by id
    std::unordered_map<Digest, std::string, DigestHash> id_by_digest;
    std::unordered_map<std::string, std::string> chatbot_by_conversation;  // internal conv id
    std::uint64_t next_conversation = 1;
    std::atomic<std::uint64_t> key_generation{0};      // see ChatbotStore::key_generation
    std::atomic<std::uint64_t> session_generation{0};  // see AccountStore::session_generation

    std::unordered_map<std::string, Organization> orgs;                   // by id
    std::unordered_map<std::string, std::string> org_by_name;             // name -> id
    std::unordered_map<std::string, std::pair<User, std::string>> users;  // by lower email
    std::unordered_map<Digest, SessionRecord, DigestHash> sessions;

    ChatbotRow* find(std::string_view org_id, std::string_view id) {
        const auto it = chatbots.find(std::string(id));
        if (it == chatbots.end() || it->second.chatbot.org_id != org_id) return nullptr;
        return &it->second;
    }
};

MemoryStore::MemoryStore() : state_(std::make_unique<State>()) {}
MemoryStore::~MemoryStore() = default;

void MemoryStore::insert(const Chatbot& chatbot, const Digest& key_digest) {
    std::unique_lock lock(state_->mutex);
    if (state_->chatbots.contains(chatbot.id))
        throw Error(ErrorCode::conflict, "chatbot id exists already");
    if (state_->id_by_digest.contains(key_digest))
        throw Error(ErrorCode::conflict, "key digest exists already");
    state_->chatbots.emplace(chatbot.id, ChatbotRow{chatbot, key_digest, {}});
    state_->id_by_digest.emplace(key_digest, chatbot.id);
}

std::vector<Chatbot> MemoryStore::list(std::string_view org_id) {
    std::vector<Chatbot> out;
    {
        std::shared_lock lock(state_->mutex);
        for (const auto& [id, row] : state_->chatbots)
            if (row.chatbot.org_id == org_id) out.push_back(row.chatbot);
    }
    std::sort(out.begin(), out.end(), [](const Chatbot& a, const Chatbot& b) {
        if (a.created_at != b.created_at) return a.created_at > b.created_at;
        return a.id > b.id;
    });
    return out;
}

std::optional<Chatbot> MemoryStore::get(std::string_view org_id, std::string_view id) {
    std::shared_lock lock(state_->mutex);
    if (const ChatbotRow* row = state_->find(org_id, id)) return row->chatbot;
    return std::nullopt;
}

std::optional<Chatbot> MemoryStore::update(std::string_view org_id, std::string_view id,
                                           const std::function<void(Chatbot&)>& mutate) {
    std::unique_lock lock(state_->mutex);
    ChatbotRow* row = state_->find(org_id, id);
    if (!row) return std::nullopt;
    Chatbot copy = row->chatbot;
    mutate(copy);  // may throw: the row is untouched
    row->chatbot.name = std::move(copy.name);
    row->chatbot.settings = std::move(copy.settings);
    return row->chatbot;
}

bool MemoryStore::remove(std::string_view org_id, std::string_view id) {
    std::unique_lock lock(state_->mutex);
    ChatbotRow* row = state_->find(org_id, id);
    if (!row) return false;
    for (const auto& [external, conversation] : row->conversations)
        state_->chatbot_by_conversation.erase(conversation.id);
    state_->id_by_digest.erase(row->key_digest);
    state_->chatbots.erase(std::string(id));
    ++state_->key_generation;
    return true;
}

std::optional<Chatbot> MemoryStore::replace_key(std::string_view org_id, std::string_view id,
                                                const Digest& new_digest,
                                                std::string_view new_prefix) {
    std::unique_lock lock(state_->mutex);
    ChatbotRow* row = state_->find(org_id, id);
    if (!row) return std::nullopt;
    if (state_->id_by_digest.contains(new_digest))
        throw Error(ErrorCode::conflict, "key digest exists already");
    state_->id_by_digest.erase(row->key_digest);
    row->key_digest = new_digest;
    row->chatbot.key_prefix = std::string(new_prefix);
    state_->id_by_digest.emplace(new_digest, row->chatbot.id);
    ++state_->key_generation;
    return row->chatbot;
}

std::optional<KeyOwner> MemoryStore::find_by_key_digest(const Digest& digest) {
    std::shared_lock lock(state_->mutex);
    const auto it = state_->id_by_digest.find(digest);
    if (it == state_->id_by_digest.end()) return std::nullopt;
    return KeyOwner{it->second, state_->chatbots.at(it->second).chatbot.org_id};
}

std::optional<std::uint64_t> MemoryStore::key_generation() const noexcept {
    return state_->key_generation.load();
}

std::optional<std::uint64_t> MemoryStore::session_generation() const noexcept {
    return state_->session_generation.load();
}

std::optional<CaptureResult> MemoryStore::append_capture(std::string_view chatbot_id,
                                                         const CaptureBatch& batch) {
    std::unique_lock lock(state_->mutex);
    const auto bot = state_->chatbots.find(std::string(chatbot_id));
    if (bot == state_->chatbots.end()) return std::nullopt;
    auto [it, created] = bot->second.conversations.try_emplace(batch.external_conversation_id);
    ConversationRow& conversation = it->second;
    if (created) {
        // Internal ids only need to be unique within this store.
        char buf[40];
        std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012llx",
                      static_cast<unsigned long long>(state_->next_conversation++));
        conversation.id = buf;
        state_->chatbot_by_conversation.emplace(conversation.id, bot->first);
    }
    conversation.external_user_id = batch.external_user_id.value_or("");
    conversation.metadata = batch.metadata;
    CaptureResult result{conversation.id, 0};
    for (const CapturedMessage& m : batch.messages) {
        if (m.external_id && !conversation.message_ids.insert(*m.external_id).second) continue;
        ++conversation.messages;
        ++result.messages_stored;
    }
    return result;
}

bool MemoryStore::record_analysis(std::string_view chatbot_id, std::string_view conversation_id,
                                  std::string_view /*kind*/, std::string_view /*result_json*/) {
    std::unique_lock lock(state_->mutex);
    const auto owner = state_->chatbot_by_conversation.find(std::string(conversation_id));
    if (owner == state_->chatbot_by_conversation.end() || owner->second != chatbot_id) return false;
    for (auto& [external, conversation] : state_->chatbots.at(owner->second).conversations) {
        if (conversation.id == conversation_id) {
            ++conversation.analysis_results;
            return true;
        }
    }
    return false;
}

ChatbotDataCounts MemoryStore::count_data(std::string_view chatbot_id) {
    std::shared_lock lock(state_->mutex);
    ChatbotDataCounts counts;
    const auto bot = state_->chatbots.find(std::string(chatbot_id));
    if (bot == state_->chatbots.end()) return counts;
    for (const auto& [external, conversation] : bot->second.conversations) {
        ++counts.conversations;
        counts.messages += conversation.messages;
        counts.analysis_results += conversation.analysis_results;
    }
    return counts;
}

Organization MemoryStore::find_or_create_organization(std::string_view name,
                                                      std::string_view new_id) {
    std::unique_lock lock(state_->mutex);
    const auto existing = state_->org_by_name.find(std::string(name));
    if (existing != state_->org_by_name.end()) return state_->orgs.at(existing->second);
    Organization org{std::string(new_id), std::string(name)};
    if (!state_->orgs.emplace(org.id, org).second)
        throw Error(ErrorCode::conflict, "organization id exists already");
    state_->org_by_name.emplace(org.name, org.id);
    return org;
}

std::optional<Organization> MemoryStore::find_organization(std::string_view id) {
    std::shared_lock lock(state_->mutex);
    const auto it = state_->orgs.find(std::string(id));
    if (it == state_->orgs.end()) return std::nullopt;
    return it->second;
}

void MemoryStore::insert_user(const User& user, std::string_view email_lower,
                              std::string_view password_hash) {
    std::unique_lock lock(state_->mutex);
    if (!state_->users.try_emplace(std::string(email_lower), user, std::string(password_hash))
             .second)
        throw Error(ErrorCode::conflict, "a user with this email exists already");
}

std::optional<std::pair<User, std::string>> MemoryStore::find_user_by_email(
    std::string_view email_lower) {
    std::shared_lock lock(state_->mutex);
    const auto it = state_->users.find(std::string(email_lower));
    if (it == state_->users.end()) return std::nullopt;
    return it->second;
}

std::size_t MemoryStore::count_users() {
    std::shared_lock lock(state_->mutex);
    return state_->users.size();
}

void MemoryStore::insert_session(const SessionRecord& session) {
    std::unique_lock lock(state_->mutex);
    if (!state_->sessions.emplace(session.token_digest, session).second)
        throw Error(ErrorCode::conflict, "session exists already");
}

std::optional<SessionRecord> MemoryStore::find_session(const Digest& token_digest) {
    std::shared_lock lock(state_->mutex);
    const auto it = state_->sessions.find(token_digest);
    if (it == state_->sessions.end()) return std::nullopt;
    return it->second;
}

bool MemoryStore::delete_session(const Digest& token_digest) {
    std::unique_lock lock(state_->mutex);
    const bool erased = state_->sessions.erase(token_digest) > 0;
    ++state_->session_generation;
    return erased;
}

std::size_t MemoryStore::delete_expired_sessions(std::chrono::sys_seconds now) {
    std::unique_lock lock(state_->mutex);
    return std::erase_if(state_->sessions,
                         [&](const auto& entry) { return entry.second.expires_at <= now; });
}

}  // namespace chatbotmgr
