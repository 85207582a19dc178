// Who is calling: the extension point through which a host brings its own sessions.
//
// The HTTP adapter asks a SessionCheck for every session-authenticated request
// (everything under /api/v1/chatbots, and logout). The host implements it over its own
// login; the example server plugs in AccountsSessionCheck, the built-in login of
// accounts.hpp.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "chatbotmgr/role.hpp"

namespace chatbotmgr {
class Accounts;
}

namespace chatbotmgr::beast {

// A read-only view of the request head, free of Beast types.
class RequestView {
  public:
    virtual ~RequestView() = default;
    virtual std::string_view method() const noexcept = 0;
    // The request target as sent (path and query).
    virtual std::string_view target() const noexcept = 0;
    // The value of the first header with this (case-insensitive) name; empty when absent.
    virtual std::string_view header(std::string_view name) const noexcept = 0;
};

// The authenticated caller.
struct Principal {
    std::string org_id;   // every chatbot operation is scoped to this organization
    std::string subject;  // the user (or service) id, for the host's own bookkeeping
    // True when the credential travels by itself with every browser request (a cookie):
    // then POST, PATCH and DELETE must carry an Origin equal to the public origin.
    bool csrf_applies = false;
    // The caller's role in the organization (API.md section 10); absent means owner, as
    // for a host without roles (v1 behaviour).
    std::optional<Role> role = std::nullopt;
    // The user's email, for the audit log; may be empty.
    std::string email = {};
};

// Implementations must be safe to call from many threads at once. check() runs on the
// adapter's blocking pool, never on an I/O thread, so it may call storage; check_cached()
// runs on the I/O thread and must not block.
class SessionCheck {
  public:
    virtual ~SessionCheck() = default;
    // The caller, or nullopt when no valid credential was presented (the request gets
    // 401). May throw chatbotmgr::Error(unavailable) when the session store is down (503).
    virtual std::optional<Principal> check(const RequestView& request) = 0;
    // The caller as check() would answer it, when that is known without blocking (from
    // memory: no storage, no network, no lock held for long); nullopt when only check()
    // can tell -- then the request goes on to the pool and check() answers. Lets the
    // adapter answer a cached read on the I/O thread, without a hop to the pool. Must
    // never answer a principal that check() would refuse at this moment. Default: nullopt
    // (always check()).
    virtual std::optional<Principal> check_cached(const RequestView& request);
    // True when the request carries something meant as a credential. Only failures with a
    // credential count toward the per-client rate limit. Default: an Authorization or a
    // Cookie header is present.
    virtual bool has_credential(const RequestView& request) const;
};

// A session token as presented: from "Authorization: Bearer <token>" or from the
// ob_session cookie. Authorization wins when both are present, even when it is not a
// Bearer credential (then there is no token).
struct PresentedToken {
    std::string_view token;
    bool from_cookie = false;
};
std::optional<PresentedToken> find_session_token(const RequestView& request) noexcept;

// "Bearer <token>" (scheme case-insensitive) -> token; nullopt otherwise.
std::optional<std::string_view> bearer_token(std::string_view authorization) noexcept;
// The value of the first cookie with this name in a Cookie header; nullopt when absent.
std::optional<std::string_view> cookie_value(std::string_view cookie_header,
                                             std::string_view name) noexcept;

inline constexpr std::string_view kSessionCookieName = "ob_session";

// The built-in check over chatbotmgr::Accounts: a session token from Authorization
// (Bearer) or the ob_session cookie. API keys are never accepted as sessions.
class AccountsSessionCheck final : public SessionCheck {
  public:
    explicit AccountsSessionCheck(std::shared_ptr<Accounts> accounts);
    std::optional<Principal> check(const RequestView& request) override;
    // From Accounts' session cache (Accounts::cached_session).
    std::optional<Principal> check_cached(const RequestView& request) override;
    bool has_credential(const RequestView& request) const override;

  private:
    std::shared_ptr<Accounts> accounts_;
};

}  // namespace chatbotmgr::beast
