#include "journal.hpp"

#include <array>
#include <limits>
#include <utility>

#include "chatbotmgr/audit.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/permissions.hpp"
#include "chatbotmgr/secrets.hpp"
#include "chatbotmgr/storage.hpp"
#include "paging.hpp"

namespace chatbotmgr {
namespace {

constexpr std::array<std::pair<AuditAction, std::string_view>, 12> kActionNames{{
    {AuditAction::chatbot_created, "chatbot.created"},
    {AuditAction::chatbot_updated, "chatbot.updated"},
    {AuditAction::chatbot_deleted, "chatbot.deleted"},
    {AuditAction::chatbot_key_rotated, "chatbot.key_rotated"},
    {AuditAction::chatbot_previous_key_revoked, "chatbot.previous_key_revoked"},
    {AuditAction::member_invited, "member.invited"},
    {AuditAction::invitation_revoked, "invitation.revoked"},
    {AuditAction::member_joined, "member.joined"},
    {AuditAction::member_role_changed, "member.role_changed"},
    {AuditAction::member_removed, "member.removed"},
    {AuditAction::session_created, "session.created"},
    {AuditAction::session_revoked, "session.revoked"},
}};

}  // namespace

std::string_view to_string(AuditAction action) noexcept {
    for (const auto& [value, name] : kActionNames)
        if (value == action) return name;
    return "unknown";
}

std::optional<AuditAction> parse_audit_action(std::string_view text) noexcept {
    for (const auto& [value, name] : kActionNames)
        if (name == text) return value;
    return std::nullopt;
}

std::string stored_event_id(const AuditEvent& event) {
    if (!event.id.empty()) return event.id;
    return generate_uuid_v7(*system_random(), std::chrono::system_clock::now());
}

namespace detail {

AuditEvent make_event(const Actor& actor, AuditAction action, AuditTarget target,
                      std::chrono::system_clock::time_point now) {
    AuditEvent event;  // its id is the store's to give (stored_event_id)
    event.org_id = actor.org_id;
    event.created_at = std::chrono::floor<std::chrono::seconds>(now);
    event.action = action;
    if (actor.user_id.empty())
        event.actor = {"system", "", ""};
    else
        event.actor = {"user", actor.user_id, actor.email};
    event.target = std::move(target);
    event.ip = actor.client_address;
    event.user_agent = actor.user_agent;
    return event;
}

}  // namespace detail

AuditLog::AuditLog(std::shared_ptr<JournalStore> store, AuditLogOptions options)
    : store_(std::move(store)), options_(std::move(options)) {
    if (!store_) throw Error(ErrorCode::invalid_argument, "store must not be null", "store");
    if (!options_.clock) options_.clock = system_clock();
    if (options_.prune_batch == 0) options_.prune_batch = 1;
}

Page<AuditEvent> AuditLog::list(const Actor& actor, const AuditQuery& query,
                                const PageRequest& page) const {
    check_permitted(actor, Action::read_audit_log);
    if (actor.org_id.empty())
        throw Error(ErrorCode::invalid_argument, "organization id must not be empty", "org_id");
    return detail::fetch_page<AuditEvent>(
        page, kMaxAuditPageSize, [&](const auto& after, std::size_t limit) {
            return store_->list_audit_events(actor.org_id, query, after, limit);
        });
}

PruneCounts AuditLog::prune() {
    const auto now = std::chrono::floor<std::chrono::seconds>(options_.clock->now());
    PruneCounts counts;
    // Batch by batch: each statement is short, so writers queue behind it only briefly.
    for (;;) {
        const std::size_t n =
            store_->prune_audit_events(now - options_.retention, options_.prune_batch);
        counts.audit_events += n;
        if (n < options_.prune_batch) break;
    }
    for (;;) {
        const std::size_t n = store_->prune_idempotency_records(now, options_.prune_batch);
        counts.idempotency_records += n;
        if (n < options_.prune_batch) break;
    }
    return counts;
}

}  // namespace chatbotmgr

namespace chatbotmgr {

void ChatbotStore::insert(const Chatbot& chatbot, const Digest& key_digest) {
    JournalEntry entry{
        detail::make_event(Actor(chatbot.org_id), AuditAction::chatbot_created,
                           {"chatbot", chatbot.id, chatbot.name}, chatbot.created_at),
        std::nullopt,
        {}};
    insert(chatbot, NewKey{key_digest, chatbot.key_prefix, chatbot.created_at, std::nullopt},
           std::numeric_limits<std::size_t>::max(), std::move(entry));
}

}  // namespace chatbotmgr
