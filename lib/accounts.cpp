#include "chatbotmgr/accounts.hpp"

#include <sodium.h>

#include <algorithm>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/permissions.hpp"
#include "idempotency.hpp"
#include "journal.hpp"
#include "paging.hpp"
#include "sodium_init.hpp"
#include "text.hpp"
#include "verified_cache.hpp"

namespace chatbotmgr {
namespace {

constexpr std::size_t kMinPasswordBytes = 8;
constexpr std::size_t kMaxPasswordBytes = 1024;
constexpr std::size_t kMaxEmailBytes = 254;
constexpr std::size_t kMaxOrgNameCodePoints = 100;
constexpr std::size_t kSessionCacheCapacity = 100'000;

// Deliberately simple: one '@' with something on both sides, no whitespace or controls.
void check_email(std::string_view email) {
    const auto at = email.find('@');
    const bool shape_ok = !email.empty() && email.size() <= kMaxEmailBytes &&
                          at != std::string_view::npos && at > 0 && at + 1 < email.size() &&
                          email.find('@', at + 1) == std::string_view::npos;
    const bool chars_ok = std::none_of(email.begin(), email.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u == 0x7F;
    });
    if (!shape_ok || !chars_ok || !detail::utf8_length(email))
        throw Error(ErrorCode::invalid_argument, "email must be an email address", "email");
}

void check_password(std::string_view password) {
    if (password.size() < kMinPasswordBytes || password.size() > kMaxPasswordBytes)
        throw Error(ErrorCode::invalid_argument,
                    "password must be " + std::to_string(kMinPasswordBytes) + " to " +
                        std::to_string(kMaxPasswordBytes) + " bytes",
                    "password");
}

[[noreturn]] void throw_bad_login() {
    throw Error(ErrorCode::unauthenticated, "invalid email or password");
}

}  // namespace

struct Accounts::Impl {
    std::shared_ptr<AccountStore> store;
    std::shared_ptr<Clock> clock;
    std::shared_ptr<RandomSource> random;
    std::chrono::seconds ttl;
    unsigned long long opslimit;
    std::size_t memlimit;
    bool cache_sessions;
    mutable detail::VerifiedCache<SessionRecord> session_cache{kSessionCacheCapacity};
    std::string dummy_hash;  // verified against for unknown emails, to equalize timing
    detail::InFlightCalls in_flight;

    JournalEntry entry(const Actor& actor, AuditAction action, AuditTarget target) const {
        return {
            detail::make_event(actor, action, std::move(target), clock->now()), std::nullopt, {}};
    }

    // The actor a user is for their own session events, seen from origin.
    static Actor as_user(const User& user, const Actor& origin) {
        Actor actor(user.org_id);
        actor.user_id = user.id;
        actor.email = user.email;
        actor.role = user.role;
        actor.client_address = origin.client_address;
        actor.user_agent = origin.user_agent;
        return actor;
    }

    std::string hash_password(std::string_view password) const {
        char out[crypto_pwhash_STRBYTES];
        if (crypto_pwhash_str(out, password.data(), password.size(), opslimit, memlimit) != 0)
            throw Error(ErrorCode::unavailable, "out of memory while hashing a password");
        return out;
    }

    bool verify_password(const std::string& hash, std::string_view password) const {
        return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
    }

    std::chrono::sys_seconds now() const {
        return std::chrono::floor<std::chrono::seconds>(clock->now());
    }

    LoginResult start_session(User user, Organization org, const Actor& origin) {
        LoginResult result;
        result.token = generate_session_token(*random);
        result.user = std::move(user);
        result.organization = std::move(org);
        result.expires_at = now() + ttl;
        SessionRecord session;
        session.token_digest = sha256(result.token);
        session.user_id = result.user.id;
        session.org_id = result.user.org_id;
        session.expires_at = result.expires_at;
        store->insert_session(session,
                              entry(as_user(result.user, origin), AuditAction::session_created,
                                    {"user", result.user.id, result.user.email}));
        return result;
    }

