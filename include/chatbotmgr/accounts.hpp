// Built-in accounts: organizations, users with Argon2id passwords, and sessions.
//
// Optional: a host that brings its own session check never touches this. The store port
// (AccountStore) is separate from ChatbotStore for the same reason.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chatbotmgr/actor.hpp"
#include "chatbotmgr/clock.hpp"
#include "chatbotmgr/idempotency.hpp"
#include "chatbotmgr/journal.hpp"
#include "chatbotmgr/page.hpp"
#include "chatbotmgr/role.hpp"
#include "chatbotmgr/secrets.hpp"

namespace chatbotmgr {

struct Organization {
    std::string id;  // UUID
    std::string name;
    friend bool operator==(const Organization&, const Organization&) = default;
};

// A member of an organization.
struct User {
    std::string id;  // UUID
    std::string org_id;
    std::string email;  // as given; compared case-insensitively (ASCII letters)
    Role role = Role::owner;
    std::chrono::sys_seconds created_at{};
    friend bool operator==(const User&, const User&) = default;
};

struct SessionRecord {
    Digest token_digest{};
    std::string user_id;
    std::string org_id;
    std::chrono::sys_seconds expires_at{};
    // Filled by find_session from the user as it is now (ignored by insert_session), so a
    // role change applies to the user's next request.
    Role role = Role::viewer;
    std::string email{};
};

// An invitation to join an organization (API.md section 10). Its token is stored only as
// a digest.
struct Invitation {
    std::string id;  // UUID
    std::string org_id;
    std::string email;
    Role role = Role::member;
    std::chrono::sys_seconds created_at{};
    std::chrono::sys_seconds expires_at{};
    friend bool operator==(const Invitation&, const Invitation&) = default;
};

// What a change of a member did; the last-owner rule is the store's to keep, atomically.
enum class MemberChange {
    done,
    not_found,   // no such user in the organization: nothing written
    last_owner,  // the user is the organization's only owner: nothing written
};

// What accept_invitation did.
enum class InvitationAcceptance {
    accepted,
    invalid,      // unknown, used, revoked or expired token: nothing written
    email_taken,  // a user with the invitation's email exists: nothing written
};

// Storage port for accounts. Same contract as ChatbotStore (storage.hpp): thread-safe,
// durable on return, unavailable/conflict as Error, not-found as nullopt/false, and every
// write that takes a JournalEntry writes it in its own transaction when it changed
// something.
class AccountStore {
  public:
    virtual ~AccountStore() = default;

    // The organization with this exact name, created (with new_id) when there is none.
    virtual Organization find_or_create_organization(std::string_view name,
                                                     std::string_view new_id) = 0;
    virtual std::optional<Organization> find_organization(std::string_view id) = 0;
    // Every organization, by name (byte order). For operators (the server's `user list`).
    virtual std::vector<Organization> list_organizations() = 0;
    // Stores the user; email_lower is user.email with ASCII letters lowercased, the key of
    // find_user_by_email. Throws conflict when a user with the same email_lower exists.
    virtual void insert_user(const User& user, std::string_view email_lower,
                             std::string_view password_hash, JournalEntry entry) = 0;
    // email_lower is already lowercased. Returns the user and the stored password hash.
    virtual std::optional<std::pair<User, std::string>> find_user_by_email(
        std::string_view email_lower) = 0;
    virtual std::size_t count_users() = 0;

    // The organization's users, oldest first by (created_at, id).
    virtual std::vector<User> list_users(std::string_view org_id) = 0;
    // At most limit of them in the same order, starting strictly after `after` (none: from
    // the first). The default filters list_users(); stores override it with a keyset query.
    virtual std::vector<User> list_users_page(std::string_view org_id,
                                              const std::optional<PagePosition>& after,
                                              std::size_t limit);
    virtual std::optional<User> find_user(std::string_view org_id, std::string_view user_id) = 0;
    // Sets the user's role, in one transaction that keeps at least one owner in the
    // organization (last_owner when role is not owner and the user is its only owner).
    // Concurrent calls must not leave an organization without an owner.
    virtual MemberChange set_role(std::string_view org_id, std::string_view user_id, Role role,
                                  JournalEntry entry) = 0;
    // Deletes the user and every session of the user in one transaction, under the same
    // last-owner rule as set_role.
    virtual MemberChange remove_user(std::string_view org_id, std::string_view user_id,
                                     JournalEntry entry) = 0;

