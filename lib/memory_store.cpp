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
#include "chatbotmgr/generation_table.hpp"
#include "paging.hpp"

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

struct StoredKey {
    Digest digest{};
    KeyState state;
};

struct ChatbotRow {
    Chatbot chatbot;
    StoredKey key;                      // current
    std::optional<StoredKey> previous;  // kept after its grace, until the next rotation
    // external conversation id -> conversation; deleting the row deletes them all.
    std::unordered_map<std::string, ConversationRow> conversations;
};

struct UserRow {
    User user;
    std::string email_lower;
    std::string password_hash;
};

struct InvitationRow {
    Invitation invitation;
    std::string email_lower;
    Digest token_digest{};
    bool used = false;  // accepted or revoked

    bool pending(std::chrono::sys_seconds now) const {
        return !used && invitation.expires_at > now;
    }
};

// Oldest first by (created_at, id), as the port orders members and invitations.
template <class T>
bool older(const T& a, const T& b) {
    if (a.created_at != b.created_at) return a.created_at < b.created_at;
    return a.id < b.id;
}

// What accept_invitation's entry learns from the invitation (AccountStore's contract).
void complete_joined(JournalEntry& entry, const User& user) {
    entry.event.org_id = user.org_id;
    entry.event.actor = {"user", user.id, user.email};
    entry.event.target = {"member", user.id, user.email};
}

bool matches(const AuditEvent& e, const AuditQuery& q) {
    return (!q.action || e.action == *q.action) && (!q.target_id || e.target.id == *q.target_id) &&
           (!q.actor_id || e.actor.id == *q.actor_id) && (!q.since || e.created_at >= *q.since) &&
           (!q.until || e.created_at < *q.until);
}

}  // namespace

// One reader-writer lock over everything: the reference implementation favours obvious
// correctness (every method is one critical section) over scalability.
struct MemoryStore::State {
    std::shared_mutex mutex;
    std::unordered_map<std::string, ChatbotRow> chatbots;              // by id
    std::unordered_map<Digest, std::string, DigestHash> id_by_digest;  // current and previous
    std::unordered_map<std::string, std::size_t> chatbots_per_org;
    std::unordered_map<std::string, std::string> chatbot_by_conversation;  // internal conv id
    std::uint64_t next_conversation = 1;
    std::atomic<std::uint64_t> key_generation{0};      // see ChatbotStore::key_generation
    std::atomic<std::uint64_t> session_generation{0};  // see AccountStore::session_generation
    GenerationTable chatbot_generations;               // see ChatbotStore::chatbot_generation

    std::unordered_map<std::string, Organization> orgs;          // by id
    std::unordered_map<std::string, std::string> org_by_name;    // name -> id
    std::unordered_map<std::string, UserRow> users;              // by id
    std::unordered_map<std::string, std::string> user_by_email;  // lower email -> id
    std::unordered_map<Digest, SessionRecord, DigestHash> sessions;
    std::unordered_map<std::string, InvitationRow> invitations;  // by id
    std::unordered_map<Digest, std::string, DigestHash> invitation_by_digest;

    std::vector<AuditEvent> events;                                         // in the order written
    std::unordered_map<Digest, IdempotencyRecord, DigestHash> idempotency;  // by scope

    // Refuses an entry whose idempotency scope is taken by a live record: called before
    // a write changes anything, so a refusal leaves nothing behind.
    void check_journal(const JournalEntry& entry) const {
        if (!entry.idempotency) return;
        const auto it = idempotency.find(entry.idempotency->scope);
        if (it != idempotency.end() && it->second.expires_at > entry.event.created_at)
            throw Error(ErrorCode::conflict, "the Idempotency-Key has a record already",
                        "Idempotency-Key");
    }

    void write_journal(JournalEntry&& entry) {
        if (entry.idempotency)
            idempotency.insert_or_assign(entry.idempotency->scope, std::move(*entry.idempotency));
        if (entry.event.id.empty()) entry.event.id = stored_event_id(entry.event);
        events.push_back(std::move(entry.event));
    }

    // For the writes whose entry the row completes.
    static void complete(JournalEntry& entry, const Chatbot& chatbot) {
        if (entry.complete) entry.complete(chatbot, entry);
    }

    ChatbotRow* find(std::string_view org_id, std::string_view id) {
        const auto it = chatbots.find(std::string(id));
        if (it == chatbots.end() || it->second.chatbot.org_id != org_id) return nullptr;
        return &it->second;
    }