    InvitationWithToken invite(
        const Actor& actor, std::string_view email, Role role,
        const std::function<IdempotencyRecord(const InvitationWithToken&)>& keep);

    // The member an actor changes: found in the actor's organization (else not_found),
    // and only an owner may touch an owner (API.md section 18: required_role "owner").
    User member_to_change(const Actor& actor, std::string_view user_id) const {
        auto user = store->find_user(actor.org_id, user_id);
        if (!user) throw Error(ErrorCode::not_found, "member not found");
        if (user->role == Role::owner && actor.role < Role::owner)
            throw Error::forbidden(Role::owner);
        return std::move(*user);
    }

    // The user of a session that has not expired.
    std::optional<SessionUser> live_user(std::optional<SessionRecord> session) const {
        if (!session || session->expires_at <= now()) return std::nullopt;
        return SessionUser{std::move(session->user_id), std::move(session->org_id),
                           std::move(session->email), session->role};
    }

    std::optional<SessionRecord> find_session(const Digest& digest) const {
        if (!cache_sessions) return store->find_session(digest);
        const std::uint64_t before = *store->session_generation();
        if (auto hit = session_cache.find(digest, before)) return hit;
        auto found = store->find_session(digest);
        if (found) session_cache.insert(digest, *found, before, *store->session_generation());
        return found;
    }
};

Accounts::Accounts(std::shared_ptr<AccountStore> store, AccountsOptions options) {
    if (!store) throw Error(ErrorCode::invalid_argument, "store must not be null", "store");
    ensure_sodium_initialized();
    impl_ = std::make_unique<Impl>();
    impl_->store = std::move(store);
    impl_->clock = options.clock ? std::move(options.clock) : system_clock();
    impl_->random = options.random ? std::move(options.random) : system_random();
    impl_->ttl = options.session_ttl;
    impl_->opslimit =
        options.pwhash_opslimit ? options.pwhash_opslimit : crypto_pwhash_OPSLIMIT_INTERACTIVE;
    impl_->memlimit =
        options.pwhash_memlimit ? options.pwhash_memlimit : crypto_pwhash_MEMLIMIT_INTERACTIVE;
    impl_->cache_sessions =
        options.cache_sessions && impl_->store->session_generation().has_value();
    impl_->dummy_hash = impl_->hash_password(generate_session_token(*impl_->random));
}

Accounts::~Accounts() = default;

AccountStore& Accounts::store() const noexcept {
    return *impl_->store;
}

std::pair<User, Organization> Accounts::add_user(std::string_view email, std::string_view org_name,
                                                 std::string_view password,
                                                 std::optional<Role> role) {
    check_email(email);
    check_password(password);
    const std::string name = detail::normalize_display_name(org_name, "org", kMaxOrgNameCodePoints);
    const std::string hash = impl_->hash_password(password);
    const std::string new_org_id = generate_uuid_v4(*impl_->random);
    Organization org = impl_->store->find_or_create_organization(name, new_org_id);
    const bool created_org = org.id == new_org_id;
    User user{generate_uuid_v4(*impl_->random), org.id, std::string(email),
              role.value_or(created_org ? Role::owner : Role::member), impl_->now()};
    // An operator's act: the system is the actor.
    JournalEntry entry =
        impl_->entry(Actor(org.id), AuditAction::member_joined, {"member", user.id, user.email});
    impl_->store->insert_user(user, detail::lowercase_ascii(email), hash, std::move(entry));
    return {std::move(user), std::move(org)};
}

LoginResult Accounts::login(std::string_view email, std::string_view password,
                            const Actor& origin) {
    auto found = email.size() <= kMaxEmailBytes
                     ? impl_->store->find_user_by_email(detail::lowercase_ascii(email))
                     : std::nullopt;
    if (!found) {
        impl_->verify_password(impl_->dummy_hash, password);  // same work as a real check
        throw_bad_login();
    }
    if (!impl_->verify_password(found->second, password)) throw_bad_login();
    auto org = impl_->store->find_organization(found->first.org_id);
    if (!org) throw Error(ErrorCode::internal, "user without organization");

    return impl_->start_session(std::move(found->first), std::move(*org), origin);
}