    // Stores a pending invitation; email_lower is the invitation's email lowercased (the
    // key the accepted user gets). Throws conflict if the id or the digest exists.
    virtual void insert_invitation(const Invitation& invitation, std::string_view email_lower,
                                   const Digest& token_digest, JournalEntry entry) = 0;
    // The organization's pending invitations at now (not accepted, not revoked,
    // expires_at > now), oldest first by (created_at, id).
    virtual std::vector<Invitation> list_invitations(std::string_view org_id,
                                                     std::chrono::sys_seconds now) = 0;
    // Revokes a pending invitation; false when there is no pending one with this id in
    // the organization. The store sets the event's target name to the invitation's email.
    virtual bool revoke_invitation(std::string_view org_id, std::string_view id,
                                   std::chrono::sys_seconds now, JournalEntry entry) = 0;
    // In one transaction: takes the pending invitation with this token digest (at now),
    // inserts the user {new_user_id, its organization, its email, its role, created_at
    // now} with password_hash, and marks the invitation used, so it works once. The user
    // is returned when accepted. The store completes the entry's event from the invitation
    // before writing it: org_id its organization, actor and target the new user
    // ({"user", id, email} and {"member", id, email}).
    virtual std::pair<InvitationAcceptance, std::optional<User>> accept_invitation(
        const Digest& token_digest, std::chrono::sys_seconds now, std::string_view new_user_id,
        std::string_view password_hash, JournalEntry entry) = 0;

    virtual void insert_session(const SessionRecord& session, JournalEntry entry) = 0;
    // The session, with role and email of its user as they are now; nullopt when unknown
    // (or when its user was removed).
    virtual std::optional<SessionRecord> find_session(const Digest& token_digest) = 0;
    // False when there was no such session.
    virtual bool delete_session(const Digest& token_digest, JournalEntry entry) = 0;
    // Removes sessions whose expires_at is at or before now; returns how many.
    virtual std::size_t delete_expired_sessions(std::chrono::sys_seconds now) = 0;

    // As ChatbotStore::find_idempotency_record, for insert_invitation's records.
    virtual std::optional<IdempotencyRecord> find_idempotency_record(
        const Digest& scope, std::chrono::sys_seconds now) = 0;

    // As ChatbotStore::key_generation, for sessions: changes after every committed
    // delete_session, set_role and remove_user, before it returns. nullopt (the default):
    // sessions are never cached.
    virtual std::optional<std::uint64_t> session_generation() const noexcept {
        return std::nullopt;
    }
};

struct AccountsOptions {
    // How long a session lives. Default: 12 hours.
    std::chrono::seconds session_ttl = std::chrono::hours(12);
    // Argon2id cost (libsodium crypto_pwhash_str). Defaults: libsodium's INTERACTIVE
    // limits; tests may lower them to the MIN limits.
    unsigned long long pwhash_opslimit = 0;  // 0 = crypto_pwhash_OPSLIMIT_INTERACTIVE
    std::size_t pwhash_memlimit = 0;         // 0 = crypto_pwhash_MEMLIMIT_INTERACTIVE
    // Cache verified sessions in memory, when the store reports a session_generation():
    // a logout through any Accounts over the same data is seen when it returns.
    // Default: true.
    bool cache_sessions = true;
    std::shared_ptr<Clock> clock;          // Default: system_clock()
    std::shared_ptr<RandomSource> random;  // Default: system_random()
};

struct LoginResult {
    std::string token;  // the session token, shown once
    User user;
    Organization organization;
    std::chrono::sys_seconds expires_at{};
};

// The user a live session belongs to, with the user's role as it is now.
struct SessionUser {
    std::string user_id;
    std::string org_id;
    std::string email;
    Role role = Role::viewer;
    friend bool operator==(const SessionUser&, const SessionUser&) = default;
};

// An invitation with its token: returned once, by invite.
struct InvitationWithToken {
    Invitation invitation;
    std::string token;  // "ob_inv_" + 64 hex digits
};

// How long an invitation stays valid.
inline constexpr std::chrono::hours kInvitationLifetime{24 * 7};

// Threading: all methods are safe to call from many threads; login and add_user hold a
// thread for the Argon2id work. Errors: chatbotmgr::Error, as each method says, and
// unavailable when the store fails.
class Accounts {
  public:
    explicit Accounts(std::shared_ptr<AccountStore> store, AccountsOptions options = {});
    ~Accounts();
    Accounts(const Accounts&) = delete;
    Accounts& operator=(const Accounts&) = delete;