    void drop_previous(ChatbotRow& row) {
        if (!row.previous) return;
        id_by_digest.erase(row.previous->digest);
        row.previous.reset();
    }

    UserRow* find_user(std::string_view org_id, std::string_view id) {
        const auto it = users.find(std::string(id));
        if (it == users.end() || it->second.user.org_id != org_id) return nullptr;
        return &it->second;
    }

    // Whether row is the only owner of its organization.
    bool last_owner(const UserRow& row) const {
        if (row.user.role != Role::owner) return false;
        return std::none_of(users.begin(), users.end(), [&](const auto& entry) {
            const User& other = entry.second.user;
            return other.org_id == row.user.org_id && other.role == Role::owner &&
                   other.id != row.user.id;
        });
    }
};

MemoryStore::MemoryStore() : state_(std::make_unique<State>()) {}
MemoryStore::~MemoryStore() = default;

bool MemoryStore::insert(const Chatbot& chatbot, const NewKey& key, std::size_t max_in_org,
                         JournalEntry entry) {
    std::unique_lock lock(state_->mutex);
    if (state_->chatbots.contains(chatbot.id))
        throw Error(ErrorCode::conflict, "chatbot id exists already");
    if (state_->id_by_digest.contains(key.digest))
        throw Error(ErrorCode::conflict, "key digest exists already");
    std::size_t& in_org = state_->chatbots_per_org[chatbot.org_id];
    if (in_org >= max_in_org) return false;
    state_->check_journal(entry);
    StoredKey stored{key.digest, KeyState{key.prefix, key.issued_at, key.expires_at, std::nullopt}};
    state_->chatbots.emplace(chatbot.id, ChatbotRow{chatbot, std::move(stored), std::nullopt, {}});
    state_->id_by_digest.emplace(key.digest, chatbot.id);
    ++in_org;
    ++state_->chatbot_generations.counter(chatbot.org_id);
    state_->write_journal(std::move(entry));
    return true;
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
                                           const std::function<void(Chatbot&)>& mutate,
                                           JournalEntry entry) {
    std::unique_lock lock(state_->mutex);
    ChatbotRow* row = state_->find(org_id, id);
    if (!row) return std::nullopt;
    Chatbot copy = row->chatbot;
    mutate(copy);  // may throw: the row is untouched
    copy.id = row->chatbot.id;
    copy.org_id = row->chatbot.org_id;
    copy.key_prefix = row->chatbot.key_prefix;
    copy.created_at = row->chatbot.created_at;
    State::complete(entry, copy);  // may throw too
    state_->check_journal(entry);
    row->chatbot = std::move(copy);
    ++state_->chatbot_generations.counter(org_id);
    state_->write_journal(std::move(entry));
    return row->chatbot;
}

bool MemoryStore::remove(std::string_view org_id, std::string_view id, JournalEntry entry) {
    std::unique_lock lock(state_->mutex);
    ChatbotRow* row = state_->find(org_id, id);
    if (!row) return false;
    State::complete(entry, row->chatbot);
    state_->check_journal(entry);
    for (const auto& [external, conversation] : row->conversations)
        state_->chatbot_by_conversation.erase(conversation.id);
    state_->id_by_digest.erase(row->key.digest);
    state_->drop_previous(*row);
    --state_->chatbots_per_org[row->chatbot.org_id];
    state_->chatbots.erase(std::string(id));
    ++state_->key_generation;
    ++state_->chatbot_generations.counter(org_id);
    state_->write_journal(std::move(entry));
    return true;
}

std::optional<Chatbot> MemoryStore::replace_key(
    std::string_view org_id, std::string_view id, const NewKey& key,
    std::optional<std::chrono::sys_seconds> previous_until, JournalEntry entry) {
    std::unique_lock lock(state_->mutex);
    ChatbotRow* row = state_->find(org_id, id);
    if (!row) return std::nullopt;
    if (state_->id_by_digest.contains(key.digest))
        throw Error(ErrorCode::conflict, "key digest exists already");
    Chatbot after = row->chatbot;
    after.key_prefix = key.prefix;
    State::complete(entry, after);
    state_->check_journal(entry);
    state_->drop_previous(*row);
    if (previous_until) {
        row->previous = std::move(row->key);
        auto& until = row->previous->state.expires_at;
        until = until ? std::min(*until, *previous_until) : *previous_until;
    } else {
        state_->id_by_digest.erase(row->key.digest);
    }
    row->key =
        StoredKey{key.digest, KeyState{key.prefix, key.issued_at, key.expires_at, std::nullopt}};
    row->chatbot.key_prefix = key.prefix;
    state_->id_by_digest.emplace(key.digest, row->chatbot.id);
    ++state_->key_generation;
    ++state_->chatbot_generations.counter(org_id);
    state_->write_journal(std::move(entry));
    return row->chatbot;
}

