// The Api: the order in which a request is checked and answered (API.md section 8), the
// thread pools the blocking part runs on, and the Api's lifetime.
//
// What each route does is in the route table (routes.cpp) and its handlers (handlers.cpp);
// the JSON of every body and answer in wire.cpp; the errors in responses.cpp.
#include "chatbotmgr/beast/api.hpp"

#include <atomic>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <system_error>
#include <thread>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/secrets.hpp"
#include "handlers.hpp"
#include "routes.hpp"
#include "stderr_log.hpp"
#include "text.hpp"
#include "wire.hpp"

namespace chatbotmgr::beast {

namespace http = boost::beast::http;
using detail::Call;
using detail::Credential;
using detail::Endpoint;
using detail::HttpError;
using detail::Match;
using Request = Api::Request;
using Response = Api::Response;

namespace {

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

void log_internal(std::string_view route, std::string_view what) {
    std::string line = "chatbotmgr: internal error on route ";
    line += route;
    line += ": ";
    line += what;
    detail::write_stderr_line(line);
}

// An answer to HEAD is the answer to GET without its body: same status and headers,
// Content-Length included (RFC 9110 section 9.3.2).
Response finish(const Request& req, Response res) {
    if (req.method() == http::verb::head) res.body().clear();
    return res;
}

}  // namespace

// The Api's state. Jobs on the pools refer to it by address; ~Api keeps it alive until
// every job has run, also when ~Api itself runs on a pool thread (see ~Api).
struct Api::Impl {
    detail::Services services;  // first: it validates the options before a thread starts
    detail::RouteSet routes;
    boost::asio::thread_pool reads;   // reads, session checks and logins
    boost::asio::thread_pool writes;  // writes: they block on a commit, not on CPU
    std::shared_mutex stop_mutex;
    bool stopped = false;
    std::once_flag joined;
    std::atomic<bool> serving{false};

    Impl(std::shared_ptr<ChatbotRegistry> registry, std::shared_ptr<SessionCheck> sessions,
         ApiOptions options, std::shared_ptr<Accounts> accounts)
        : services(std::move(registry), std::move(sessions), std::move(accounts),
                   std::move(options)),
          routes{services.options.health_routes, services.accounts != nullptr},
          reads(std::max<std::size_t>(services.options.blocking_threads, 1)),
          writes(std::max<std::size_t>(services.options.write_threads, 1)) {}

    // ---- The order of checks (API.md section 8), in one place:
    //
    //   1 route        404            path -> route (match_request, once per request)
    //   2 method       405 + Allow    route -> endpoint; HEAD is served by GET
    //                                 -- then, on the endpoint's pool (inline when it
    //                                    needs no storage) --
    //   3 credentials  401, 429       session check, API key or login rate limit
    //   4 CSRF         403            cookie session + POST/PATCH/DELETE: Origin
    //   5 body         413, 415       size, then media type (only if there is a body)
    //   6 JSON         400            a route that takes no body: empty or {}; else
    //   7 fields       400              the handler decodes (wire.cpp), the core validates
    //   8 handler      404 (id), 200  the registry or accounts call
    //   errors         chatbotmgr::Error -> the error table (responses.cpp)
    Response answer(const Request& req, const RequestContext& ctx, const Match& match) {
        Call call(services, req, ctx, match);
        return finish(req, match.endpoint ? serve(call, match) : refuse_route(call, match));
    }

    // Steps 1 and 2 failed.
    static Response refuse_route(const Call& call, const Match& match) {
        if (!match.route) return call.fail(HttpError::not_found);
        if (match.bad_id) return call.fail(HttpError::chatbot_not_found);
        Response res = call.fail(HttpError::method_not_allowed);
        res.set(http::field::allow, detail::allowed_methods(*match.route));
        return res;
    }

