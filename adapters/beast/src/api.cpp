#include "chatbotmgr/beast/api.hpp"

#include <algorithm>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/capture.hpp"
#include "chatbotmgr/chatbot.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/secrets.hpp"
#include "rate_limiter.hpp"
#include "responses.hpp"
#include "routes.hpp"
#include "stderr_log.hpp"
#include "text.hpp"

namespace chatbotmgr::beast {

namespace http = boost::beast::http;
using detail::HttpError;
using detail::RouteId;
using Request = Api::Request;
using Response = Api::Response;

namespace {

class BeastRequestView final : public RequestView {
  public:
    explicit BeastRequestView(const Request& req) : req_(req) {}
    std::string_view method() const noexcept override { return req_.method_string(); }
    std::string_view target() const noexcept override { return req_.target(); }
    std::string_view header(std::string_view name) const noexcept override {
        auto it = req_.find(name);
        return it == req_.end() ? std::string_view() : std::string_view(it->value());
    }

  private:
    const Request& req_;
};

// "application/json", with any parameters ("; charset=utf-8").
bool is_json_media_type(std::string_view content_type) noexcept {
    return boost::beast::iequals(detail::trim_ows(content_type.substr(0, content_type.find(';'))),
                                 "application/json");
}

// The Content-Length the client declared; nullopt when absent or unreadable (the HTTP
// parser has already rejected those on a socket).
std::optional<std::uint64_t> declared_length(const Request& req) noexcept {
    auto it = req.find(http::field::content_length);
    if (it == req.end()) return std::nullopt;
    std::string_view v = it->value();
    if (v.empty() || v.size() > 19) return std::nullopt;
    std::uint64_t n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
}

bool changes_state(http::verb method) noexcept {
    return method == http::verb::post || method == http::verb::patch ||
           method == http::verb::delete_;
}

// Same wording as the core's validators: names the field unless it looks like a secret.
[[noreturn]] void throw_unknown_field(std::string_view key) {
    if (looks_like_secret(key)) throw Error(ErrorCode::invalid_argument, "unknown field");
    constexpr std::size_t kMaxEcho = 64;
    std::size_t n = std::min(key.size(), kMaxEcho);
    // Never cut a UTF-8 sequence in half (the key is valid UTF-8: it came from the parser).
    while (n < key.size() && n > 0 && (static_cast<unsigned char>(key[n]) & 0xC0) == 0x80) --n;
    std::string message = "unknown field ";
    append_json_string(message, key.substr(0, n));
    throw Error(ErrorCode::invalid_argument, std::move(message), std::string(key.substr(0, n)));
}

boost::json::object parse_object(std::string_view body) {
    boost::json::value v = parse_json_strict(body);
    if (!v.is_object())
        throw Error(ErrorCode::invalid_argument, "request body must be a JSON object");
    return std::move(v.get_object());
}

// Rotate-key, delete and logout take no body: empty or {}.
void expect_no_body(const Request& req) {
    if (req.body().empty()) return;
    boost::json::object o = parse_object(req.body());
    if (!o.empty()) throw_unknown_field(o.begin()->key());
}

std::string chatbot_json(const Chatbot& c) {
    std::string out;
    out.reserve(160 + c.name.size() + c.settings_json.size());
    append_chatbot_json(out, c);
    return out;
}

std::string chatbot_with_key_json(const ChatbotWithKey& c) {
    std::string out;
    out.reserve(220 + c.chatbot.name.size() + c.chatbot.settings_json.size());
    out += R"({"ok":true,"chatbot":)";
    append_chatbot_json(out, c.chatbot);
    out += R"(,"apiKey":)";
    append_json_string(out, c.api_key);
    out += '}';
    return out;
}

}  // namespace

struct Api::Impl {
    std::shared_ptr<ChatbotRegistry> registry;
    std::shared_ptr<SessionCheck> sessions;
    std::shared_ptr<Accounts> accounts;
    ApiOptions options;
    detail::RouteTable table;
    std::string origin;
    std::string set_cookie_suffix;  // "; Path=/; HttpOnly; SameSite=Lax[; Secure]"
    detail::FailureLimiter login_limiter;
    detail::FailureLimiter auth_limiter;
    boost::asio::thread_pool pool;        // reads and logins
    boost::asio::thread_pool write_pool;  // writes: they block on a commit, not on CPU
    std::shared_mutex stop_mutex;
    bool stopped = false;

