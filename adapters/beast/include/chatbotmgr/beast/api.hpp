// Api: the HTTP contract of API.md as a function from request to response.
//
// No sockets here: Server (server.hpp) feeds it from its connections, a host can mount it
// beside its own routes (handles() + handle()), and tests and fuzzers call handle_sync().
//
// Threading: handle() and handle_sync() may be called from many threads at once.
// handle() never blocks: route and method checks run inline, and so do reads whose session
// and answer are cached (ApiOptions::cached_reads_inline); everything that may touch
// storage (session check, registry, accounts) runs on the Api's own thread pools: one
// for reads, one for logins (password hashing), one for writes.
// Errors: the constructor and set_public_origin() throw chatbotmgr::Error; handle() never
// throws -- every failure becomes its HTTP answer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "chatbotmgr/beast/operations.hpp"
#include "chatbotmgr/beast/session_check.hpp"
#include "chatbotmgr/clock.hpp"

namespace chatbotmgr {
class Accounts;
class AuditLog;
class GroupCommit;
class ChatbotRegistry;
}  // namespace chatbotmgr

namespace chatbotmgr::beast {

// The header a trusted proxy names the client in: X-Forwarded-For ("client, proxy1") or
// Forwarded (RFC 7239: "for=client, for=proxy1"). Only the one the proxy sets and
// overwrites may be trusted: a header the proxy passes through is the client's to forge.
enum class ForwardedHeader { x_forwarded_for, forwarded };

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
    // Threads that run reads (GET), session checks and GET /readyz. Default: 4.
    std::size_t blocking_threads = 4;
    // Threads that run logins, and only logins: each login holds one for its Argon2id
    // work (about 64 MiB of memory and tens of milliseconds of CPU), so this bounds both,
    // and a flood of logins never delays a read or /readyz. Default: 2.
    std::size_t login_threads = 2;
    // Logins that may wait for a login thread. Past it a login is answered 503 with
    // Retry-After at once, before any password work. Default: 16.
    std::size_t login_queue = 16;
    // Threads that run writes (POST, PATCH, DELETE other than login). A write waits for
    // its commit, and every write waiting at once shares one commit (group commit), so
    // more waiting threads make larger batches for the same fsync. Default: 32.
    std::size_t write_threads = 32;
    // Runs writes on the store's group commit instead (group_commit.hpp; SqliteStore is
    // one): each write -- credential check, handler, answer -- runs on the store's writer
    // thread inside a group transaction and is answered right after that group commits,
    // so no thread waits for a commit. Bodies over large_body_bytes are parsed on
    // write_threads as without it. The store must be the one the registry and accounts
    // write to. Default: none.
    std::shared_ptr<GroupCommit> group_commit;
    // Answers a read whose session and answer are both in memory on the calling thread
    // (the I/O thread), without the hop to the blocking pool: GET /api/v1/chatbots and
    // GET /api/v1/chatbots/{id} when SessionCheck::check_cached() knows the caller and the
    // registry has the answer cached (RegistryOptions::cache_chatbots). A miss goes to the
    // pool as without it. Nothing is ever read from storage on the calling thread.
    // Default: true.
    bool cached_reads_inline = true;
    // Serve GET /healthz and GET /readyz. A host with its own probes turns this off.
    // Default: true.
    bool health_routes = true;
    // Most bytes a request body may take once parsed (JsonLimits::max_parsed_bytes,
    // json.hpp: 24 bytes per value, 44 per object member, plus the text of names and
    // strings); past it the answer is 400, like a body nested too deeply. A body of 1 MiB
    // of ordinary capture data takes little more than 1 MiB parsed; 1 MiB of
    // "[0,0,0,...]" would take 12. Default: 4 MiB.
    std::size_t max_parsed_json_bytes = 4 * 1024 * 1024;
    // Bodies over large_body_bytes parsed at once; past it such a request is answered 503
    // with Retry-After. With max_parsed_json_bytes this bounds the memory of parsing. When
    // the last of them is done the Api hands free memory back to the system (glibc:
    // malloc_trim), so a burst of large bodies does not leave the process at its peak.
    // Defaults: 4 bodies over 65,536 bytes (so only capture bodies count).
    std::size_t max_large_bodies = 4;
    std::uint64_t large_body_bytes = 65'536;
    // Login failures for one account (email, compared case-blind) from one client within
    // login_window after which login to that account from that client is refused (429),
    // even with the right password, until the window has passed. Other accounts are not
    // affected.
    // Defaults: 10 failures, 5 minutes.
    std::size_t login_max_failures = 10;
    std::chrono::seconds login_window = std::chrono::minutes(5);
    // Login failures from one client, whatever the accounts, within login_window after
    // which every login from that client is refused (429): a spray across many accounts.
    // Default: 100 failures.
    std::size_t login_max_failures_per_address = 100;
    // Failed session or API-key checks from one client address within auth_window after
    // which further failures answer 429 instead of 401. A valid credential is never
    // refused, and a request without credential does not count.
    // Defaults: 100 failures, 1 minute.
    std::size_t auth_max_failures = 100;
    std::chrono::seconds auth_window = std::chrono::minutes(1);
    // Most clients (or client and account pairs) each rate limiter remembers, which
    // bounds its memory. A client is remembered until its window has passed, never less
    // (so a flood from other addresses cannot free a blocked one); when all are live, the
    // failures of new clients are not counted until room frees up (docs/SECURITY.md).
    // Default: 10,000.
    std::size_t rate_limit_max_clients = 10'000;
    // Reverse proxies trusted to say who the client is: IP addresses or CIDR blocks
    // ("10.0.0.0/8", "::1/128"). For a request whose peer is one of them, the client of
    // the rate limits is the right-most address in forwarded_header that is not itself a
    // trusted proxy; from any other peer that header is ignored. IPv6 clients are limited
    // per /64. The constructor throws Error(invalid_argument, field "trusted_proxies") for
    // an entry that is neither. Default: none (the peer address is the client).
    std::vector<std::string> trusted_proxies{};
    ForwardedHeader forwarded_header = ForwardedHeader::x_forwarded_for;
    // Retry-After of 503 answers (storage unavailable). Default: 1 second.
    std::chrono::seconds unavailable_retry_after = std::chrono::seconds(1);
    // Time source of the rate-limit windows. Default: system_clock().
    std::shared_ptr<Clock> clock;
    // Hears of every API-key check and login (operations.hpp). Default: none.
    std::shared_ptr<MetricsSink> metrics;
    // Serves GET /api/v1/audit-events (API.md section 13) from this log. Default: none (the
    // route does not exist, as in v1).
    std::shared_ptr<AuditLog> audit_log;
};

