#include "tiny_store.hpp"

#include <algorithm>
#include <cstddef>
#include <tuple>

#include <chatbotmgr/error.hpp>
#include <chatbotmgr/secrets.hpp>

namespace tiny {

using chatbotmgr::AuditEvent;
using chatbotmgr::Chatbot;
using chatbotmgr::Error;
using chatbotmgr::ErrorCode;
using chatbotmgr::JournalEntry;

namespace {

// The order of audit events: (created_at, id), oldest first.
bool older(const AuditEvent& a, const AuditEvent& b) {
    return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id);
}

// Whether the event passes every filter of the query that is set.
bool matches(const AuditEvent& e, const chatbotmgr::AuditQuery& q) {
    return (!q.action || e.action == *q.action) && (!q.target_id || e.target.id == *q.target_id) &&
           (!q.actor_id || e.actor.id == *q.actor_id) && (!q.since || e.created_at >= *q.since) &&
           (!q.until || e.created_at < *q.until);
}

// Lets the caller finish the entry from the row, as the write leaves it (update, remove,
// replace_key, drop_previous_key). If it throws, nothing has been changed yet.
void complete(JournalEntry& entry, const Chatbot& row) {
    if (entry.complete) entry.complete(row, entry);
}

}  // namespace

TinyStore::Row* TinyStore::find(std::string_view org_id, std::string_view id) {
    const auto it = rows_.find(id);
    return it == rows_.end() || it->second.chatbot.org_id != org_id ? nullptr : &it->second;
}

void TinyStore::drop_previous(Row& row) {
    if (row.previous) ids_by_digest_.erase(row.previous->digest);
    row.previous.reset();
}

void TinyStore::check_journal(const JournalEntry& entry) const {
    if (!entry.idempotency) return;
    const auto it = idempotency_.find(entry.idempotency->scope);
    if (it != idempotency_.end() && it->second.expires_at > entry.event.created_at)
        throw Error(ErrorCode::conflict, "the Idempotency-Key has a record already",
                    "Idempotency-Key");
}

void TinyStore::write_journal(JournalEntry&& entry) {
    if (entry.idempotency)  // an expired record of the same scope is replaced
        idempotency_.insert_or_assign(entry.idempotency->scope, std::move(*entry.idempotency));
    if (entry.event.id.empty()) entry.event.id = chatbotmgr::stored_event_id(entry.event);
    const auto at = std::upper_bound(events_.begin(), events_.end(), entry.event, older);
    events_.insert(at, std::move(entry.event));
}

bool TinyStore::insert(const Chatbot& chatbot, const chatbotmgr::NewKey& key,
                       std::size_t max_in_org, JournalEntry entry) {
    std::lock_guard lock(mutex_);
    if (rows_.contains(chatbot.id) || ids_by_digest_.contains(key.digest))
        throw Error(ErrorCode::conflict, "chatbot id or key exists already");
    const auto in_org = std::count_if(rows_.begin(), rows_.end(), [&](const auto& entry) {
        return entry.second.chatbot.org_id == chatbot.org_id;
    });
    if (static_cast<std::size_t>(in_org) >= max_in_org) return false;
    check_journal(entry);
    rows_.emplace(
        chatbot.id,
        Row{chatbot, Key{key.digest, {key.prefix, key.issued_at, key.expires_at, {}}}, {}});
    ids_by_digest_.emplace(key.digest, chatbot.id);
    write_journal(std::move(entry));
    return true;
}

std::vector<Chatbot> TinyStore::list(std::string_view org_id) {
    std::vector<Chatbot> out;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, row] : rows_)
            if (row.chatbot.org_id == org_id) out.push_back(row.chatbot);
    }
    std::sort(out.begin(), out.end(), [](const Chatbot& a, const Chatbot& b) {
        return a.created_at != b.created_at ? a.created_at > b.created_at : a.id > b.id;
    });
    return out;
}

std::optional<Chatbot> TinyStore::get(std::string_view org_id, std::string_view id) {
    std::lock_guard lock(mutex_);
    const Row* row = find(org_id, id);
    return row ? std::optional(row->chatbot) : std::nullopt;
}

