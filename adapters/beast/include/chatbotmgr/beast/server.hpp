// Server: HTTP/1.1 listener and connections in front of an Api.
//
// Connections run on I/O threads (an io_context of its own, or the host's); every storage
// call runs on the Api's blocking pool and its answer is posted back to the connection's
// strand, so a slow disk or database never stalls the I/O threads.
//
// Requests on one connection are answered in order, one at a time; pipelined requests
// wait in the connection's bounded read buffer (and then in the kernel) until it is
// their turn.
//
// Request heads are read strictly (RFC 9112): a Transfer-Encoding other than exactly
// "chunked", Transfer-Encoding with Content-Length, a missing (HTTP/1.1) or repeated Host,
// and obs-fold are 400 and close the connection; absolute-form targets
// ("GET http://host/path") are served as their path. A request with a body still to come
// is admitted from its head first (Api::admit: route, method, credentials) and its body
// gets room in max_buffered_body_bytes before a byte of it is read.
//
// Errors: every method throws chatbotmgr::Error (error.hpp): invalid_argument for a bad
// option or a call out of order, unavailable when the address cannot be bound.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "chatbotmgr/beast/operations.hpp"

namespace chatbotmgr::beast {

class Api;

// The access log's line format: text ("http: GET /api/v1/chatbots 200 0.412ms") or one
// JSON object per line (fields in access_log_json, docs/OPERATIONS.md).
enum class AccessLogFormat { text, json };

// Answers requests beside the Api (static files, a dashboard: see ServerOptions::fallback).
// Its request and response types are those of Api::Request and Api::Response.
using FallbackHandler =
    std::function<std::optional<boost::beast::http::response<boost::beast::http::string_body>>(
        const boost::beast::http::request<boost::beast::http::string_body>&)>;

struct ServerOptions {
    // Address to listen on (IPv4 or IPv6 literal). Default: "127.0.0.1".
    std::string address = "127.0.0.1";
    // Port; 0 picks a free one (see Server::port()). Default: 8080.
    std::uint16_t port = 8080;
    // I/O threads that run() starts; 0 means one per hardware thread. Default: 0.
    std::size_t io_threads = 0;
    // Largest request header block (request line, fields, CRLFs), in bytes; past it the
    // answer is 431 and the connection is closed. Default: 16,384.
    std::size_t max_header_bytes = 16'384;
    // Time a client has to send a complete request header once it has started one (and
    // for the first request of a connection, from accept). Default: 10 seconds.
    std::chrono::milliseconds header_timeout = std::chrono::seconds(10);
    // Time a client has to send the body once the header is in. Default: 30 seconds.
    std::chrono::milliseconds body_timeout = std::chrono::seconds(30);
    // Time a keep-alive connection may sit idle between requests. Default: 30 seconds.
    std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
    // Time a client has to take a response. Default: 30 seconds.
    std::chrono::milliseconds write_timeout = std::chrono::seconds(30);
    // Most open connections; past it a new connection gets a 503 and is closed at once.
    // Default: 1,024.
    std::size_t max_connections = 1'024;
    // Most open connections from one client address -- for IPv6, from one /64 -- so that
    // one client cannot hold every slot: past it a new connection from that address gets
    // a 503 (Retry-After) and is closed at once, while other addresses are still served.
    // Connections from the Api's trusted proxies (ApiOptions::trusted_proxies) are not
    // counted: a proxy speaks for many clients. 0: no per-address limit (behind a proxy
    // that is not configured as trusted, raise it to the proxy's pool size or turn it
    // off). Default: 64.
    std::size_t max_connections_per_address = 64;
    // Requests one connection may carry; the answer to the last one has
    // "Connection: close". 0: no limit. Default: 10,000.
    std::size_t max_requests_per_connection = 10'000;
    // How long a connection may carry requests: the first answer after it has
    // "Connection: close" (an idle connection still closes after idle_timeout, so a slot
    // is held at most this plus idle_timeout, and no request is ever cut off unannounced).
    // Bounds how long a client keeps a slot by sending one request now and then.
    // 0: no limit. Default: 10 minutes.
    std::chrono::milliseconds max_connection_lifetime = std::chrono::minutes(10);
    // Most bytes of large request bodies buffered at once over all connections. A body of
    // more than 64 KiB counts its Content-Length (a chunked one its route's body limit,
    // when that is more than 64 KiB) from the moment its request is admitted (route,
    // method and credential checked on the head, see Api::admit) until its answer is
    // ready. A request whose body does not fit gets a 503 with Retry-After without the
    // body being read, and its connection is closed. Smaller bodies, and a body that
    // arrived whole with its header (it is in the connection's read buffer), are bounded
    // per connection instead (max_connections x 64 KiB). 0: no limit. Default: 64 MiB.
    std::uint64_t max_buffered_body_bytes = 64ULL * 1024 * 1024;
    // On stop(), how long in-flight requests may take before their connections are
    // closed anyway. Default: 10 seconds.
    std::chrono::milliseconds shutdown_grace = std::chrono::seconds(10);
    // Write one access-log line per request: method (a method other than those of RFC
    // 9110 and PATCH as "OTHER"), path (no query; a segment that looks like a key or a
    // token, as sent or percent-decoded, as "[redacted]"), status, duration in ms -- never
    // a header value. Default: true.
    bool access_log = true;
    // Where access-log lines go. Default (empty): stderr, one write(2) per line.
    std::function<void(std::string_view line)> access_log_sink;
    // Default: AccessLogFormat::text.
    AccessLogFormat access_log_format = AccessLogFormat::text;
    // Every answer carries X-Request-Id: the request's own when it is 1 to 128 characters
    // of [A-Za-z0-9._:-] and does not look like a key or token, a fresh 32-hex-digit id
    // otherwise. The id is in the access log (JSON format) and in RequestRecord.
    // Hears of every connection and request (operations.hpp). Default: none.
    std::shared_ptr<MetricsSink> metrics;

