// Operations hooks of the HTTP adapter: what a host hears about the traffic, for its
// metrics and logs (API.md section 16).
//
// MetricsSink is the extension point: the Server reports connections and finished
// requests to it, the Api reports API-key verifications and logins. chatbotmgr::prometheus
// (PrometheusMetrics) is the built-in implementation; a host with its own metrics system
// implements the interface itself. The access log has its own switch and sink
// (ServerOptions::access_log_format and access_log_sink).
//
// Nothing handed to a sink carries a secret: paths are redacted as in the access log,
// routes are the route table's template names, and no header value is passed on except a
// well-formed X-Request-Id (see RequestRecord::request_id).
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace chatbotmgr::beast {

// The outcome of checking an API key on POST /api/v1/capture (label "result" of
// chatbotmgr_key_verifications_total).
enum class KeyVerification {
    valid,         // the chatbot's current key
    previous_key,  // a rotated key still in its grace period
    invalid,       // a credential was presented, and it is no key of any chatbot
    expired,       // a key past its expiry, or a previous key past its grace
    rate_limited,  // refused (429) because the client failed too often
};

// "valid", "previous_key", "invalid", "expired", "rate_limited".
std::string_view to_string(KeyVerification v) noexcept;

// The outcome of POST /api/v1/auth/login (label "result" of chatbotmgr_logins_total).
enum class LoginOutcome {
    success,       // 200: a session was issued
    failure,       // 401: wrong email or password
    rate_limited,  // 429: too many failures for the account or the client
    rejected,      // 400, 413, 415: the request itself was wrong
    unavailable,   // 503 (storage, or the login queue is full) and 500
};

// "success", "failure", "rate_limited", "rejected", "unavailable".
std::string_view to_string(LoginOutcome v) noexcept;

// One request, once its answer has been written (or the connection closed before it).
// The views are valid only during the call.
struct RequestRecord {
    std::chrono::system_clock::time_point time;  // when the request began to arrive
    std::string_view method;               // "GET", ...; "OTHER" for any other token, "-" for none
    std::string_view route;                // the route table's name ("chatbot"), or "unmatched"
    std::string_view path;                 // as in the access log: no query, secrets "[redacted]"
    unsigned status = 0;                   // 0: the connection closed before an answer was sent
    std::chrono::nanoseconds duration{0};  // from the first byte to the answer written
    std::uint64_t bytes = 0;               // bytes of the answer's body
    std::string_view request_id;           // the X-Request-Id of the answer
    std::string_view client_address;       // the peer address (no port)
};

// Receives the adapter's events. Every method may be called from many threads at once
// and must not block (it runs on the I/O threads and the Api's pools); none may throw.
class MetricsSink {
  public:
    virtual ~MetricsSink() = default;

    // A connection was accepted and is being served / it closed. Refused connections
    // (over max_connections) are neither.
    virtual void connection_opened() noexcept = 0;
    virtual void connection_closed() noexcept = 0;
    // A request's header is in / its answer was written (or the connection closed first:
    // status 0). Every started request ends exactly once.
    virtual void request_started() noexcept = 0;
    virtual void request_finished(const RequestRecord& request) noexcept = 0;
    // An API key was checked (capture).
    virtual void key_verified(KeyVerification result) noexcept = 0;
    // A login was answered.
    virtual void login_answered(LoginOutcome result) noexcept = 0;
};

}  // namespace chatbotmgr::beast
