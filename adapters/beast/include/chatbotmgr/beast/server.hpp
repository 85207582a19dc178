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
// Errors: every method throws chatbotmgr::Error (error.hpp): invalid_argument for a bad
// option or a call out of order, unavailable when the address cannot be bound.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

namespace chatbotmgr::beast {

class Api;

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
    // On stop(), how long in-flight requests may take before their connections are
    // closed anyway. Default: 10 seconds.
    std::chrono::milliseconds shutdown_grace = std::chrono::seconds(10);
    // Write one access-log line per request: method, path (no query, secret-looking
    // segments redacted), status, duration in ms -- never a header value. Default: true.
    bool access_log = true;
    // Where access-log lines go. Default (empty): stderr, one write(2) per line.
    std::function<void(std::string_view line)> access_log_sink;
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
