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

#include "chatbotmgr/clock.hpp"
#include "chatbotmgr/secrets.hpp"

namespace chatbotmgr {

struct Organization {
    std::string id;  // UUID
    std::string name;
    friend bool operator==(const Organization&, const Organization&) = default;
};

struct User {
    std::string id;  // UUID
    std::string org_id;
    std::string email;  // as given; compared case-insensitively (ASCII letters)
    friend bool operator==(const User&, const User&) = default;
};

struct SessionRecord {
    Digest token_digest{};
    std::string user_id;
    std::string org_id;
    std::chrono::sys_seconds expires_at{};
};

// Storage port for accounts. Same contract as ChatbotStore (storage.hpp): thread-safe,
// durable on return, unavailable/conflict as Error, not-found as nullopt/false.
class AccountStore {
  public:
    virtual ~AccountStore() = default;

    // The organization with this exact name, created (with new_id) when there is none.
    virtual Organization find_or_create_organization(std::string_view name,
                                                     std::string_view new_id) = 0;
    virtual std::optional<Organization> find_organization(std::string_view id) = 0;
    // Stores the user; email_lower is user.email with ASCII letters lowercased, the key of
    // find_user_by_email. Throws conflict when a user with the same email_lower exists.
    virtual void insert_user(const User& user, std::string_view email_lower,
                             std::string_view password_hash) = 0;
    // email_lower is already lowercased. Returns the user and the stored password hash.
    virtual std::optional<std::pair<User, std::string>> find_user_by_email(
        std::string_view email_lower) = 0;
    virtual std::size_t count_users() = 0;

    virtual void insert_session(const SessionRecord& session) = 0;
    virtual std::optional<SessionRecord> find_session(const Digest& token_digest) = 0;
    // False when there was no such session.
    virtual bool delete_session(const Digest& token_digest) = 0;
    // Removes sessions whose expires_at is at or before now; returns how many.
    virtual std::size_t delete_expired_sessions(std::chrono::sys_seconds now) = 0;

    // As ChatbotStore::key_generation, for sessions: changes after every committed
    // delete_session, before it returns. nullopt (the default): sessions are never cached.
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

// The user a live session belongs to.
struct SessionUser {
    std::string user_id;
    std::string org_id;
    friend bool operator==(const SessionUser&, const SessionUser&) = default;
};

// Threading: all methods are safe to call from many threads; login and add_user hold a
// thread for the Argon2id work. Errors: chatbotmgr::Error, as each method says, and
// unavailable when the store fails.
class Accounts {
  public:
    explicit Accounts(std::shared_ptr<AccountStore> store, AccountsOptions options = {});
    ~Accounts();
    Accounts(const Accounts&) = delete;
    Accounts& operator=(const Accounts&) = delete;

    // Creates the organization if the name is new, then the user. Throws
    // invalid_argument (field "email", "password" or "org"), conflict (email taken).
    std::pair<User, Organization> add_user(std::string_view email, std::string_view org_name,
                                           std::string_view password);
    // Throws unauthenticated for an unknown email and for a wrong password alike, after
    // the same Argon2id work in both cases.
    LoginResult login(std::string_view email, std::string_view password);
    // The user of a live session; nullopt for unknown, malformed, expired or revoked.
    std::optional<SessionUser> check_session(std::string_view token);
    // Revokes the session; false when it was not a live session.
    bool logout(std::string_view token);
    // Removes sessions that have expired; returns how many. For a periodic janitor (the
    // example server runs one): expired sessions are refused whether removed or not.
    std::size_t delete_expired_sessions();
    bool has_users();

    AccountStore& store() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace chatbotmgr