std::optional<Chatbot> TinyStore::update(std::string_view org_id, std::string_view id,
                                         const std::function<void(Chatbot&)>& mutate,
                                         JournalEntry entry) {
    std::lock_guard lock(mutex_);  // held across mutate: concurrent updates serialize
    Row* row = find(org_id, id);
    if (!row) return std::nullopt;
    Chatbot copy = row->chatbot;
    mutate(copy);  // if it throws, the row is untouched
    // Only name and settings may change; complete sees the row as the write leaves it.
    Chatbot after = row->chatbot;
    after.name = std::move(copy.name);
    after.settings = std::move(copy.settings);
    complete(entry, after);
    check_journal(entry);
    row->chatbot = std::move(after);
    write_journal(std::move(entry));
    return row->chatbot;
}

bool TinyStore::remove(std::string_view org_id, std::string_view id, JournalEntry entry) {
    std::lock_guard lock(mutex_);
    Row* row = find(org_id, id);
    if (!row) return false;
    complete(entry, row->chatbot);  // the row as it was
    check_journal(entry);
    const std::string chatbot_id = row->chatbot.id;
    ids_by_digest_.erase(row->key.digest);
    drop_previous(*row);
    rows_.erase(chatbot_id);
    // Cascade: the chatbot's conversations (with their messages and analyses).
    const auto first = conversations_.lower_bound({chatbot_id, ""});
    auto last = first;
    while (last != conversations_.end() && last->first.first == chatbot_id) ++last;
    conversations_.erase(first, last);
    ++key_generation_;  // its key no longer finds the chatbot: cached lookups are stale
    write_journal(std::move(entry));
    return true;
}

std::optional<Chatbot> TinyStore::replace_key(
    std::string_view org_id, std::string_view id, const chatbotmgr::NewKey& key,
    std::optional<std::chrono::sys_seconds> previous_until, JournalEntry entry) {
    std::lock_guard lock(mutex_);
    Row* row = find(org_id, id);
    if (!row) return std::nullopt;
    if (ids_by_digest_.contains(key.digest)) throw Error(ErrorCode::conflict, "key exists");
    Chatbot after = row->chatbot;
    after.key_prefix = key.prefix;
    complete(entry, after);
    check_journal(entry);
    drop_previous(*row);
    if (previous_until) {
        // The old key lives on until the grace end or its own expiry, whichever is first.
        row->previous = row->key;
        auto& until = row->previous->state.expires_at;
        until = until ? std::min(*until, *previous_until) : *previous_until;
    } else {
        ids_by_digest_.erase(row->key.digest);
    }
    row->key = Key{key.digest, {key.prefix, key.issued_at, key.expires_at, {}}};
    ids_by_digest_.emplace(key.digest, row->chatbot.id);
    row->chatbot.key_prefix = key.prefix;
    ++key_generation_;  // the old key no longer finds the chatbot: cached lookups are stale
    write_journal(std::move(entry));
    return row->chatbot;
}

std::optional<bool> TinyStore::drop_previous_key(std::string_view org_id, std::string_view id,
                                                 std::chrono::sys_seconds now, JournalEntry entry) {
    std::lock_guard lock(mutex_);
    Row* row = find(org_id, id);
    if (!row) return std::nullopt;
    if (!row->previous) return false;
    const bool live = row->previous->state.expires_at > now;
    if (live) {  // only then is the entry written
        complete(entry, row->chatbot);
        check_journal(entry);
    }
    drop_previous(*row);
    ++key_generation_;
    if (live) write_journal(std::move(entry));
    return live;
}

std::optional<chatbotmgr::ChatbotKeys> TinyStore::keys(std::string_view org_id,
                                                       std::string_view id) {
    std::lock_guard lock(mutex_);
    const Row* row = find(org_id, id);
    if (!row) return std::nullopt;
    chatbotmgr::ChatbotKeys out{row->key.state, std::nullopt};
    if (row->previous) out.previous = row->previous->state;
    return out;
}

std::optional<chatbotmgr::KeyOwner> TinyStore::find_by_key_digest(
    const chatbotmgr::Digest& digest) {
    std::lock_guard lock(mutex_);
    const auto it = ids_by_digest_.find(digest);
    if (it == ids_by_digest_.end()) return std::nullopt;
    const Row& row = rows_.find(it->second)->second;
    const bool current = row.key.digest == digest;
    return chatbotmgr::KeyOwner{
        it->second, row.chatbot.org_id,
        current ? chatbotmgr::KeySlot::current : chatbotmgr::KeySlot::previous,
        current ? row.key.state.expires_at : row.previous->state.expires_at};
}

