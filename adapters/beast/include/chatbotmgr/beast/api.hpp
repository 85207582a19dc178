// Api: the HTTP contract of API.md as a function from request to response.
//
// No sockets here: Server (server.hpp) feeds it from its connections, a host can mount it
// beside its own routes (handles() + handle()), and tests and fuzzers call handle_sync().
//
// Threading: handle() and handle_sync() may be called from many threads at once.
// handle() never blocks: route and method checks run inline, everything that may touch
// storage (session check, registry, accounts) runs on the Api's own thread pools: one
// for reads and logins, one for writes.
// Errors: the constructor and set_public_origin() throw chatbotmgr::Error; handle() never
// throws -- every failure becomes its HTTP answer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "chatbotmgr/beast/session_check.hpp"
#include "chatbotmgr/clock.hpp"

namespace chatbotmgr {
class Accounts;
class ChatbotRegistry;
}  // namespace chatbotmgr

namespace chatbotmgr::beast {

struct ApiOptions {
    // The origin browsers send in Origin for this service ("https://bots.example.com").
    // Cookie-authenticated POST, PATCH and DELETE must carry exactly this Origin, and the
    // session cookie is marked Secure when it starts with "https://".
    // Default: empty -- Server::start() sets it to the address it is bound to
    // ("http://127.0.0.1:<port>", "http://[::1]:<port>"); a host that mounts the Api in
    // its own server sets it (or calls set_public_origin()), else cookie-authenticated
    // writes are refused.
    std::string public_origin;
    // Largest request body of the chatbot and auth routes, in bytes. Default: 65,536.
    std::uint64_t max_body_bytes = 65'536;
    // Largest request body of POST /api/v1/capture, in bytes. Default: 1,048,576.
    std::uint64_t max_capture_body_bytes = 1'048'576;
    // Threads that run reads (GET), session checks and logins. Each login holds one for
    // the Argon2id work (about 64 MiB of memory), so this also bounds that memory.
    // Default: 4.
    std::size_t blocking_threads = 4;
    // Threads that run writes (POST, PATCH, DELETE other than login). A write waits for
    // its commit, and every write waiting at once shares one commit (group commit), so
    // more waiting threads make larger batches for the same fsync. Default: 32.
    std::size_t write_threads = 32;
    // Serve GET /healthz and GET /readyz. A host with its own probes turns this off.
    // Default: true.
    bool health_routes = true;
    // Login failures from one client address within login_window after which login is
    // refused (429), even with the right password, until the window has passed.
    // Defaults: 10 failures, 5 minutes.
    std::size_t login_max_failures = 10;
    std::chrono::seconds login_window = std::chrono::minutes(5);
    // Failed session or API-key checks from one client address within auth_window after
    // which further failures answer 429 instead of 401. A valid credential is never
    // refused, and a request without credential does not count.
    // Defaults: 100 failures, 1 minute.
    std::size_t auth_max_failures = 100;
    std::chrono::seconds auth_window = std::chrono::minutes(1);
    // Most client addresses each rate limiter remembers (bounds its memory).
    // Default: 10,000.
    std::size_t rate_limit_max_clients = 10'000;
    // Retry-After of 503 answers (storage unavailable). Default: 1 second.
    std::chrono::seconds unavailable_retry_after = std::chrono::seconds(1);
    // Time source of the rate-limit windows. Default: system_clock().
    std::shared_ptr<Clock> clock;
};

// What the connection knows that the request does not say.
struct RequestContext {
    // The peer address (no port); the key of the rate limits. Default: empty (one bucket).
    std::string client_address;
    // True when the body was not (completely) read because it is over body_limit(); then
    // the request ends at the size check (413) unless an earlier check fails first.
    bool body_over_limit = false;
};

class Api {
  public:
    using Request = boost::beast::http::request<boost::beast::http::string_body>;
    using Response = boost::beast::http::response<boost::beast::http::string_body>;

    // accounts is optional: with it, POST /api/v1/auth/login and /logout are served.
    // Throws Error(invalid_argument) naming "registry", "sessions" (null) or
    // "public_origin" (not an http:// or https:// origin) before any thread starts.
    Api(std::shared_ptr<ChatbotRegistry> registry, std::shared_ptr<SessionCheck> sessions,
        ApiOptions options = {}, std::shared_ptr<Accounts> accounts = nullptr);
    // Waits for the blocking work that is still queued (see stop()). It may run anywhere,
    // even on a thread of the Api's own pools (when a host's done callback held the last
    // owner): then it returns at once and the pools wind down on a thread of their own.
    ~Api();
    Api(const Api&) = delete;
    Api& operator=(const Api&) = delete;

    // True for the targets this Api answers (its routes and every other /api/v1/ path,
    // which it answers with 404), so a host can route the rest to its own handlers.
    bool handles(std::string_view target) const noexcept;
    // Body limit of the route of target: a host sets its parser's body_limit to this
    // once the header is read, and answers over-limit bodies through handle() with
    // RequestContext::body_over_limit.
    std::uint64_t body_limit(std::string_view target) const noexcept;

    // Answers request. done is called exactly once, either before handle() returns or
    // later on a thread of the blocking pool; it must not block. The answer to HEAD is the
    // answer to GET without its body (Content-Length is that of the GET body).
    void handle(Request request, RequestContext context, std::function<void(Response)> done);
    // The same on the calling thread (which then blocks on storage).
    Response handle_sync(Request request, RequestContext context = {});

    // Sets ApiOptions::public_origin (normalized: lowercase, no trailing '/'). Only before
    // the first request; Server::start() calls it when the option was left empty. Throws
    // Error(invalid_argument, field "public_origin") when it is not an origin or when the
    // Api has already answered a request.
    void set_public_origin(std::string origin);

    // Finishes the blocking work already queued and stops the pools. Later calls of
    // handle() answer 503. Idempotent. Called from one of the Api's own threads it only
    // refuses new work (it cannot wait for itself).
    void stop();

    const ApiOptions& options() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace chatbotmgr::beast