std::optional<bool> MemoryStore::drop_previous_key(std::string_view org_id, std::string_view id,
                                                   std::chrono::sys_seconds now,
                                                   JournalEntry entry) {
    std::unique_lock lock(state_->mutex);
    ChatbotRow* row = state_->find(org_id, id);
    if (!row) return std::nullopt;
    if (!row->previous) return false;
    const bool live = row->previous->state.expires_at > now;
    if (live) {
        State::complete(entry, row->chatbot);
        state_->check_journal(entry);
    }
    state_->drop_previous(*row);
    ++state_->key_generation;
    if (live) state_->write_journal(std::move(entry));
    return live;
}

std::optional<ChatbotKeys> MemoryStore::keys(std::string_view org_id, std::string_view id) {
    std::shared_lock lock(state_->mutex);
    const ChatbotRow* row = state_->find(org_id, id);
    if (!row) return std::nullopt;
    ChatbotKeys out{row->key.state, std::nullopt};
    if (row->previous) out.previous = row->previous->state;
    return out;
}

std::optional<KeyOwner> MemoryStore::find_by_key_digest(const Digest& digest) {
    std::shared_lock lock(state_->mutex);
    const auto it = state_->id_by_digest.find(digest);
    if (it == state_->id_by_digest.end()) return std::nullopt;
    const ChatbotRow& row = state_->chatbots.at(it->second);
    const bool current = row.key.digest == digest;
    const StoredKey& key = current ? row.key : *row.previous;
    return KeyOwner{it->second, row.chatbot.org_id, current ? KeySlot::current : KeySlot::previous,
                    key.state.expires_at};
}

void MemoryStore::record_key_usage(std::span<const KeyUsage> usage) {
    std::unique_lock lock(state_->mutex);
    for (const KeyUsage& u : usage) {
        const auto it = state_->id_by_digest.find(u.digest);
        if (it == state_->id_by_digest.end()) continue;
        ChatbotRow& row = state_->chatbots.at(it->second);
        StoredKey& key = row.key.digest == u.digest ? row.key : *row.previous;
        auto& last = key.state.last_used_at;
        if (!last || *last < u.last_used_at) last = u.last_used_at;
    }
}

std::optional<std::uint64_t> MemoryStore::key_generation() const noexcept {
    return state_->key_generation.load();
}