void TinyStore::record_key_usage(std::span<const chatbotmgr::KeyUsage> usage) {
    std::lock_guard lock(mutex_);
    for (const auto& u : usage) {
        const auto it = ids_by_digest_.find(u.digest);
        if (it == ids_by_digest_.end()) continue;
        Row& row = rows_.find(it->second)->second;
        auto& last = (row.key.digest == u.digest ? row.key : *row.previous).state.last_used_at;
        if (!last || *last < u.last_used_at) last = u.last_used_at;
    }
}

std::optional<chatbotmgr::CaptureResult> TinyStore::append_capture(
    std::string_view chatbot_id, const chatbotmgr::CaptureBatch& batch) {
    std::lock_guard lock(mutex_);
    if (!rows_.contains(chatbot_id)) return std::nullopt;
    auto [it, created] = conversations_.try_emplace(
        ConversationKey{std::string(chatbot_id), batch.external_conversation_id});
    Conversation& conversation = it->second;
    if (created) conversation.id = chatbotmgr::generate_uuid_v4(*random_);
    std::size_t stored = 0;
    for (const auto& message : batch.messages) {
        if (message.external_id && !conversation.message_ids.insert(*message.external_id).second)
            continue;  // already stored for this conversation
        ++stored;
    }
    conversation.messages += stored;
    return chatbotmgr::CaptureResult{conversation.id, stored};
}

std::optional<chatbotmgr::IdempotencyRecord> TinyStore::find_idempotency_record(
    const chatbotmgr::Digest& scope, std::chrono::sys_seconds now) {
    std::lock_guard lock(mutex_);
    const auto it = idempotency_.find(scope);
    if (it == idempotency_.end() || it->second.expires_at <= now) return std::nullopt;
    return it->second;
}

std::vector<AuditEvent> TinyStore::list_audit_events(
    std::string_view org_id, const chatbotmgr::AuditQuery& query,
    const std::optional<chatbotmgr::PagePosition>& after, std::size_t limit) {
    std::lock_guard lock(mutex_);
    std::vector<AuditEvent> out;
    for (auto it = events_.rbegin(); it != events_.rend() && out.size() < limit; ++it) {
        const AuditEvent& e = *it;  // newest first
        // Newest first, a page starts strictly after `after`: at an older (created_at, id).
        const bool in_page =
            !after || std::tie(e.created_at, e.id) < std::tie(after->created_at, after->id);
        if (in_page && e.org_id == org_id && matches(e, query)) out.push_back(e);
    }
    return out;
}

std::size_t TinyStore::prune_audit_events(std::chrono::sys_seconds cutoff, std::size_t max) {
    std::lock_guard lock(mutex_);
    // Events are kept oldest first: the ones created before cutoff are a prefix.
    std::size_t n = 0;
    while (n < max && n < events_.size() && events_[n].created_at < cutoff) ++n;
    events_.erase(events_.begin(), events_.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
}

std::size_t TinyStore::prune_idempotency_records(std::chrono::sys_seconds now, std::size_t max) {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (auto it = idempotency_.begin(); it != idempotency_.end() && n < max;) {
        if (it->second.expires_at <= now) {
            it = idempotency_.erase(it);
            ++n;
        } else {
            ++it;
        }
    }
    return n;
}

bool TinyStore::record_analysis(std::string_view chatbot_id, std::string_view conversation_id,
                                std::string_view, std::string_view) {
    std::lock_guard lock(mutex_);
    for (auto it = conversations_.lower_bound({std::string(chatbot_id), ""});
         it != conversations_.end() && it->first.first == chatbot_id; ++it) {
        if (it->second.id == conversation_id) {
            ++it->second.analyses;
            return true;
        }
    }
    return false;
}

chatbotmgr::ChatbotDataCounts TinyStore::count_data(std::string_view chatbot_id) {
    std::lock_guard lock(mutex_);
    chatbotmgr::ChatbotDataCounts counts;
    for (auto it = conversations_.lower_bound({std::string(chatbot_id), ""});
         it != conversations_.end() && it->first.first == chatbot_id; ++it) {
        ++counts.conversations;
        counts.messages += it->second.messages;
        counts.analysis_results += it->second.analyses;
    }
    return counts;
}

}  // namespace tiny
