#include "chatbotmgr/accounts.hpp"

#include <sodium.h>

#include <algorithm>

#include "chatbotmgr/error.hpp"
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
                                                 std::string_view password) {
    check_email(email);
    check_password(password);
    const std::string name = detail::normalize_display_name(org_name, "org", kMaxOrgNameCodePoints);
    const std::string hash = impl_->hash_password(password);
    Organization org =
        impl_->store->find_or_create_organization(name, generate_uuid_v4(*impl_->random));
    User user{generate_uuid_v4(*impl_->random), org.id, std::string(email)};
    impl_->store->insert_user(user, detail::lowercase_ascii(email), hash);
    return {std::move(user), std::move(org)};
}

LoginResult Accounts::login(std::string_view email, std::string_view password) {
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

    LoginResult result;
    result.token = generate_session_token(*impl_->random);
    result.user = std::move(found->first);
    result.organization = std::move(*org);
    result.expires_at = impl_->now() + impl_->ttl;
    impl_->store->insert_session(
        {sha256(result.token), result.user.id, result.user.org_id, result.expires_at});
    return result;
}

std::optional<SessionUser> Accounts::check_session(std::string_view token) {
    if (!is_session_token_format(token)) return std::nullopt;
    const auto session = impl_->find_session(sha256(token));
    if (!session || session->expires_at <= impl_->now()) return std::nullopt;
    return SessionUser{session->user_id, session->org_id};
}

bool Accounts::logout(std::string_view token) {
    if (!is_session_token_format(token)) return false;
    const bool was_live = check_session(token).has_value();
    // The store's session_generation moves before delete_session returns, so every
    // Accounts over the same data stops serving this session from its cache.
    const bool deleted = impl_->store->delete_session(sha256(token));
    return was_live && deleted;
}

std::size_t Accounts::delete_expired_sessions() {
    return impl_->store->delete_expired_sessions(impl_->now());
}

bool Accounts::has_users() {
    return impl_->store->count_users() > 0;
}

}  // namespace chatbotmgr