    // Steps 3 to 8.
    Response serve(Call& call, const Match& match) {
        const Endpoint& endpoint = *match.endpoint;
        try {
            if (auto refused = check_credentials(call, endpoint.credential))
                return std::move(*refused);
            if (auto refused = check_csrf(call)) return std::move(*refused);
            if (auto refused = check_body(call, services.options.*match.route->body_limit))
                return std::move(*refused);
            if (!endpoint.takes_body) wire::decode_no_body(call.body());
            return endpoint.handler(call);
        } catch (const Error& e) {
            return error_answer(call, e, match.route->name);
        } catch (const std::exception& e) {
            log_internal(match.route->name, e.what());
        } catch (...) {
            log_internal(match.route->name, "unknown exception");
        }
        return call.fail(HttpError::internal);
    }

    // 3: who is calling. Sets call.principal or call.key; an answer when refused.
    std::optional<Response> check_credentials(Call& call, Credential credential) {
        const std::string& client = call.context().client_address;
        switch (credential) {
            case Credential::none:
                return std::nullopt;
            case Credential::login_limit:
                // Before any password work, so a refused client costs no Argon2id.
                if (auto wait = services.login_limiter.blocked(client))
                    return rate_limited(call, *wait);
                return std::nullopt;
            case Credential::session:
            case Credential::ending_session:
                call.principal = services.sessions->check(call.view());
                if (call.principal) return std::nullopt;
                return auth_failure(call, services.sessions->has_credential(call.view()),
                                    credential == Credential::ending_session);
            case Credential::api_key: {
                const std::string_view authorization = call.request()[http::field::authorization];
                // Only an API key is a capture credential; a session token here is a failure.
                if (auto token = bearer_token(authorization); token && is_api_key_format(*token))
                    call.key = services.registry->authenticate(*token);
                if (call.key) return std::nullopt;
                return auth_failure(call, !authorization.empty(), false);
            }
        }
        throw Error(ErrorCode::internal, "unknown credential kind");
    }

    // A failed credential check: 401, or 429 once the client has failed too often. Only a
    // request that presented something counts.
    Response auth_failure(const Call& call, bool counted, bool clear_cookie) {
        const std::string& client = call.context().client_address;
        if (counted) {
            if (auto wait = services.auth_limiter.blocked(client)) return rate_limited(call, *wait);
            services.auth_limiter.record_failure(client);
        }
        Response res = call.fail(HttpError::unauthorized);
        if (clear_cookie) call.clear_session_cookie(res);
        return res;
    }

    static Response rate_limited(const Call& call, std::chrono::seconds wait) {
        Response res = call.fail(HttpError::rate_limited);
        detail::set_retry_after(res, wait);
        return res;
    }

    // 4: a browser sends the session cookie by itself, so a write with it must come from
    // our own origin.
    std::optional<Response> check_csrf(const Call& call) const {
        const Request& req = call.request();
        if (call.principal && call.principal->csrf_applies && changes_state(req.method()) &&
            req[http::field::origin] != services.options.public_origin)
            return call.fail(HttpError::csrf_rejected);
        return std::nullopt;
    }

    // 5: size (413), then media type (415).
    static std::optional<Response> check_body(const Call& call, std::uint64_t limit) {
        const Request& req = call.request();
        const auto declared = declared_length(req);
        if (call.context().body_over_limit || req.body().size() > limit ||
            (declared && *declared > limit))
            return call.fail(HttpError::payload_too_large);
        const bool has_body = !req.body().empty() || (declared && *declared > 0) || req.chunked();
        if (has_body && !is_json_media_type(req[http::field::content_type]))
            return call.fail(HttpError::unsupported_media_type);
        return std::nullopt;
    }

    Response error_answer(const Call& call, const Error& e, std::string_view route) const {
        const HttpError he = detail::http_error_of(e.code());
        if (he == HttpError::internal) log_internal(route, e.what());
        // Only invalid_argument messages are meant for the client: they name the field and
        // never hold a secret. Every other error has its fixed message.
        Response res = detail::error_response(
            he, call.shape(), he == HttpError::invalid_request ? e.what() : std::string_view());
        if (he == HttpError::unavailable)
            detail::set_retry_after(res, services.options.unavailable_retry_after);
        return res;
    }

    // ---- Pools and lifetime