    Impl(std::shared_ptr<ChatbotRegistry> r, std::shared_ptr<SessionCheck> s, ApiOptions o,
         std::shared_ptr<Accounts> a)
        : registry(std::move(r)),
          sessions(std::move(s)),
          accounts(std::move(a)),
          options(with_defaults(std::move(o))),
          table{options.health_routes, accounts != nullptr},
          origin(normalize_origin(options.public_origin)),
          set_cookie_suffix(origin.rfind("https://", 0) == 0
                                ? "; Path=/; HttpOnly; SameSite=Lax; Secure"
                                : "; Path=/; HttpOnly; SameSite=Lax"),
          login_limiter(options.login_max_failures, options.login_window,
                        options.rate_limit_max_clients, options.clock),
          auth_limiter(options.auth_max_failures, options.auth_window,
                       options.rate_limit_max_clients, options.clock),
          pool(std::max<std::size_t>(options.blocking_threads, 1)),
          write_pool(std::max<std::size_t>(options.write_threads, 1)) {}

    static ApiOptions with_defaults(ApiOptions o) {
        if (!o.clock) o.clock = system_clock();
        return o;
    }
    static std::string normalize_origin(std::string o) {
        while (!o.empty() && o.back() == '/') o.pop_back();
        for (char& c : o)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        return o;
    }

    static bool keep_alive(const Request& req, const RequestContext& ctx) {
        // An unread body leaves the connection unusable for a next request.
        return req.keep_alive() && !ctx.body_over_limit;
    }

    Response error(HttpError e, const Request& req, const RequestContext& ctx,
                   std::string_view message = {}) const {
        return detail::error_response(e, req.version(), keep_alive(req, ctx), message);
    }

    Response ok(std::string body, const Request& req, const RequestContext& ctx) const {
        return detail::json_response(http::status::ok, std::move(body), req.version(),
                                     keep_alive(req, ctx));
    }

    // Route (404), method (405) and the routes that need no storage. nullopt: the rest
    // of the work may block and goes to the pool.
    std::optional<Response> precheck(const Request& req, const RequestContext& ctx,
                                     const detail::RouteMatch& route) const {
        switch (route.id) {
            case RouteId::none:
                return error(HttpError::not_found, req, ctx);
            case RouteId::bad_id:
                return error(HttpError::chatbot_not_found, req, ctx);
            default:
                break;
        }
        if (!detail::method_allowed(route.id, req.method())) {
            Response res = error(HttpError::method_not_allowed, req, ctx);
            res.set(http::field::allow, detail::allowed_methods(route.id));
            return res;
        }
        if (route.id == RouteId::healthz) return ok(R"({"ok":true})", req, ctx);
        return std::nullopt;
    }

    // Size (413) and media type (415) of the body.
    std::optional<Response> check_body(const Request& req, const RequestContext& ctx,
                                       std::uint64_t limit) const {
        const auto declared = declared_length(req);
        if (ctx.body_over_limit || req.body().size() > limit || (declared && *declared > limit))
            return error(HttpError::payload_too_large, req, ctx);
        const bool has_body = !req.body().empty() || (declared && *declared > 0) || req.chunked();
        if (has_body && !is_json_media_type(req[http::field::content_type]))
            return error(HttpError::unsupported_media_type, req, ctx);
        return std::nullopt;
    }

