#include "handlers.hpp"

#include <utility>

#include <boost/beast/http/field.hpp>

#include "chatbotmgr/error.hpp"
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

}  // namespace

Services::Services(std::shared_ptr<ChatbotRegistry> r, std::shared_ptr<SessionCheck> s,
                   std::shared_ptr<Accounts> a, ApiOptions o)
    : registry(std::move(r)),
      sessions(std::move(s)),
      accounts(std::move(a)),
      options(with_default_clock(std::move(o))),
      login_limiter(options.login_max_failures, options.login_window,
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

void Call::set_session_cookie(Response& res, std::string_view token) const {
    res.set(http::field::set_cookie, std::string(kSessionCookieName) + "=" + std::string(token) +
                                         services_.cookie_attributes);
}

void Call::clear_session_cookie(Response& res) const {
    res.set(http::field::set_cookie, std::string(kSessionCookieName) + "=" +
                                         services_.cookie_attributes +
                                         "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
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
    const wire::LoginRequest in = wire::decode_login(call.body());
    LoginResult result;
    try {
        result = call.accounts().login(in.email, in.password);
    } catch (const Error& e) {
        if (e.code() != ErrorCode::unauthenticated) throw;
        call.services().login_limiter.record_failure(call.context().client_address);
        return call.fail(HttpError::bad_login);
    }
    Response res = call.ok(wire::encode_login(result));
    call.set_session_cookie(res, result.token);
    return res;
}

Response logout(Call& call) {
    const auto presented = find_session_token(call.view());
    const bool ended = presented && call.accounts().logout(presented->token);
    Response res = ended ? call.ok(wire::encode_ok()) : call.fail(HttpError::unauthorized);
    call.clear_session_cookie(res);
    return res;
}

Response list_chatbots(Call& call) {
    return call.ok(wire::encode_chatbot_list(call.registry().list(call.org())));
}

Response create_chatbot(Call& call) {
    NewChatbot input = wire::decode_new_chatbot(call.body());
    return call.ok(
        wire::encode_chatbot_with_key(call.registry().create(call.org(), std::move(input))));
}

Response get_chatbot(Call& call) {
    return call.ok(wire::encode_chatbot(call.registry().get(call.org(), call.chatbot_id())));
}

Response update_chatbot(Call& call) {
    ChatbotPatch patch = wire::decode_chatbot_patch(call.body());
    return call.ok(wire::encode_chatbot(
        call.registry().update(call.org(), call.chatbot_id(), std::move(patch))));
}

Response delete_chatbot(Call& call) {
    call.registry().remove(call.org(), call.chatbot_id());
    return call.ok(wire::encode_ok());
}

Response rotate_key(Call& call) {
    return call.ok(
        wire::encode_chatbot_with_key(call.registry().rotate_key(call.org(), call.chatbot_id())));
}

Response capture(Call& call) {
    wire::CaptureRequest in = wire::decode_capture(call.body());
    const CaptureResult result = call.registry().capture(call.key.value(), std::move(in.batch));
    return call.ok(wire::encode_capture(result, in.warnings));
}

}  // namespace chatbotmgr::beast::detail
