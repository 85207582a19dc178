// Internal: one handler per (route, method) of the route table, and the Call they get.
//
// A handler runs after the checks of api.cpp have passed (route, method, credentials,
// CSRF, body size and media type), so it only decodes the body, calls the core and
// encodes the answer. It reports failures by throwing chatbotmgr::Error, which the
// pipeline turns into the matching HTTP error.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/beast/api.hpp"
#include "chatbotmgr/beast/session_check.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/registry.hpp"
#include "client_address.hpp"
#include "rate_limiter.hpp"
#include "responses.hpp"
#include "routes.hpp"

namespace chatbotmgr::beast::detail {

// What the Api owns that the pipeline and the handlers use. Immutable while serving,
// except the limiters (thread-safe themselves).
struct Services {
    std::shared_ptr<ChatbotRegistry> registry;
    std::shared_ptr<SessionCheck> sessions;
    std::shared_ptr<Accounts> accounts;  // null: the login routes do not exist
    ApiOptions options;                  // public_origin normalized
    std::string cookie_attributes;       // "; Path=/; HttpOnly; SameSite=Lax[; Secure]"
    TrustedProxies trusted_proxies;
    JsonLimits json_limits;                // of every request body
    FailureLimiter login_limiter;          // failed logins per (client, account)
    FailureLimiter login_address_limiter;  // failed logins per client, any account
    FailureLimiter auth_limiter;           // failed session and API-key checks per client

    Services(std::shared_ptr<ChatbotRegistry> r, std::shared_ptr<SessionCheck> s,
             std::shared_ptr<Accounts> a, ApiOptions o);
    void set_public_origin(std::string origin);
};

// A RequestView over a Beast request.
class BeastRequestView final : public RequestView {
  public:
    explicit BeastRequestView(const Api::Request& req) : req_(req) {}
    std::string_view method() const noexcept override { return req_.method_string(); }
    std::string_view target() const noexcept override { return req_.target(); }
    std::string_view header(std::string_view name) const noexcept override;

  private:
    const Api::Request& req_;
};

// One request on its way through the pipeline: what it is, who sent it, how to answer.
class Call {
  public:
    Call(Services& services, const Api::Request& request, const RequestContext& context,
         const Match& match);

    const Api::Request& request() const noexcept { return request_; }
    const RequestContext& context() const noexcept { return context_; }
    // The caller's rate-limit key: address_group() of its address (client_address():
    // the peer, or behind a trusted proxy the address that proxy forwarded).
    const std::string& client() const;
    const JsonLimits& json_limits() const noexcept { return services_.json_limits; }
    const RequestView& view() const noexcept { return view_; }
    std::string_view body() const noexcept { return request_.body(); }
    // The {id} of the path: a chatbot, a member or an invitation.
    const std::string& path_id() const noexcept { return match_.id; }
    Services& services() const noexcept { return services_; }
    ChatbotRegistry& registry() const noexcept { return *services_.registry; }
    Accounts& accounts() const noexcept { return *services_.accounts; }

    // Who the caller proved to be (step 3): a session's principal or a chatbot's key.
    std::optional<Principal> principal;
    std::optional<VerifiedKey> key;
    const std::string& org() const { return principal.value().org_id; }
    // Who is acting, for the core: the principal's organization and role (owner when the
    // session check names none), user id, client address and user agent.
    Actor actor() const;
    // Where the request came from (client address and user agent), for the audit log of
    // calls made before there is a principal (login, accepting an invitation).
    Actor origin() const;
    // The Idempotency-Key of the request, if it sent one (API.md section 14); a malformed one
    // throws Error(invalid_argument, field "Idempotency-Key").
    std::optional<IdempotentCall> idempotent_call() const;
    // 200 with an idempotent call's answer, marked Idempotent-Replayed when it is a replay.
    Response ok(IdempotentAnswer answer) const;

    ResponseShape shape() const noexcept;
    Response ok(std::string body) const;
    Response fail(HttpError e) const;
    // 429 with Retry-After.
    Response rate_limited(std::chrono::seconds wait) const;
    void set_session_cookie(Response& res, std::string_view token) const;
    // An expired ob_session: what logout answers, also when it answers 401.
    void clear_session_cookie(Response& res) const;

  private:
    Services& services_;
    const Api::Request& request_;
    const RequestContext& context_;
    const Match& match_;
    BeastRequestView view_;
    mutable std::optional<std::string> client_;  // client(), worked out on first use
};

// The key of the per-account login limit: the client's key and a digest of the email,
// ASCII-lowercased as accounts compare it (a digest: the email may be 64 KiB long).
std::string login_account_key(std::string_view client, std::string_view email);

// clang-format off
Response health(Call& call);          // GET    /healthz
Response readiness(Call& call);       // GET    /readyz
Response login(Call& call);           // POST   /api/v1/auth/login
Response logout(Call& call);          // POST   /api/v1/auth/logout
Response list_chatbots(Call& call);   // GET    /api/v1/chatbots
Response create_chatbot(Call& call);  // POST   /api/v1/chatbots
Response get_chatbot(Call& call);     // GET    /api/v1/chatbots/{id}
Response update_chatbot(Call& call);  // PATCH  /api/v1/chatbots/{id}
Response delete_chatbot(Call& call);  // DELETE /api/v1/chatbots/{id}
Response rotate_key(Call& call);      // POST   /api/v1/chatbots/{id}/rotate-key
Response get_key(Call& call);         // GET    /api/v1/chatbots/{id}/key
Response end_grace(Call& call);       // DELETE /api/v1/chatbots/{id}/previous-key
Response get_session(Call& call);          // GET    /api/v1/auth/session
Response list_members(Call& call);         // GET    /api/v1/members
Response change_member_role(Call& call);   // PATCH  /api/v1/members/{id}
Response remove_member(Call& call);        // DELETE /api/v1/members/{id}
Response list_invitations(Call& call);     // GET    /api/v1/invitations
Response invite_member(Call& call);        // POST   /api/v1/invitations
Response accept_invitation(Call& call);    // POST   /api/v1/invitations/accept
Response revoke_invitation(Call& call);    // DELETE /api/v1/invitations/{id}
Response list_audit_events(Call& call);  // GET  /api/v1/audit-events
Response capture(Call& call);         // POST   /api/v1/capture
// The answers of the reads above that the core has in memory (CachedHandler, routes.hpp).
std::optional<Response> cached_list_chatbots(Call& call);  // GET /api/v1/chatbots
std::optional<Response> cached_get_chatbot(Call& call);    // GET /api/v1/chatbots/{id}
// clang-format on

}  // namespace chatbotmgr::beast::detail