    // A failed credential check: 401, or 429 once the client has failed too often.
    Response auth_failure(const Request& req, const RequestContext& ctx, bool counted,
                          bool clear_cookie) {
        if (counted) {
            if (auto wait = auth_limiter.blocked(ctx.client_address)) {
                Response res = error(HttpError::rate_limited, req, ctx);
                detail::set_retry_after(res, *wait);
                return res;
            }
            auth_limiter.record_failure(ctx.client_address);
        }
        Response res = error(HttpError::unauthorized, req, ctx);
        if (clear_cookie) add_clearing_cookie(res);
        return res;
    }

    void add_clearing_cookie(Response& res) const {
        std::string cookie(kSessionCookieName);
        cookie += '=';
        cookie += set_cookie_suffix;
        cookie += "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT";
        res.set(http::field::set_cookie, cookie);
    }

    Response process(const Request& req, const RequestContext& ctx) {
        const auto route = detail::match_route(table, detail::target_path(req.target()));
        try {
            switch (route.id) {
                case RouteId::readyz:
                    registry->store().ping();
                    return ok(R"({"ok":true})", req, ctx);
                case RouteId::login:
                    return login(req, ctx);
                case RouteId::capture:
                    return capture(req, ctx);
                case RouteId::chatbots:
                case RouteId::chatbot:
                case RouteId::rotate_key:
                case RouteId::logout:
                    return session_route(req, ctx, route);
                case RouteId::none:
                case RouteId::bad_id:
                case RouteId::healthz:
                    break;
            }
            // precheck() answers these before anything reaches the pool.
            throw Error(ErrorCode::internal, "route reached the pool unexpectedly");
        } catch (const Error& e) {
            const HttpError he = detail::map_error_code(e.code());
            if (he == HttpError::internal) log_internal(route.id, e.what());
            // Only invalid_argument messages are meant for the client: they name the
            // field and never hold a secret. Every other code gets a fixed message.
            Response res = error(
                he, req, ctx,
                he == HttpError::invalid_request ? std::string_view(e.what()) : std::string_view());
            if (he == HttpError::unavailable)
                detail::set_retry_after(res, options.unavailable_retry_after);
            return res;
        } catch (const std::exception& e) {
            log_internal(route.id, e.what());
            return error(HttpError::internal, req, ctx);
        } catch (...) {
            log_internal(route.id, "unknown exception");
            return error(HttpError::internal, req, ctx);
        }
    }

    static void log_internal(RouteId route, std::string_view what) {
        std::string line = "chatbotmgr: internal error on route ";
        line += detail::route_name(route);
        line += ": ";
        line += what;
        detail::write_stderr_line(line);
    }

