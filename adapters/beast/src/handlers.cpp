#include "handlers.hpp"

#include <utility>

#include <boost/beast/http/field.hpp>

#include "chatbotmgr/audit.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/secrets.hpp"
#include "routes.hpp"
#include "wire.hpp"

namespace chatbotmgr::beast::detail {

namespace http = boost::beast::http;

namespace {

// "https://Bots.Example.com/" -> "https://bots.example.com"; empty stays empty (not known
// yet). Throws Error(invalid_argument, "public_origin") for anything but an origin.
std::string normalize_origin(std::string origin) {
    while (!origin.empty() && origin.back() == '/') origin.pop_back();
    for (char& c : origin)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (origin.empty()) return origin;
    const std::size_t host = origin.starts_with("https://")  ? 8
                             : origin.starts_with("http://") ? 7
                                                             : 0;
    const bool ok = host > 0 && origin.size() > host &&
                    origin.find_first_of("/?#@ \t\r\n", host) == std::string::npos;
    if (!ok)
        throw Error(ErrorCode::invalid_argument,
                    "public_origin must be an origin such as https://bots.example.com",
                    "public_origin");
    return origin;
}

ApiOptions with_default_clock(ApiOptions o) {
    if (!o.clock) o.clock = system_clock();
    return o;
}

JsonLimits json_limits_of(const ApiOptions& o) {
    JsonLimits limits;
    limits.max_parsed_bytes = o.max_parsed_json_bytes;
    return limits;
}

}  // namespace

Services::Services(std::shared_ptr<ChatbotRegistry> r, std::shared_ptr<SessionCheck> s,
                   std::shared_ptr<Accounts> a, ApiOptions o)
    : registry(std::move(r)),
      sessions(std::move(s)),
      accounts(std::move(a)),
      options(with_default_clock(std::move(o))),
      trusted_proxies(options.trusted_proxies),
      json_limits(json_limits_of(options)),
      login_limiter(options.login_max_failures, options.login_window,
                    options.rate_limit_max_clients, options.clock),
      login_address_limiter(options.login_max_failures_per_address, options.login_window,
                            options.rate_limit_max_clients, options.clock),
      auth_limiter(options.auth_max_failures, options.auth_window, options.rate_limit_max_clients,
                   options.clock) {
    set_public_origin(std::move(options.public_origin));
}

void Services::set_public_origin(std::string origin) {
    options.public_origin = normalize_origin(std::move(origin));
    cookie_attributes = options.public_origin.starts_with("https://")
                            ? "; Path=/; HttpOnly; SameSite=Lax; Secure"
                            : "; Path=/; HttpOnly; SameSite=Lax";
}

std::string_view BeastRequestView::header(std::string_view name) const noexcept {
    const auto it = req_.find(name);
    return it == req_.end() ? std::string_view() : std::string_view(it->value());
}

Call::Call(Services& services, const Api::Request& request, const RequestContext& context,
           const Match& match)
    : services_(services), request_(request), context_(context), match_(match), view_(request) {}

const std::string& Call::client() const {
    if (!client_)
        client_ = address_group(client_address(services_.trusted_proxies,
                                               services_.options.forwarded_header,
                                               context_.client_address, request_));
    return *client_;
}

std::string login_account_key(std::string_view client, std::string_view email) {
    std::string lower(email);
    for (char& c : lower)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    const Digest digest = sha256(lower);
    std::string key(client);
    key += '\n';  // never part of an address
    key.append(reinterpret_cast<const char*>(digest.data()), digest.size());
    return key;
}

ResponseShape Call::shape() const noexcept {
    // An unread body leaves the connection unusable for a next request.
    return {request_.version(), request_.keep_alive() && !context_.body_over_limit};
}

Response Call::ok(std::string body) const {
    return json_response(http::status::ok, std::move(body), shape());
}

Response Call::fail(HttpError e) const {
    return error_response(e, shape());
}

Response Call::rate_limited(std::chrono::seconds wait) const {
    Response res = fail(HttpError::rate_limited);
    set_retry_after(res, wait);
    return res;
}

void Call::set_session_cookie(Response& res, std::string_view token) const {
    res.set(http::field::set_cookie, std::string(kSessionCookieName) + "=" + std::string(token) +
                                         services_.cookie_attributes);
}

void Call::clear_session_cookie(Response& res) const {
    res.set(http::field::set_cookie, std::string(kSessionCookieName) + "=" +
                                         services_.cookie_attributes +
                                         "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
}

Actor Call::actor() const {
    const Principal& p = principal.value();
    Actor actor(p.org_id);
    actor.user_id = p.subject;
    actor.email = p.email;
    actor.role = p.role.value_or(Role::owner);
    actor.client_address = client();
    actor.user_agent = std::string(request_[http::field::user_agent]);
    return actor;
}

Actor Call::origin() const {
    Actor actor;
    actor.client_address = client();
    actor.user_agent = std::string(request_[http::field::user_agent]);
    return actor;
}

std::optional<IdempotentCall> Call::idempotent_call() const {
    const auto it = request_.find("Idempotency-Key");
    if (it == request_.end()) return std::nullopt;
    // First of all (API.md section 18), whatever the body.
    if (!is_idempotency_key(it->value()))
        throw Error(ErrorCode::invalid_argument,
                    "Idempotency-Key must be 1 to 255 visible ASCII characters", "Idempotency-Key");
    // The scope is the method and the path: a query string is no part of it.
    const std::string_view target(request_.target().data(), request_.target().size());
    std::string operation(request_.method_string());
    operation += ' ';
    operation += target_path(target);
    return IdempotentCall{std::string(it->value()), std::move(operation), request_.body()};
}

Response Call::ok(IdempotentAnswer answer) const {
    Response res = ok(std::move(answer.body));
    if (answer.replayed) res.set("Idempotent-Replayed", "true");
    return res;
}

// ---- The handlers: decode, call the core, encode.

Response health(Call& call) {
    return call.ok(wire::encode_ok());
}

Response readiness(Call& call) {
    call.registry().store().ping();
    return call.ok(wire::encode_ok());
}

Response login(Call& call) {
    const wire::LoginRequest in = wire::decode_login(call.body(), call.json_limits());
    Services& services = call.services();
    // The per-client limit was checked before the body (step 3); the per-account one needs
    // the email. Both before any password work.
    const std::string account = login_account_key(call.client(), in.email);
    if (auto wait = services.login_limiter.blocked(account)) return call.rate_limited(*wait);
    LoginResult result;
    try {
        result = call.accounts().login(in.email, in.password, call.origin());
    } catch (const Error& e) {
        if (e.code() != ErrorCode::unauthenticated) throw;
        services.login_limiter.record_failure(account);
        services.login_address_limiter.record_failure(call.client());
        return call.fail(HttpError::bad_login);
    }
    Response res = call.ok(wire::encode_login(result));
    call.set_session_cookie(res, result.token);
    return res;
}

Response logout(Call& call) {
    const auto presented = find_session_token(call.view());
    const bool ended = presented && call.accounts().logout(presented->token, call.origin());
    Response res = ended ? call.ok(wire::encode_ok()) : call.fail(HttpError::unauthorized);
    call.clear_session_cookie(res);
    return res;
}

namespace {

std::string_view target_of(const Call& call) noexcept {
    return {call.request().target().data(), call.request().target().size()};
}

// The page query of a list request (API.md section 15); nullopt: the whole list (v1).
std::optional<PageRequest> page_request(const Call& call, std::string_view list,
                                        const Actor& actor) {
    return wire::decode_page_query(target_of(call), list, actor.org_id, kMaxPageSize, kMaxPageSize);
}

// One page, with the Link to the next.
template <class T, class Encode>
Response page_answer(const Call& call, std::string_view list, const Actor& actor,
                     const PageRequest& request, const Page<T>& page, Encode&& encode) {
    Response res = call.ok(encode(page.items));
    if (page.next)
        res.set(http::field::link, wire::next_page_link(target_path(target_of(call)), list,
                                                        actor.org_id, request.limit, *page.next));
    return res;
}

// A list answer: the whole list (v1) or, with ?limit / ?cursor, one page and the Link to the
// next (API.md section 15). The body is a plain array either way.
template <class Whole, class Paged, class Encode>
Response list_answer(Call& call, std::string_view list, Whole&& whole, Paged&& paged,
                     Encode&& encode) {
    const Actor actor = call.actor();
    const auto request = page_request(call, list, actor);
    if (!request) return call.ok(encode(whole(actor)));
    return page_answer(call, list, actor, *request, paged(actor, *request), encode);
}

}  // namespace

Response list_chatbots(Call& call) {
    return list_answer(
        call, "chatbots", [&](const Actor& a) { return call.registry().list(a); },
        [&](const Actor& a, const PageRequest& p) { return call.registry().list(a, p); },
        wire::encode_chatbot_list);
}

namespace {

// API.md section 18: a retry is answered from its record (409, replay or 422) whatever its
// body. The body is decoded first, and only a body that fails to decode looks for a record:
// the same answers, without a read before every fresh call (a retry's own run finds its
// record when the store refuses to record it twice, lib/idempotency.hpp). The decoded body,
// or nullopt with *earlier set to the answer to give.
template <class Decode, class Earlier>
auto decode_retry(const std::optional<IdempotentCall>& retry, Decode&& decode,
                  Earlier&& earlier_answer, std::optional<IdempotentAnswer>& earlier)
    -> std::optional<decltype(decode())> {
    try {
        return decode();
    } catch (const Error&) {
        if (retry) earlier = earlier_answer(*retry);
        if (!earlier) throw;
        return std::nullopt;
    }
}

}  // namespace

Response create_chatbot(Call& call) {
    const auto retry = call.idempotent_call();
    std::optional<IdempotentAnswer> earlier;
    auto in = decode_retry(
        retry, [&] { return wire::decode_new_chatbot(call.body(), call.json_limits()); },
        [&](const IdempotentCall& c) { return call.registry().earlier_answer(call.actor(), c); },
        earlier);
    if (!in) return call.ok(std::move(*earlier));
    if (retry)
        return call.ok(call.registry().create(call.actor(), std::move(in->chatbot),
                                              in->key_expires_at, *retry,
                                              wire::encode_chatbot_with_key));
    return call.ok(wire::encode_chatbot_with_key(
        call.registry().create(call.actor(), std::move(in->chatbot), in->key_expires_at)));
}

Response get_chatbot(Call& call) {
    return call.ok(wire::encode_chatbot(call.registry().get(call.actor(), call.path_id())));
}

std::optional<Response> cached_list_chatbots(Call& call) {
    const Actor actor = call.actor();
    const auto request = page_request(call, "chatbots", actor);
    if (!request) {
        const auto all = call.registry().cached_list(actor);
        if (!all) return std::nullopt;
        return call.ok(wire::encode_chatbot_list(*all));
    }
    const auto page = call.registry().cached_list(actor, *request);
    if (!page) return std::nullopt;
    return page_answer(call, "chatbots", actor, *request, *page, wire::encode_chatbot_list);
}

std::optional<Response> cached_get_chatbot(Call& call) {
    const auto chatbot = call.registry().cached_get(call.actor(), call.path_id());
    if (!chatbot) return std::nullopt;
    return call.ok(wire::encode_chatbot(*chatbot));
}

Response update_chatbot(Call& call) {
    ChatbotPatch patch = wire::decode_chatbot_patch(call.body(), call.json_limits());
    return call.ok(wire::encode_chatbot(
        call.registry().update(call.actor(), call.path_id(), std::move(patch))));
}

Response delete_chatbot(Call& call) {
    call.registry().remove(call.actor(), call.path_id());
    return call.ok(wire::encode_ok());
}

Response rotate_key(Call& call) {
    const auto retry = call.idempotent_call();
    std::optional<IdempotentAnswer> earlier;
    const auto options = decode_retry(
        retry, [&] { return wire::decode_rotate(call.body(), call.json_limits()); },
        [&](const IdempotentCall& c) { return call.registry().earlier_answer(call.actor(), c); },
        earlier);
    if (!options) return call.ok(std::move(*earlier));
    if (retry)
        return call.ok(call.registry().rotate_key(call.actor(), call.path_id(), *options, *retry,
                                                  wire::encode_chatbot_with_key));
    return call.ok(wire::encode_chatbot_with_key(
        call.registry().rotate_key(call.actor(), call.path_id(), *options)));
}

Response get_key(Call& call) {
    return call.ok(wire::encode_keys(call.registry().keys(call.actor(), call.path_id())));
}

Response end_grace(Call& call) {
    return call.ok(
        wire::encode_grace_ended(call.registry().end_grace(call.actor(), call.path_id())));
}

Response capture(Call& call) {
    wire::CaptureRequest in = wire::decode_capture(call.body(), call.json_limits());
    const CaptureResult result = call.registry().capture(call.key.value(), std::move(in.batch));
    return call.ok(wire::encode_capture(result, in.warnings));
}

// ---- Teams (API.md section 10): the core checks every rule; these only translate.

Response get_session(Call& call) {
    const Actor actor = call.actor();
    auto user = call.accounts().store().find_user(actor.org_id, actor.user_id);
    auto org = call.accounts().store().find_organization(actor.org_id);
    if (!user || !org) return call.fail(HttpError::unauthorized);  // removed meanwhile
    return call.ok(wire::encode_session(*user, *org));
}

Response list_members(Call& call) {
    return list_answer(
        call, "members", [&](const Actor& a) { return call.accounts().list_members(a); },
        [&](const Actor& a, const PageRequest& p) { return call.accounts().list_members(a, p); },
        wire::encode_member_list);
}

Response change_member_role(Call& call) {
    const Role role = wire::decode_role_change(call.body(), call.json_limits());
    return call.ok(
        wire::encode_member(call.accounts().change_role(call.actor(), call.path_id(), role)));
}

Response remove_member(Call& call) {
    call.accounts().remove_member(call.actor(), call.path_id());
    return call.ok(wire::encode_ok());
}

Response list_invitations(Call& call) {
    return call.ok(wire::encode_invitation_list(call.accounts().list_invitations(call.actor())));
}

Response invite_member(Call& call) {
    const auto retry = call.idempotent_call();
    std::optional<IdempotentAnswer> earlier;
    const auto in = decode_retry(
        retry, [&] { return wire::decode_invitation(call.body(), call.json_limits()); },
        [&](const IdempotentCall& c) { return call.accounts().earlier_answer(call.actor(), c); },
        earlier);
    if (!in) return call.ok(std::move(*earlier));
    if (retry)
        return call.ok(call.accounts().invite(call.actor(), in->email, in->role, *retry,
                                              wire::encode_invitation_with_token));
    return call.ok(wire::encode_invitation_with_token(
        call.accounts().invite(call.actor(), in->email, in->role)));
}

Response accept_invitation(Call& call) {
    const wire::AcceptRequest in = wire::decode_accept(call.body(), call.json_limits());
    LoginResult result;
    try {
        result = call.accounts().accept_invitation(in.token, in.password, call.origin());
    } catch (const Error& e) {
        // A refused token counts like a failed login: guessing tokens is rate-limited too.
        if (e.code() == ErrorCode::unauthenticated)
            call.services().login_address_limiter.record_failure(call.client());
        throw;
    }
    Response res = call.ok(wire::encode_login(result));
    call.set_session_cookie(res, result.token);
    return res;
}

Response list_audit_events(Call& call) {
    // Always paged (API.md section 15): 50 by default, at most 200.
    const Actor actor = call.actor();
    const std::string_view target(call.request().target().data(), call.request().target().size());
    const AuditQuery query = wire::decode_audit_query(target);
    const PageRequest request = wire::decode_page_query(target, "audit-events", actor.org_id,
                                                        kDefaultAuditPageSize, kMaxAuditPageSize)
                                    .value_or(PageRequest{std::nullopt, kDefaultAuditPageSize});
    auto page = call.services().options.audit_log->list(actor, query, request);
    Response res = call.ok(wire::encode_audit_events(page.items));
    if (page.next)
        res.set(http::field::link,
                wire::next_page_link(target_path(target), "audit-events", actor.org_id,
                                     request.limit, *page.next, wire::audit_filter_query(target)));
    return res;
}

Response revoke_invitation(Call& call) {
    call.accounts().revoke_invitation(call.actor(), call.path_id());
    return call.ok(wire::encode_ok());
}

}  // namespace chatbotmgr::beast::detail