    // Creates the organization if the name is new, then the user with role (default:
    // owner when this creates the organization, member otherwise). For operators (the
    // server's `user add`): no actor, no permission check. Throws invalid_argument (field
    // "email", "password" or "org"), conflict (email taken).
    std::pair<User, Organization> add_user(std::string_view email, std::string_view org_name,
                                           std::string_view password,
                                           std::optional<Role> role = std::nullopt);
    // Sets the role of the user with this email (compared case-blind), for operators (the
    // server's `user set-role`): no actor, no permission check, journaled as done by the
    // system. Throws not_found (no such user), conflict (the organization's last owner).
    User set_role(std::string_view email, Role role);
    // Throws unauthenticated for an unknown email and for a wrong password alike, after
    // the same Argon2id work in both cases. origin: where the request came from
    // (client_address and user_agent, for the audit log; its other members are ignored).
    LoginResult login(std::string_view email, std::string_view password, const Actor& origin = {});
    // The user of a live session; nullopt for unknown, malformed, expired or revoked.
    std::optional<SessionUser> check_session(std::string_view token);
    // check_session from memory only (see cache_sessions), for a caller that must not
    // block, such as an HTTP I/O thread: the user when the session is cached and live;
    // nullopt when check_session has to answer (not cached, or not a live session).
    // Never reaches the store.
    std::optional<SessionUser> cached_session(std::string_view token) const;
    // Revokes the session; false when it was not a live session.
    bool logout(std::string_view token, const Actor& origin = {});
    // Removes sessions that have expired; returns how many. For a periodic janitor (the
    // example server runs one): expired sessions are refused whether removed or not.
    std::size_t delete_expired_sessions();
    bool has_users();

    // Teams (API.md section 10). Every call checks the actor's role against the
    // permission table first (Error(forbidden) with required_role()); then, where a member
    // is changed: nobody grants a role above their own, only an owner changes or removes
    // an owner or grants owner (forbidden), a user of another organization is not_found,
    // and the last owner can be neither demoted nor removed (conflict).
    std::vector<User> list_members(const Actor& actor);
    // One page of them (API.md section 15); limit 1 to kMaxPageSize (invalid_argument,
    // field "limit").
    Page<User> list_members(const Actor& actor, const PageRequest& page);
    User change_role(const Actor& actor, std::string_view user_id, Role role);
    // Deletes the member and revokes all of their sessions at once (every Accounts over
    // the same data refuses them when this returns).
    void remove_member(const Actor& actor, std::string_view user_id);
    // Throws invalid_argument (field "email").
    InvitationWithToken invite(const Actor& actor, std::string_view email, Role role);
    // The same, retry-safe (idempotency.hpp): runs at most once per call.key within the
    // actor's organization and user; a retry answers the first answer (replayed). Throws
    // invalid_argument (field "Idempotency-Key") for a malformed key,
    // idempotency_key_reused when the key was used with another request, and
    // idempotency_in_progress while the first call is still running.
    IdempotentAnswer invite(const Actor& actor, std::string_view email, Role role,
                            const IdempotentCall& call,
                            const AnswerEncoder<InvitationWithToken>& encode);
    // As ChatbotRegistry::earlier_answer, for the retry-safe invite.
    std::optional<IdempotentAnswer> earlier_answer(const Actor& actor,
                                                   const IdempotentCall& call) const;
    std::vector<Invitation> list_invitations(const Actor& actor);
    // Throws not_found when there is no pending invitation with this id.
    void revoke_invitation(const Actor& actor, std::string_view invitation_id);
    // Creates the invited user with the invited role and logs them in. Throws
    // unauthenticated for an unknown, used, revoked or expired token; conflict when the
    // email has an account; invalid_argument (field "password").
    LoginResult accept_invitation(std::string_view token, std::string_view password,
                                  const Actor& origin = {});

    AccountStore& store() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace chatbotmgr