    Response session_route(const Request& req, const RequestContext& ctx,
                           const detail::RouteMatch& route) {
        BeastRequestView view(req);
        std::optional<Principal> principal = sessions->check(view);
        if (!principal)
            return auth_failure(req, ctx, sessions->has_credential(view),
                                route.id == RouteId::logout);
        if (principal->csrf_applies && changes_state(req.method()) &&
            req[http::field::origin] != origin)
            return error(HttpError::csrf_rejected, req, ctx);
        if (auto r = check_body(req, ctx, options.max_body_bytes)) return std::move(*r);

        const std::string& org = principal->org_id;
        switch (route.id) {
            case RouteId::chatbots: {
                if (req.method() == http::verb::get) {
                    std::vector<Chatbot> bots = registry->list(org);
                    std::string out;
                    std::size_t estimate = 2;
                    for (const auto& b : bots)
                        estimate += 160 + b.name.size() + b.settings_json.size();
                    out.reserve(estimate);
                    out += '[';
                    for (std::size_t i = 0; i < bots.size(); ++i) {
                        if (i) out += ',';
                        append_chatbot_json(out, bots[i]);
                    }
                    out += ']';
                    return ok(std::move(out), req, ctx);
                }
                NewChatbot input = new_chatbot_from_json(parse_json_strict(req.body()));
                return ok(chatbot_with_key_json(registry->create(org, std::move(input))), req, ctx);
            }
            case RouteId::chatbot: {
                if (req.method() == http::verb::get)
                    return ok(chatbot_json(registry->get(org, route.chatbot_id)), req, ctx);
                if (req.method() == http::verb::patch) {
                    ChatbotPatch patch = chatbot_patch_from_json(parse_json_strict(req.body()));
                    return ok(
                        chatbot_json(registry->update(org, route.chatbot_id, std::move(patch))),
                        req, ctx);
                }
                expect_no_body(req);
                registry->remove(org, route.chatbot_id);
                return ok(R"({"ok":true})", req, ctx);
            }
            case RouteId::rotate_key:
                expect_no_body(req);
                return ok(chatbot_with_key_json(registry->rotate_key(org, route.chatbot_id)), req,
                          ctx);
            case RouteId::logout: {
                expect_no_body(req);
                auto presented = find_session_token(view);
                if (!presented || !accounts->logout(presented->token))
                    return auth_failure(req, ctx, false, true);
                Response res = ok(R"({"ok":true})", req, ctx);
                add_clearing_cookie(res);
                return res;
            }
            default:
                break;
        }
        throw Error(ErrorCode::internal, "unexpected session route");
    }

    Response login(const Request& req, const RequestContext& ctx) {
        // Checked before any password work, so a refused client costs no Argon2id.
        if (auto wait = login_limiter.blocked(ctx.client_address)) {
            Response res = error(HttpError::rate_limited, req, ctx);
            detail::set_retry_after(res, *wait);
            return res;
        }
        if (auto r = check_body(req, ctx, options.max_body_bytes)) return std::move(*r);
        boost::json::object body = parse_object(req.body());
        const boost::json::string* email = nullptr;
        const boost::json::string* password = nullptr;
        for (const auto& member : body) {
            if (member.key() == "email") {
                if (!member.value().is_string())
                    throw Error(ErrorCode::invalid_argument, "email must be a string", "email");
                email = &member.value().get_string();
            } else if (member.key() == "password") {
                if (!member.value().is_string())
                    throw Error(ErrorCode::invalid_argument, "password must be a string",
                                "password");
                password = &member.value().get_string();
            } else {
                throw_unknown_field(member.key());
            }
        }
        if (!email) throw Error(ErrorCode::invalid_argument, "email is required", "email");
        if (!password) throw Error(ErrorCode::invalid_argument, "password is required", "password");

        LoginResult result;
        try {
            result = accounts->login(*email, *password);
        } catch (const Error& e) {
            if (e.code() != ErrorCode::unauthenticated) throw;
            login_limiter.record_failure(ctx.client_address);
            return error(HttpError::bad_login, req, ctx);
        }
        std::string out;
        out.reserve(256);
        out += R"({"ok":true,"token":)";
        append_json_string(out, result.token);
        out += R"(,"user":{"id":)";
        append_json_string(out, result.user.id);
        out += R"(,"email":)";
        append_json_string(out, result.user.email);
        out += R"(},"organization":{"id":)";
        append_json_string(out, result.organization.id);
        out += R"(,"name":)";
        append_json_string(out, result.organization.name);
        out += "}}";
        Response res = ok(std::move(out), req, ctx);
        std::string cookie(kSessionCookieName);
        cookie += '=';
        cookie += result.token;
        cookie += set_cookie_suffix;
        res.set(http::field::set_cookie, cookie);
        return res;
    }