    // Offered every request whose target the Api does not handle (Api::handles() is
    // false: not /api/v1/..., not the health routes) before the Api answers it with 404:
    // an answer is sent as it is (keep-alive, limits and access log as for the Api's);
    // nullopt leaves the request to the Api; an exception is logged and answered 500. It
    // runs on an I/O thread, so it must not block: it is meant for answers from memory,
    // such as chatbotmgr::dashboard's
    // (dashboard.hpp). A request whose body was not read with its head is answered by the
    // Api from the head alone (404) and never gets here. Default: none (v1: every such
    // target is a 404).
    FallbackHandler fallback;
};

class Server {
  public:
    // Binds and listens now, on an io_context of its own that run() drives. Nothing is
    // accepted before start(). Throws Error(invalid_argument, field "address") for an
    // address that is not an IP literal, Error(unavailable) when it cannot bind or listen.
    explicit Server(ServerOptions options);
    // The same on the host's io_context, which the host runs.
    Server(boost::asio::io_context& io, ServerOptions options);
    // Stops as stop() does, through the server's executor (never touching the listener or
    // a connection from the calling thread): the host's io_context finishes the stop and
    // then runs out of the server's work. With an io_context of its own, let run() return
    // first.
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // The port actually bound (useful with port 0).
    std::uint16_t port() const noexcept;
    // "http://<bound address>:<port>" ("http://[::1]:8080" for IPv6): what start() gives
    // an Api whose ApiOptions::public_origin is empty.
    std::string bound_origin() const;
    // Starts accepting connections and answering them with api; sets the api's public
    // origin to bound_origin() when it has none. Once only. Throws Error(invalid_argument)
    // for a null api or a second call.
    void start(std::shared_ptr<Api> api);
    // Runs the io_context on io_threads threads (the caller's included) until stop() has
    // finished and nothing is left to do. Throws Error(invalid_argument) before start().
    void run();
    // Graceful stop, callable from any thread (a signal handler's completion included):
    // stop accepting, close idle connections, let in-flight requests finish and answer
    // with "Connection: close", then close whatever is left after shutdown_grace.
    void stop();
    // Calls stop() on SIGINT or SIGTERM (a boost::asio::signal_set on the server's
    // executor), so that run() returns. Once the stop has begun the server lets go of both
    // signals (they get their default action again: a second Ctrl-C ends the process).
    // Throws Error(invalid_argument) when called twice.
    void stop_on_signals();
    // Number of open connections.
    std::size_t connections() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<boost::asio::io_context> own_io_;  // destroyed after impl_
    std::shared_ptr<Impl> impl_;
};

}  // namespace chatbotmgr::beast