    bool on_pool_thread() noexcept {
        return reads.get_executor().running_in_this_thread() ||
               writes.get_executor().running_in_this_thread();
    }

    void refuse_new_work() {
        std::unique_lock lock(stop_mutex);
        stopped = true;
    }

    // Waits until every queued job has run. Never from a pool thread (it would wait for
    // itself).
    void join_pools() {
        std::call_once(joined, [this] {
            reads.join();
            writes.join();
        });
    }
};

Api::Api(std::shared_ptr<ChatbotRegistry> registry, std::shared_ptr<SessionCheck> sessions,
         ApiOptions options, std::shared_ptr<Accounts> accounts) {
    // Every argument is checked before a thread starts (Impl checks the options first).
    if (!registry)
        throw Error(ErrorCode::invalid_argument, "registry must not be null", "registry");
    if (!sessions)
        throw Error(ErrorCode::invalid_argument, "session check must not be null", "sessions");
    impl_ = std::make_unique<Impl>(std::move(registry), std::move(sessions), std::move(options),
                                   std::move(accounts));
}

Api::~Api() {
    impl_->refuse_new_work();
    if (impl_->on_pool_thread()) {
        // The last owner let go inside one of our own jobs (a host's `done` held the Api).
        // Joining here would wait for this very thread: a thread of its own waits for the
        // pools instead, and frees the state once every job, this one included, is over.
        Impl* impl = impl_.release();
        try {
            std::thread([impl] {
                impl->join_pools();
                delete impl;
            }).detach();
        } catch (const std::system_error&) {
            // No thread to be had: leaking the state beats waiting for ourselves.
        }
        return;
    }
    impl_->join_pools();
}

bool Api::handles(std::string_view target) const noexcept {
    return detail::owns_path(impl_->routes, detail::target_path(target));
}

std::uint64_t Api::body_limit(std::string_view target) const noexcept {
    const ApiOptions& options = impl_->services.options;
    // The limit belongs to the route, whatever the method.
    const Match match = detail::match_request(impl_->routes, http::verb::get, target);
    return match.route ? options.*match.route->body_limit : options.max_body_bytes;
}

void Api::handle(Request request, RequestContext context, std::function<void(Response)> done) {
    Impl& impl = *impl_;
    impl.serving.store(true, std::memory_order_relaxed);
    Match match = detail::match_request(impl.routes, request.method(), request.target());
    if (!match.endpoint || match.endpoint->pool == detail::Pool::inline_) {
        done(impl.answer(request, context, match));
        return;
    }
    std::shared_lock lock(impl.stop_mutex);
    if (impl.stopped) {
        lock.unlock();
        Call call(impl.services, request, context, match);
        Response res = call.fail(HttpError::overloaded);
        detail::set_retry_after(res, std::chrono::seconds(1));
        done(finish(request, std::move(res)));
        return;
    }
    auto& pool = match.endpoint->pool == detail::Pool::writes ? impl.writes : impl.reads;
    boost::asio::post(pool, [&impl, req = std::move(request), ctx = std::move(context),
                             match = std::move(match), done = std::move(done)]() mutable {
        try {
            done(impl.answer(req, ctx, match));
        } catch (const std::exception& e) {
            // answer() turns every failure into a response; only done() gets here.
            log_internal(match.route->name, e.what());
        }
    });
}

Api::Response Api::handle_sync(Request request, RequestContext context) {
    impl_->serving.store(true, std::memory_order_relaxed);
    return impl_->answer(request, context,
                         detail::match_request(impl_->routes, request.method(), request.target()));
}

void Api::set_public_origin(std::string origin) {
    if (impl_->serving.load(std::memory_order_relaxed))
        throw Error(ErrorCode::invalid_argument,
                    "public_origin can only be set before the first request", "public_origin");
    impl_->services.set_public_origin(std::move(origin));
}

void Api::stop() {
    impl_->refuse_new_work();
    if (!impl_->on_pool_thread()) impl_->join_pools();
}

const ApiOptions& Api::options() const noexcept {
    return impl_->services.options;
}

}  // namespace chatbotmgr::beast