std::optional<SessionUser> Accounts::check_session(std::string_view token) {
    if (!is_session_token_format(token)) return std::nullopt;
    return impl_->live_user(impl_->find_session(sha256(token)));
}

std::optional<SessionUser> Accounts::cached_session(std::string_view token) const {
    if (!impl_->cache_sessions || !is_session_token_format(token)) return std::nullopt;
    return impl_->live_user(
        impl_->session_cache.find(sha256(token), *impl_->store->session_generation()));
}

bool Accounts::logout(std::string_view token, const Actor& origin) {
    if (!is_session_token_format(token)) return false;
    const Digest digest = sha256(token);
    const auto session = impl_->find_session(digest);
    if (!session) return false;
    const bool was_live = session->expires_at > impl_->now();
    Actor actor(session->org_id);
    actor.user_id = session->user_id;
    actor.email = session->email;
    actor.client_address = origin.client_address;
    actor.user_agent = origin.user_agent;
    // The store's session_generation moves before delete_session returns, so every
    // Accounts over the same data stops serving this session from its cache.
    const bool deleted = impl_->store->delete_session(
        digest, impl_->entry(actor, AuditAction::session_revoked,
                             {"user", session->user_id, session->email}));
    return was_live && deleted;
}

std::size_t Accounts::delete_expired_sessions() {
    return impl_->store->delete_expired_sessions(impl_->now());
}

bool Accounts::has_users() {
    return impl_->store->count_users() > 0;
}

// --- Teams ---

namespace {

// Nobody grants a role above their own; granting owner or admin needs that role
// (API.md section 18).
void check_may_grant(const Actor& actor, Role role) {
    if (role > actor.role) throw Error::forbidden(role);
}

void check_not_last_owner(MemberChange change) {
    if (change == MemberChange::not_found) throw Error(ErrorCode::not_found, "member not found");
    if (change == MemberChange::last_owner)
        throw Error(ErrorCode::conflict,
                    "the organization's last owner cannot be demoted or removed");
}

}  // namespace

User Accounts::set_role(std::string_view email, Role role) {
    auto found = impl_->store->find_user_by_email(detail::lowercase_ascii(email));
    if (!found) throw Error(ErrorCode::not_found, "no user has this email");
    User user = std::move(found->first);
    JournalEntry entry = impl_->entry(Actor(user.org_id), AuditAction::member_role_changed,
                                      {"member", user.id, user.email});
    entry.event.changes["from"] = to_string(user.role);
    entry.event.changes["to"] = to_string(role);
    check_not_last_owner(impl_->store->set_role(user.org_id, user.id, role, std::move(entry)));
    user.role = role;
    return user;
}

std::vector<User> Accounts::list_members(const Actor& actor) {
    check_permitted(actor, Action::list_members);
    return impl_->store->list_users(actor.org_id);
}

Page<User> Accounts::list_members(const Actor& actor, const PageRequest& page) {
    check_permitted(actor, Action::list_members);
    return detail::fetch_page<User>(page, [&](const auto& after, std::size_t limit) {
        return impl_->store->list_users_page(actor.org_id, after, limit);
    });
}

User Accounts::change_role(const Actor& actor, std::string_view user_id, Role role) {
    check_permitted(actor, Action::change_role);
    check_may_grant(actor, role);
    User user = impl_->member_to_change(actor, user_id);
    JournalEntry entry =
        impl_->entry(actor, AuditAction::member_role_changed, {"member", user.id, user.email});
    entry.event.changes["from"] = to_string(user.role);
    entry.event.changes["to"] = to_string(role);
    check_not_last_owner(impl_->store->set_role(actor.org_id, user.id, role, std::move(entry)));
    user.role = role;
    return user;
}

void Accounts::remove_member(const Actor& actor, std::string_view user_id) {
    check_permitted(actor, Action::remove_member);
    const User user = impl_->member_to_change(actor, user_id);
    check_not_last_owner(impl_->store->remove_user(
        actor.org_id, user.id,
        impl_->entry(actor, AuditAction::member_removed, {"member", user.id, user.email})));
}

