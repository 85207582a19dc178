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

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

#include "access_log.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/group_commit.hpp"
#include "chatbotmgr/secrets.hpp"
#include "handlers.hpp"
#include "routes.hpp"
#include "slots.hpp"
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

// Retry-After of the 503 answers for a login queue or parsing slots that are full.
constexpr std::chrono::seconds kBusyRetryAfter{1};

// Once the last large body has been parsed: hands the allocator's free pages back to the
// system, so that a burst of large bodies does not leave the process at its peak size
// (glibc keeps freed memory in its per-thread arenas otherwise).
void return_free_memory() noexcept {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

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

// What admit() found out about the caller, handed to handle() through the request context.
struct Admission {
    detail::Credential credential;  // what it was checked for
    std::optional<Principal> principal;
    std::optional<VerifiedKey> key;
};

// The Api's state. Jobs on the pools refer to it by address; ~Api keeps it alive until
// every job has run, also when ~Api itself runs on a pool thread (see ~Api).
struct Api::Impl {
    detail::Services services;  // first: it validates the options before a thread starts
    detail::RouteSet routes;
    // Before the pools: a job that still holds a slot is destroyed with its pool.
    detail::Slots login_slots;        // logins running or queued (login_threads + login_queue)
    detail::Slots large_bodies;       // bodies over large_body_bytes being parsed
    boost::asio::thread_pool reads;   // reads, session checks and /readyz
    boost::asio::thread_pool logins;  // logins only: Argon2id, CPU and 64 MiB each
    boost::asio::thread_pool writes;  // writes: they block on a commit, not on CPU
    std::shared_mutex stop_mutex;
    bool stopped = false;
    std::once_flag joined;
    std::atomic<bool> serving{false};
    std::atomic<std::size_t> grouped_writes{0};  // handed to the group commit, not answered

    Impl(std::shared_ptr<ChatbotRegistry> registry, std::shared_ptr<SessionCheck> sessions,
         ApiOptions options, std::shared_ptr<Accounts> accounts)
        : services(std::move(registry), std::move(sessions), std::move(accounts),
                   std::move(options)),
          routes{services.options.health_routes, services.accounts != nullptr,
                 services.options.audit_log != nullptr},
          login_slots(std::max<std::size_t>(services.options.login_threads, 1) +
                      services.options.login_queue),
          large_bodies(std::max<std::size_t>(services.options.max_large_bodies, 1),
                       return_free_memory),
          reads(std::max<std::size_t>(services.options.blocking_threads, 1)),
          logins(std::max<std::size_t>(services.options.login_threads, 1)),
          writes(std::max<std::size_t>(services.options.write_threads, 1)) {}

    // ---- The order of checks (API.md section 8), in one place:
    //
    //   1 route        404            path -> route (match_request, once per request)
    //   2 method       405 + Allow    route -> endpoint; HEAD is served by GET
    //                                 -- then, on the endpoint's pool (inline when it
    //                                    needs no storage) --
    //   3 credentials  401, 429       session check, API key or login rate limit
    //   4 CSRF         403            cookie session + POST/PATCH/DELETE: Origin
    //  4b role         403 + required_role  the endpoint's action in the core's table
    //   5 body         413, 415       size, then media type (only if there is a body);
    //                  503            a large body waits for nothing: no parsing slot, 503
    //   6 JSON         400            a route that takes no body: empty or {}; else
    //   7 fields       400              the handler decodes (wire.cpp), the core validates
    //   8 handler      404 (id), 200  the registry or accounts call
    //                  429            login: the per-account limit, before any hashing
    //   errors         chatbotmgr::Error -> the error table (responses.cpp)
    //
    // A server with a body still to come runs steps 1 to 4 on the head first (admit()),
    // reads the body only when they pass, and hands what step 3 found to this pass.
    Response answer(const Request& req, const RequestContext& ctx, const Match& match) {
        Call call(services, req, ctx, match);
        Response res = finish(req, match.endpoint ? serve(call, match) : refuse_route(call, match));
        note_login(match, res.result_int());
        return res;
    }

    // ---- Operations hooks (operations.hpp)

    void note_login(const Match& match, unsigned status) const noexcept {
        if (services.options.metrics && match.endpoint && match.route->name == "login")
            services.options.metrics->login_answered(detail::login_outcome(status));
    }

    void note_key(KeyVerification result) const noexcept {
        if (services.options.metrics) services.options.metrics->key_verified(result);
    }

    // A path id that is not a canonical UUID answers exactly as an unknown id of that
    // route does (section 8), so with the core's message for the resource it names; empty
    // for the chatbot routes (the table's "chatbot not found").
    static std::string_view unknown_id_message(const detail::Route& route) noexcept {
        if (route.name == "member") return "member not found";
        if (route.name == "invitation") return "invitation not found";
        return {};
    }

    // Steps 1 and 2 failed.
    static Response refuse_route(const Call& call, const Match& match) {
        if (!match.route) return call.fail(HttpError::not_found);
        if (match.bad_id)
            return detail::error_response(HttpError::chatbot_not_found, call.shape(),
                                          unknown_id_message(*match.route));
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
            if (auto refused = check_request(call, match)) return std::move(*refused);
            // A large body is parsed only while holding one of max_large_bodies slots: with
            // max_parsed_json_bytes that bounds the memory all parsing takes at once.
            const bool large = call.body().size() > services.options.large_body_bytes;
            const std::optional<detail::Slots::Slot> parsing =
                large ? large_bodies.try_acquire() : std::nullopt;
            if (large && !parsing) return busy(call);
            if (!endpoint.takes_body) wire::decode_no_body(call.body(), call.json_limits());
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

    // Steps 4 to 5 once the caller is known: CSRF, role, body size and media type.
    std::optional<Response> check_request(const Call& call, const Match& match) const {
        if (auto refused = check_csrf(call)) return refused;
        check_role(call, *match.endpoint);
        return check_body(call, services.options.*match.route->body_limit);
    }

    // A read the I/O thread may answer from memory (ApiOptions::cached_reads_inline).
    bool may_answer_cached(const Match& match, const RequestContext& ctx) const noexcept {
        return services.options.cached_reads_inline && match.endpoint->cached &&
               match.endpoint->credential == Credential::session && !ctx.admission;
    }

    // Steps 3 to 8 of such a read without blocking: the session from check_cached() and
    // the answer from the endpoint's cached handler. nullopt when either is not cached
    // (or anything else goes wrong): then the pool serves the request as any other, so
    // every answer given here is the one the pool would give.
    std::optional<Response> answer_cached(const Request& req, const RequestContext& ctx,
                                          const Match& match) {
        Call call(services, req, ctx, match);
        try {
            call.principal = services.sessions->check_cached(call.view());
        } catch (...) {
            return std::nullopt;  // check() on the pool decides, and answers its errors
        }
        if (!call.principal) return std::nullopt;
        try {
            if (auto refused = check_request(call, match)) return finish(req, std::move(*refused));
            wire::decode_no_body(call.body(), call.json_limits());
            auto res = match.endpoint->cached(call);
            if (!res) return std::nullopt;
            return finish(req, std::move(*res));
        } catch (const Error& e) {
            return finish(req, error_answer(call, e, match.route->name));
        } catch (...) {
            return std::nullopt;
        }
    }

    // Steps 1 to 4 on a request head (Api::admit): a refusal, or the go-ahead with what
    // the credential check found (null for routes whose check needs the body or nothing).
    Api::Admitted admit(const Request& head, const RequestContext& ctx, const Match& match) {
        Call call(services, head, ctx, match);
        if (!match.endpoint) return {finish(head, refuse_route(call, match)), nullptr};
        const Credential credential = match.endpoint->credential;
        if (!checked_before_body(credential)) return {std::nullopt, nullptr};
        try {
            if (auto refused = check_credentials(call, credential))
                return {finish(head, std::move(*refused)), nullptr};
            if (auto refused = check_csrf(call))
                return {finish(head, std::move(*refused)), nullptr};
            check_role(call, *match.endpoint);
            return {std::nullopt, std::make_shared<const Admission>(Admission{
                                      credential, std::move(call.principal), std::move(call.key)})};
        } catch (const Error& e) {
            return {finish(head, error_answer(call, e, match.route->name)), nullptr};
        } catch (const std::exception& e) {
            log_internal(match.route->name, e.what());
        } catch (...) {
            log_internal(match.route->name, "unknown exception");
        }
        return {finish(head, call.fail(HttpError::internal)), nullptr};
    }

    // The credentials that the head alone proves; login's limits may depend on its body.
    static bool checked_before_body(Credential credential) noexcept {
        return credential == Credential::session || credential == Credential::ending_session ||
               credential == Credential::api_key;
    }

    // True when admit() needs no storage for this head: no route or method, or a capture
    // without an API key of the right form (401 without a lookup).
    static bool admit_inline(const Request& head, const Match& match) noexcept {
        if (!match.endpoint || !checked_before_body(match.endpoint->credential)) return true;
        if (match.endpoint->credential != Credential::api_key) return false;
        const auto token = bearer_token(head[http::field::authorization]);
        return !token || !is_api_key_format(*token);
    }

    // 3: who is calling. Sets call.principal or call.key; an answer when refused.
    std::optional<Response> check_credentials(Call& call, Credential credential) {
        // Checked already, from the head, before the body was read (Api::admit).
        if (const auto& admitted = call.context().admission;
            admitted && admitted->credential == credential) {
            call.principal = admitted->principal;
            call.key = admitted->key;
            return std::nullopt;
        }
        switch (credential) {
            case Credential::none:
                return std::nullopt;
            case Credential::login_limit:
                // Before any password work, so a refused client costs no Argon2id. This is
                // the per-client limit; the per-account one needs the body (the login
                // handler checks it).
                if (auto wait = services.login_address_limiter.blocked(call.client()))
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
                KeyVerdict verdict = KeyVerdict::invalid;
                if (auto token = bearer_token(authorization); token && is_api_key_format(*token)) {
                    KeyCheck checked = services.registry->check_key(*token);
                    verdict = checked.verdict;
                    call.key = std::move(checked.key);
                }
                if (call.key) {
                    note_key(verdict == KeyVerdict::previous_key ? KeyVerification::previous_key
                                                                 : KeyVerification::valid);
                    return std::nullopt;
                }
                // The reason goes to the metrics only: the answer is the same 401 for all.
                Response refused = auth_failure(call, !authorization.empty(), false);
                if (!authorization.empty())
                    note_key(refused.result() == http::status::too_many_requests
                                 ? KeyVerification::rate_limited
                             : verdict == KeyVerdict::expired ? KeyVerification::expired
                                                              : KeyVerification::invalid);
                return refused;
            }
        }
        throw Error(ErrorCode::internal, "unknown credential kind");
    }

    // A failed credential check: 401, or 429 once the client has failed too often. Only a
    // request that presented something counts.
    Response auth_failure(const Call& call, bool counted, bool clear_cookie) {
        const std::string& client = call.client();
        if (counted) {
            if (auto wait = services.auth_limiter.blocked(client)) return rate_limited(call, *wait);
            services.auth_limiter.record_failure(client);
        }
        Response res = call.fail(HttpError::unauthorized);
        if (clear_cookie) call.clear_session_cookie(res);
        return res;
    }

    static Response rate_limited(const Call& call, std::chrono::seconds wait) {
        return call.rate_limited(wait);
    }

    // 503 for a bounded resource that is in use (login queue, parsing slots).
    static Response busy(const Call& call) {
        Response res = call.fail(HttpError::overloaded);
        detail::set_retry_after(res, kBusyRetryAfter);
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

    // 4b: the caller's role against the core's permission table, before anything about
    // the body or the target is looked at (API.md section 10): Error(forbidden) -> 403.
    static void check_role(const Call& call, const Endpoint& endpoint) {
        if (endpoint.action && call.principal) check_permitted(call.actor(), *endpoint.action);
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
        // Only these messages are meant for the client: invalid_argument names the field,
        // the others are the core's fixed texts ("member not found", "the organization's
        // last owner ..."); none holds a secret. Every other error has the table's message.
        const bool core_message = he == HttpError::invalid_request || he == HttpError::conflict ||
                                  (e.code() == ErrorCode::not_found && he != HttpError::internal);
        Response res = detail::error_response(
            he, call.shape(), core_message ? e.what() : std::string_view(), e.required_role());
        if (he == HttpError::unavailable)
            detail::set_retry_after(res, services.options.unavailable_retry_after);
        return res;
    }

    // ---- Pools and lifetime

    bool on_pool_thread() noexcept {
        return reads.get_executor().running_in_this_thread() ||
               logins.get_executor().running_in_this_thread() ||
               writes.get_executor().running_in_this_thread() || answering_grouped_write;
    }

    // ---- Writes on the store's group commit (ApiOptions::group_commit)

    class GroupedWrite;
    void submit_grouped(Request req, RequestContext ctx, Match match,
                        std::function<void(Response)> done);

    // The answer of a grouped write whose writes did not commit, or that never ran.
    Response grouped_failure(const Request& req, const RequestContext& ctx, const Match& match,
                             const std::exception_ptr& error) {
        Call call(services, req, ctx, match);
        try {
            if (error) std::rethrow_exception(error);
            throw Error(ErrorCode::unavailable, "storage unavailable: the write did not run");
        } catch (const Error& e) {
            return finish(req, error_answer(call, e, match.route->name));
        } catch (const std::exception& e) {
            log_internal(match.route->name, e.what());
        } catch (...) {
            log_internal(match.route->name, "unknown exception");
        }
        return finish(req, call.fail(HttpError::internal));
    }

    void grouped_write_answered() noexcept {
        if (grouped_writes.fetch_sub(1, std::memory_order_acq_rel) == 1)
            grouped_writes.notify_all();
    }

    // Set on the thread that hands a grouped write its answer: the host's done() may hold
    // the last reference to the Api, and ~Api must not wait for that thread then.
    static thread_local bool answering_grouped_write;

    void refuse_new_work() {
        std::unique_lock lock(stop_mutex);
        stopped = true;
    }

    // Waits until every queued job has run. Never from a pool thread (it would wait for
    // itself).
    void join_pools() {
        std::call_once(joined, [this] {
            reads.join();
            logins.join();
            writes.join();
            for (auto n = grouped_writes.load(); n != 0; n = grouped_writes.load())
                grouped_writes.wait(n);
        });
    }
};

thread_local bool Api::Impl::answering_grouped_write = false;

// One write on the group commit: answer() runs on the store's writer inside the group, and
// the answer goes out only once the group's commit is in (or, if that failed, the 503).
class Api::Impl::GroupedWrite final : public GroupCommitCall {
  public:
    GroupedWrite(Impl& impl, Request req, RequestContext ctx, Match match,
                 std::function<void(Response)> done)
        : impl_(impl),
          req_(std::move(req)),
          ctx_(std::move(ctx)),
          match_(std::move(match)),
          done_(std::move(done)) {}

    void run() override { answer_ = impl_.answer(req_, ctx_, match_); }

    void committed(std::exception_ptr error) noexcept override {
        const std::string_view route = match_.route->name;
        std::optional<Response> res;
        try {
            if (error || !answer_) {
                res = impl_.grouped_failure(req_, ctx_, match_, error);
            } else {
                res = std::move(answer_);
            }
        } catch (const std::exception& e) {
            log_internal(route, e.what());
        }
        impl_.grouped_write_answered();  // the last use of impl_: ~Api may go on now
        if (!res) return;                // no memory even for an error answer
        answering_grouped_write = true;
        try {
            done_(std::move(*res));
        } catch (const std::exception& e) {
            log_internal(route, e.what());
        }
        answering_grouped_write = false;
    }

  private:
    Impl& impl_;
    Request req_;
    RequestContext ctx_;
    Match match_;
    std::function<void(Response)> done_;
    std::optional<Response> answer_;
};

void Api::Impl::submit_grouped(Request req, RequestContext ctx, Match match,
                               std::function<void(Response)> done) {
    auto call = std::make_unique<GroupedWrite>(*this, std::move(req), std::move(ctx),
                                               std::move(match), std::move(done));
    grouped_writes.fetch_add(1, std::memory_order_relaxed);  // submit() never throws
    services.options.group_commit->submit(std::move(call));
}

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

std::string_view Api::route_name(std::string_view target) const noexcept {
    // The route does not depend on the method; a bad id still names its route.
    const Match match = detail::match_request(impl_->routes, http::verb::get, target);
    return match.route ? match.route->name : detail::kUnmatchedRoute;
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
    if (impl.may_answer_cached(match, context)) {
        if (auto res = impl.answer_cached(request, context, match)) {
            lock.unlock();
            done(std::move(*res));
            return;
        }
    }
    if (match.endpoint->pool == detail::Pool::writes && impl.services.options.group_commit &&
        request.body().size() <= impl.services.options.large_body_bytes) {
        impl.submit_grouped(std::move(request), std::move(context), std::move(match),
                            std::move(done));
        return;
    }
    // A login waits for a thread only while the bounded login queue has room: past it, 503
    // at once, before any password work. The slot is held until the login has answered.
    const bool login = match.endpoint->pool == detail::Pool::logins;
    std::optional<detail::Slots::Slot> slot = login ? impl.login_slots.try_acquire() : std::nullopt;
    if (login && !slot) {
        lock.unlock();
        Call call(impl.services, request, context, match);
        Response res = finish(request, Impl::busy(call));
        impl.note_login(match, res.result_int());
        done(std::move(res));
        return;
    }
    auto& pool = match.endpoint->pool == detail::Pool::writes ? impl.writes
                 : login                                      ? impl.logins
                                                              : impl.reads;
    boost::asio::post(
        pool, [&impl, req = std::move(request), ctx = std::move(context), match = std::move(match),
               done = std::move(done), slot = std::move(slot)]() mutable {
            try {
                done(impl.answer(req, ctx, match));
            } catch (const std::exception& e) {
                // answer() turns every failure into a response; only done() gets here.
                log_internal(match.route->name, e.what());
            }
        });
}

void Api::admit(const Request& head, const RequestContext& context,
                std::function<void(Admitted)> done) {
    Impl& impl = *impl_;
    impl.serving.store(true, std::memory_order_relaxed);
    Match match = detail::match_request(impl.routes, head.method(), head.target());
    if (Impl::admit_inline(head, match)) {
        done(impl.admit(head, context, match));
        return;
    }
    std::shared_lock lock(impl.stop_mutex);
    if (impl.stopped) {
        lock.unlock();
        Call call(impl.services, head, context, match);
        Response res = call.fail(HttpError::overloaded);
        detail::set_retry_after(res, std::chrono::seconds(1));
        done({finish(head, std::move(res)), nullptr});
        return;
    }
    // The head is copied (its body is still unread, so empty): the caller's parser is free.
    boost::asio::post(impl.reads, [&impl, head = Request(head), ctx = context,
                                   match = std::move(match), done = std::move(done)]() mutable {
        try {
            done(impl.admit(head, ctx, match));
        } catch (const std::exception& e) {
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