std::optional<std::uint64_t> MemoryStore::chatbot_generation(
    std::string_view org_id) const noexcept {
    return state_->chatbot_generations.load(org_id);
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

std::vector<Organization> MemoryStore::list_organizations() {
    std::vector<Organization> out;
    {
        std::shared_lock lock(state_->mutex);
        out.reserve(state_->orgs.size());
        for (const auto& [id, org] : state_->orgs) out.push_back(org);
    }
    std::sort(out.begin(), out.end(),
              [](const Organization& a, const Organization& b) { return a.name < b.name; });
    return out;
}

void MemoryStore::insert_user(const User& user, std::string_view email_lower,
                              std::string_view password_hash, JournalEntry entry) {
    std::unique_lock lock(state_->mutex);
    state_->check_journal(entry);
    if (state_->users.contains(user.id))
        throw Error(ErrorCode::conflict, "a user with this id exists already");
    if (!state_->user_by_email.try_emplace(std::string(email_lower), user.id).second)
        throw Error(ErrorCode::conflict, "a user with this email exists already");
    state_->users.emplace(user.id,
                          UserRow{user, std::string(email_lower), std::string(password_hash)});
    state_->write_journal(std::move(entry));
}

std::optional<std::pair<User, std::string>> MemoryStore::find_user_by_email(
    std::string_view email_lower) {
    std::shared_lock lock(state_->mutex);
    const auto it = state_->user_by_email.find(std::string(email_lower));
    if (it == state_->user_by_email.end()) return std::nullopt;
    const UserRow& row = state_->users.at(it->second);
    return std::pair{row.user, row.password_hash};
}

std::size_t MemoryStore::count_users() {
    std::shared_lock lock(state_->mutex);
    return state_->users.size();
}

std::vector<User> MemoryStore::list_users(std::string_view org_id) {
    std::vector<User> out;
    {
        std::shared_lock lock(state_->mutex);
        for (const auto& [id, row] : state_->users)
            if (row.user.org_id == org_id) out.push_back(row.user);
    }
    std::sort(out.begin(), out.end(), older<User>);
    return out;
}

std::optional<User> MemoryStore::find_user(std::string_view org_id, std::string_view user_id) {
    std::shared_lock lock(state_->mutex);
    if (const UserRow* row = state_->find_user(org_id, user_id)) return row->user;
    return std::nullopt;
}

MemberChange MemoryStore::set_role(std::string_view org_id, std::string_view user_id, Role role,
                                   JournalEntry entry) {
    std::unique_lock lock(state_->mutex);  // the count and the change are one step
    UserRow* row = state_->find_user(org_id, user_id);
    if (!row) return MemberChange::not_found;
    if (role != Role::owner && state_->last_owner(*row)) return MemberChange::last_owner;
    state_->check_journal(entry);
    row->user.role = role;
    ++state_->session_generation;  // cached sessions carry the old role
    state_->write_journal(std::move(entry));
    return MemberChange::done;
}

MemberChange MemoryStore::remove_user(std::string_view org_id, std::string_view user_id,
                                      JournalEntry entry) {
    std::unique_lock lock(state_->mutex);
    UserRow* row = state_->find_user(org_id, user_id);
    if (!row) return MemberChange::not_found;
    if (state_->last_owner(*row)) return MemberChange::last_owner;
    state_->check_journal(entry);
    std::erase_if(state_->sessions,
                  [&](const auto& entry) { return entry.second.user_id == user_id; });
    state_->user_by_email.erase(row->email_lower);
    state_->users.erase(std::string(user_id));
    ++state_->session_generation;
    state_->write_journal(std::move(entry));
    return MemberChange::done;
}

void MemoryStore::insert_invitation(const Invitation& invitation, std::string_view email_lower,
                                    const Digest& token_digest, JournalEntry entry) {
    std::unique_lock lock(state_->mutex);
    state_->check_journal(entry);
    if (state_->invitations.contains(invitation.id))
        throw Error(ErrorCode::conflict, "an invitation with this id exists already");
    if (!state_->invitation_by_digest.try_emplace(token_digest, invitation.id).second)
        throw Error(ErrorCode::conflict, "an invitation with this token exists already");
    state_->invitations.emplace(
        invitation.id, InvitationRow{invitation, std::string(email_lower), token_digest, false});
    state_->write_journal(std::move(entry));
}

std::vector<Invitation> MemoryStore::list_invitations(std::string_view org_id,
                                                      std::chrono::sys_seconds now) {
    std::vector<Invitation> out;
    {
        std::shared_lock lock(state_->mutex);
        for (const auto& [id, row] : state_->invitations)
            if (row.invitation.org_id == org_id && row.pending(now)) out.push_back(row.invitation);
    }
    std::sort(out.begin(), out.end(), older<Invitation>);
    return out;
}

bool MemoryStore::revoke_invitation(std::string_view org_id, std::string_view id,
                                    std::chrono::sys_seconds now, JournalEntry entry) {
    std::unique_lock lock(state_->mutex);
    const auto it = state_->invitations.find(std::string(id));
    if (it == state_->invitations.end() || it->second.invitation.org_id != org_id ||
        !it->second.pending(now))
        return false;
    state_->check_journal(entry);
    it->second.used = true;
    entry.event.target.name = it->second.invitation.email;
    state_->write_journal(std::move(entry));
    return true;
}

std::pair<InvitationAcceptance, std::optional<User>> MemoryStore::accept_invitation(
    const Digest& token_digest, std::chrono::sys_seconds now, std::string_view new_user_id,
    std::string_view password_hash, JournalEntry entry) {
    std::unique_lock lock(state_->mutex);  // finding, checking and using it are one step
    const auto id = state_->invitation_by_digest.find(token_digest);
    if (id == state_->invitation_by_digest.end()) return {InvitationAcceptance::invalid, {}};
    InvitationRow& row = state_->invitations.at(id->second);
    if (!row.pending(now)) return {InvitationAcceptance::invalid, {}};
    if (state_->user_by_email.contains(row.email_lower))
        return {InvitationAcceptance::email_taken, {}};
    if (state_->users.contains(std::string(new_user_id)))
        throw Error(ErrorCode::conflict, "a user with this id exists already");
    User user{std::string(new_user_id), row.invitation.org_id, row.invitation.email,
              row.invitation.role, now};
    complete_joined(entry, user);
    state_->check_journal(entry);
    state_->user_by_email.emplace(row.email_lower, user.id);
    state_->users.emplace(user.id, UserRow{user, row.email_lower, std::string(password_hash)});
    row.used = true;
    state_->write_journal(std::move(entry));
    return {InvitationAcceptance::accepted, std::move(user)};
}

void MemoryStore::insert_session(const SessionRecord& session, JournalEntry entry) {
    std::unique_lock lock(state_->mutex);
    state_->check_journal(entry);
    if (!state_->sessions.emplace(session.token_digest, session).second)
        throw Error(ErrorCode::conflict, "session exists already");
    state_->write_journal(std::move(entry));
}

std::optional<SessionRecord> MemoryStore::find_session(const Digest& token_digest) {
    std::shared_lock lock(state_->mutex);
    const auto it = state_->sessions.find(token_digest);
    if (it == state_->sessions.end()) return std::nullopt;
    const auto user = state_->users.find(it->second.user_id);
    if (user == state_->users.end()) return std::nullopt;  // as a foreign key would have it
    SessionRecord found = it->second;
    found.role = user->second.user.role;
    found.email = user->second.user.email;
    return found;
}

bool MemoryStore::delete_session(const Digest& token_digest, JournalEntry entry) {
    std::unique_lock lock(state_->mutex);
    if (state_->sessions.contains(token_digest)) state_->check_journal(entry);
    const bool erased = state_->sessions.erase(token_digest) > 0;
    ++state_->session_generation;
    if (erased) state_->write_journal(std::move(entry));
    return erased;
}

std::optional<IdempotencyRecord> MemoryStore::find_idempotency_record(
    const Digest& scope, std::chrono::sys_seconds now) {
    std::shared_lock lock(state_->mutex);
    const auto it = state_->idempotency.find(scope);
    if (it == state_->idempotency.end() || it->second.expires_at <= now) return std::nullopt;
    return it->second;
}

std::vector<AuditEvent> MemoryStore::list_audit_events(std::string_view org_id,
                                                       const AuditQuery& query,
                                                       const std::optional<PagePosition>& after,
                                                       std::size_t limit) {
    std::vector<AuditEvent> out;
    {
        std::shared_lock lock(state_->mutex);
        for (const AuditEvent& e : state_->events)
            if (e.org_id == org_id && matches(e, query) &&
                (!after || detail::comes_after(e, *after, detail::Order::newest_first)))
                out.push_back(e);
    }
    std::sort(out.begin(), out.end(), [](const AuditEvent& a, const AuditEvent& b) {
        if (a.created_at != b.created_at) return a.created_at > b.created_at;
        return a.id > b.id;
    });
    if (out.size() > limit) out.resize(limit);
    return out;
}

std::size_t MemoryStore::prune_audit_events(std::chrono::sys_seconds cutoff, std::size_t max) {
    std::unique_lock lock(state_->mutex);
    std::size_t n = 0;
    std::erase_if(state_->events, [&](const AuditEvent& e) {
        if (n == max || e.created_at >= cutoff) return false;
        ++n;
        return true;
    });
    return n;
}

std::size_t MemoryStore::prune_idempotency_records(std::chrono::sys_seconds now, std::size_t max) {
    std::unique_lock lock(state_->mutex);
    std::size_t n = 0;
    std::erase_if(state_->idempotency, [&](const auto& record) {
        if (n == max || record.second.expires_at > now) return false;
        ++n;
        return true;
    });
    return n;
}

std::size_t MemoryStore::delete_expired_sessions(std::chrono::sys_seconds now) {
    std::unique_lock lock(state_->mutex);
    return std::erase_if(state_->sessions,
                         [&](const auto& entry) { return entry.second.expires_at <= now; });
}

}  // namespace chatbotmgr