    Response capture(const Request& req, const RequestContext& ctx) {
        const std::string_view authorization = req[http::field::authorization];
        if (authorization.empty()) return auth_failure(req, ctx, false, false);
        std::optional<Chatbot> bot;
        // Only an API key is a capture credential; a session token here is a failure.
        if (auto token = bearer_token(authorization); token && is_api_key_format(*token)) {
            try {
                bot = registry->authenticate(*token);
            } catch (const Error& e) {
                if (e.code() != ErrorCode::unauthenticated) throw;
            }
        }
        if (!bot) return auth_failure(req, ctx, true, false);
        if (auto r = check_body(req, ctx, options.max_capture_body_bytes)) return std::move(*r);

        ParsedCapture parsed = capture_from_json(parse_json_strict(req.body()));
        CaptureResult result = registry->capture(*bot, parsed.batch);

        std::string out;
        out.reserve(128 + 32 * parsed.warnings.size());
        out += R"({"ok":true,"conversationId":)";
        append_json_string(out, result.conversation_id);
        out += R"(,"messagesStored":)";
        out += std::to_string(result.messages_stored);
        out += R"(,"analysisQueued":false,"warnings":[)";
        for (std::size_t i = 0; i < parsed.warnings.size(); ++i) {
            if (i) out += ',';
            append_json_string(out, parsed.warnings[i]);
        }
        out += "]}";
        return ok(std::move(out), req, ctx);
    }
};

Api::Api(std::shared_ptr<ChatbotRegistry> registry, std::shared_ptr<SessionCheck> sessions,
         ApiOptions options, std::shared_ptr<Accounts> accounts)
    : impl_(std::make_unique<Impl>(std::move(registry), std::move(sessions), std::move(options),
                                   std::move(accounts))) {
    if (!impl_->registry) throw std::invalid_argument("chatbotmgr::beast::Api: registry is null");
    if (!impl_->sessions)
        throw std::invalid_argument("chatbotmgr::beast::Api: session check is null");
}

Api::~Api() {
    stop();
}

bool Api::handles(std::string_view target) const noexcept {
    return detail::owns_path(impl_->table, detail::target_path(target));
}

std::uint64_t Api::body_limit(std::string_view target) const noexcept {
    return detail::target_path(target) == "/api/v1/capture" ? impl_->options.max_capture_body_bytes
                                                            : impl_->options.max_body_bytes;
}

void Api::handle(Request request, RequestContext context, std::function<void(Response)> done) {
    Impl& impl = *impl_;
    const auto route = detail::match_route(impl.table, detail::target_path(request.target()));
    if (auto early = impl.precheck(request, context, route)) {
        done(std::move(*early));
        return;
    }
    std::shared_lock lock(impl.stop_mutex);
    if (impl.stopped) {
        lock.unlock();
        Response res = impl.error(HttpError::overloaded, request, context);
        detail::set_retry_after(res, std::chrono::seconds(1));
        done(std::move(res));
        return;
    }
    // Logins stay on the small pool: it bounds the Argon2id memory.
    const bool is_write = request.method() != http::verb::get &&
                          request.method() != http::verb::head && route.id != RouteId::login;
    auto& pool = is_write ? impl.write_pool : impl.pool;
    boost::asio::post(pool, [&impl, req = std::move(request), ctx = std::move(context),
                             done = std::move(done)]() mutable {
        try {
            done(impl.process(req, ctx));
        } catch (const std::exception& e) {
            // process() answers every failure itself; only done() gets here.
            Impl::log_internal(RouteId::none, e.what());
        }
    });
}

Api::Response Api::handle_sync(Request request, RequestContext context) {
    const auto route = detail::match_route(impl_->table, detail::target_path(request.target()));
    if (auto early = impl_->precheck(request, context, route)) return std::move(*early);
    return impl_->process(request, context);
}

void Api::stop() {
    {
        std::unique_lock lock(impl_->stop_mutex);
        if (impl_->stopped) return;
        impl_->stopped = true;
    }
    // Without stop() first, join() waits until the queued work has run.
    impl_->pool.join();
    impl_->write_pool.join();
}

const ApiOptions& Api::options() const noexcept {
    return impl_->options;
}

}  // namespace chatbotmgr::beast