// What Api::admit() learned from a request head (the caller's principal or key), for
// handle() to use instead of checking the credential again. Opaque.
struct Admission;

// What the connection knows that the request does not say.
struct RequestContext {
    // The peer address (no port); the key of the rate limits. Default: empty (one bucket).
    std::string client_address;
    // True when the body was not (completely) read because it is over body_limit(); then
    // the request ends at the size check (413) unless an earlier check fails first.
    bool body_over_limit = false;
    // What admit() gave for this request's head, when the host called it; null otherwise
    // (then handle() checks the credential itself).
    std::shared_ptr<const Admission> admission{};
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
    // The name of the route of target in the route table ("chatbot" for
    // /api/v1/chatbots/{id}), or "unmatched": a bounded label for logs and metrics, never
    // a raw path or id.
    std::string_view route_name(std::string_view target) const noexcept;

    // What admit() decides: a refusal to send as it is (the body is never read: the host
    // answers and closes the connection), or the go-ahead, with the admission for
    // RequestContext::admission (null when handle() still checks the credential itself).
    struct Admitted {
        std::optional<Response> refusal;
        std::shared_ptr<const Admission> admission;
    };
    // Steps 1 to 4 of the order of checks -- route, method, credentials, CSRF -- from the
    // request head alone, before the body is read: a client that may not send a body
    // costs no memory for it. A host calls it once the header is in and a body is still
    // to come. The session check and the API-key lookup run on the Api's pool (never on
    // the calling thread); a request without a credential of the right form, an unknown
    // route or method, are decided inline. done is called exactly once, before admit()
    // returns or later on a thread of the pool; it must not block. Routes without a
    // credential (login included) are admitted as they are.
    void admit(const Request& head, const RequestContext& context,
               std::function<void(Admitted)> done);

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