InvitationWithToken Accounts::invite(const Actor& actor, std::string_view email, Role role) {
    return impl_->invite(actor, email, role, nullptr);
}

IdempotentAnswer Accounts::invite(const Actor& actor, std::string_view email, Role role,
                                  const IdempotentCall& call,
                                  const AnswerEncoder<InvitationWithToken>& encode) {
    check_permitted(actor, Action::invite_member);
    const detail::IdempotentRun run(actor, call, impl_->now());
    return detail::run_once(
        impl_->in_flight, run,
        [&] { return impl_->store->find_idempotency_record(run.scope(), impl_->now()); },
        [&] {
            std::string answer;
            impl_->invite(actor, email, role, [&](const InvitationWithToken& created) {
                answer = encode(created);
                return run.record(answer);
            });
            return answer;
        });
}

InvitationWithToken Accounts::Impl::invite(
    const Actor& actor, std::string_view email, Role role,
    const std::function<IdempotencyRecord(const InvitationWithToken&)>& keep) {
    check_permitted(actor, Action::invite_member);
    check_may_grant(actor, role);
    check_email(email);
    InvitationWithToken out;
    out.token = generate_invitation_token(*random);
    Invitation& inv = out.invitation;
    inv.id = generate_uuid_v4(*random);
    inv.org_id = actor.org_id;
    inv.email = std::string(email);
    inv.role = role;
    inv.created_at = now();
    inv.expires_at = inv.created_at + kInvitationLifetime;
    JournalEntry journal =
        entry(actor, AuditAction::member_invited, {"invitation", inv.id, inv.email});
    if (keep) journal.idempotency = keep(out);
    store->insert_invitation(inv, detail::lowercase_ascii(email), sha256(out.token),
                             std::move(journal));
    return out;
}

std::optional<IdempotentAnswer> Accounts::earlier_answer(const Actor& actor,
                                                         const IdempotentCall& call) const {
    const detail::IdempotentRun run(actor, call, impl_->now());
    return detail::earlier_answer(impl_->in_flight, run, [&] {
        return impl_->store->find_idempotency_record(run.scope(), impl_->now());
    });
}

std::vector<Invitation> Accounts::list_invitations(const Actor& actor) {
    check_permitted(actor, Action::list_invitations);
    return impl_->store->list_invitations(actor.org_id, impl_->now());
}

void Accounts::revoke_invitation(const Actor& actor, std::string_view invitation_id) {
    check_permitted(actor, Action::revoke_invitation);
    if (!impl_->store->revoke_invitation(
            actor.org_id, invitation_id, impl_->now(),
            impl_->entry(actor, AuditAction::invitation_revoked,
                         {"invitation", std::string(invitation_id), ""})))
        throw Error(ErrorCode::not_found, "invitation not found");
}

LoginResult Accounts::accept_invitation(std::string_view token, std::string_view password,
                                        const Actor& origin) {
    check_password(password);
    if (!is_invitation_token_format(token))
        throw Error(ErrorCode::unauthenticated, "invalid invitation");
    const std::string hash = impl_->hash_password(password);
    // The store completes the event from the invitation (organization, the new user).
    auto [outcome, user] = impl_->store->accept_invitation(
        sha256(token), impl_->now(), generate_uuid_v4(*impl_->random), hash,
        impl_->entry(origin, AuditAction::member_joined, {"member", "", ""}));
    if (outcome == InvitationAcceptance::email_taken)
        throw Error(ErrorCode::conflict, "a user with this email exists already");
    if (outcome != InvitationAcceptance::accepted || !user)
        throw Error(ErrorCode::unauthenticated, "invalid invitation");
    auto org = impl_->store->find_organization(user->org_id);
    if (!org) throw Error(ErrorCode::internal, "user without organization");
    return impl_->start_session(std::move(*user), std::move(*org), origin);
}

}  // namespace chatbotmgr
