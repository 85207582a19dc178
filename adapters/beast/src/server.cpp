#include "chatbotmgr/beast/server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "chatbotmgr/beast/api.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/secrets.hpp"
#include "responses.hpp"
#include "routes.hpp"
#include "stderr_log.hpp"

namespace chatbotmgr::beast {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using detail::HttpError;

namespace {

constexpr std::size_t kFirstReadBytes = 8192;
// After an answer that closes the connection, what the client still sends is read and
// dropped for a while, so that closing with unread data (a TCP reset) cannot destroy the
// answer before the client has read it.
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr std::size_t kLingerMaxBytes = 4 * 1024 * 1024;
constexpr std::size_t kMaxLoggedPath = 256;

// The path for the access log: no query, secret-looking segments redacted, bytes that
// could forge log lines percent-encoded, bounded length.
void append_loggable_path(std::string& out, std::string_view target) {
    std::string_view path = detail::target_path(target);
    if (path.empty()) {
        out += '-';
        return;
    }
    const std::size_t start = out.size();
    while (!path.empty()) {
        std::size_t slash = path.find('/', 1);
        std::string_view segment = path.substr(0, slash);
        path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
        std::string_view body = segment.substr(segment.empty() || segment[0] != '/' ? 0 : 1);
        if (segment.size() != body.size()) out += '/';
        if (looks_like_secret(body) || body.find("ob_live_") != std::string_view::npos ||
            body.find("ob_sess_") != std::string_view::npos) {
            out += "[redacted]";
            continue;
        }
        for (char c : body) {
            auto u = static_cast<unsigned char>(c);
            if (u <= 0x20 || u >= 0x7f || c == '%') {
                static constexpr char hex[] = "0123456789ABCDEF";
                out += '%';
                out += hex[u >> 4];
                out += hex[u & 0xF];
            } else {
                out += c;
            }
        }
        if (out.size() - start > kMaxLoggedPath) {
            out.resize(start + kMaxLoggedPath);
            out += "...";
            return;
        }
    }
}

// The canned answer past max_connections: written without waiting, then closed.
const std::string& busy_response() {
    static const std::string text = [] {
        auto res = detail::error_response(HttpError::overloaded, {11, false});
        detail::set_retry_after(res, std::chrono::seconds(1));
        std::ostringstream out;
        out << res;
        return out.str();
    }();
    return text;
}

// "127.0.0.1:8080", "[::1]:8080".
std::string host_and_port(const tcp::endpoint& endpoint) {
    const std::string host = endpoint.address().to_string();
    return (endpoint.address().is_v6() ? "[" + host + "]" : host) + ":" +
           std::to_string(endpoint.port());
}

std::string origin_of(const tcp::endpoint& endpoint) {
    return "http://" + host_and_port(endpoint);
}

tcp::endpoint endpoint_of(const ServerOptions& options) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(options.address, ec);
    if (ec)
        throw Error(ErrorCode::invalid_argument,
                    "address must be an IPv4 or IPv6 literal, such as 127.0.0.1", "address");
    return {address, options.port};
}

}  // namespace

namespace detail {

class Session;

struct ServerCore : std::enable_shared_from_this<ServerCore> {
    asio::io_context& io;
    std::shared_ptr<Api> api;
    ServerOptions options;
    std::function<void(std::string_view)> log_sink;
    asio::strand<asio::io_context::executor_type> strand;
    tcp::acceptor acceptor;
    asio::steady_timer grace_timer;
    asio::steady_timer accept_retry_timer;
    tcp::endpoint bound;
    std::mutex signals_mutex;
    std::optional<asio::signal_set> signals;  // stop_on_signals()
    std::atomic<std::size_t> connections{0};
    std::atomic<bool> stopping{false};
    std::atomic<bool> started{false};
    std::mutex sessions_mutex;
    std::unordered_map<Session*, std::weak_ptr<Session>> sessions;

    ServerCore(asio::io_context& io_, ServerOptions options_)
        : io(io_),
          options(std::move(options_)),
          strand(asio::make_strand(io)),
          acceptor(strand),
          grace_timer(strand),
          accept_retry_timer(strand) {
        if (options.access_log)
            log_sink = options.access_log_sink
                           ? options.access_log_sink
                           : [](std::string_view line) { detail::write_stderr_line(line); };
        const tcp::endpoint endpoint = endpoint_of(options);
        try {
            acceptor.open(endpoint.protocol());
            acceptor.set_option(asio::socket_base::reuse_address(true));
            acceptor.bind(endpoint);
            acceptor.listen(asio::socket_base::max_listen_connections);
            bound = acceptor.local_endpoint();
        } catch (const boost::system::system_error& e) {
            throw Error(ErrorCode::unavailable,
                        "cannot listen on " + host_and_port(endpoint) + ": " + e.code().message());
        }
    }

    void start(std::shared_ptr<Api> api_) {
        if (!api_) throw Error(ErrorCode::invalid_argument, "api must not be null", "api");
        if (started) throw Error(ErrorCode::invalid_argument, "Server::start called twice", "api");
        if (api_->options().public_origin.empty()) api_->set_public_origin(origin_of(bound));
        started = true;
        api = std::move(api_);  // before the first accept, which the post below orders
        asio::dispatch(strand, [self = shared_from_this()] { self->do_accept(); });
    }

    void stop_on_signals() {
        std::lock_guard lock(signals_mutex);
        if (signals) throw Error(ErrorCode::invalid_argument, "stop_on_signals called twice");
        if (stopping) return;
        signals.emplace(strand, SIGINT, SIGTERM);
        signals->async_wait([self = shared_from_this()](error_code ec, int) {
            if (!ec) self->stop();
        });
    }

    void do_accept() {
        if (stopping || !acceptor.is_open()) return;
        acceptor.async_accept(asio::make_strand(io),
                              asio::bind_executor(strand, [self = shared_from_this()](
                                                              error_code ec, tcp::socket socket) {
                                  self->on_accept(ec, std::move(socket));
                              }));
    }

    void on_accept(error_code ec, tcp::socket socket);
    void stop();
    void session_closed(Session* s);
    std::vector<std::shared_ptr<Session>> live_sessions() {
        std::vector<std::shared_ptr<Session>> out;
        std::lock_guard lock(sessions_mutex);
        out.reserve(sessions.size());
        for (auto& [_, weak] : sessions)
            if (auto s = weak.lock()) out.push_back(std::move(s));
        return out;
    }
};

// One connection: reads a request, hands it to the Api, writes the answer, repeats.
// Every step runs on the connection's strand; the Api's answer is posted back to it.
class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(tcp::socket&& socket, std::shared_ptr<ServerCore> server)
        : stream_(std::move(socket)),
          server_(std::move(server)),
          buffer_(server_->options.max_header_bytes + 65'536) {
        error_code ec;
        auto remote = stream_.socket().remote_endpoint(ec);
        if (!ec) client_ = remote.address().to_string();
    }

    ~Session() { server_->session_closed(this); }

    void start() {
        asio::dispatch(stream_.get_executor(),
                       [self = shared_from_this()] { self->next_request(); });
    }

    // Graceful stop: an idle connection closes now, a busy one after its answer.
    void on_stop() {
        if (!busy_ && !lingering_) {
            error_code ec;
            stream_.socket().cancel(ec);
        }
    }

    void force_close() { close(); }

    asio::any_io_executor executor() { return stream_.get_executor(); }

  private:
    void next_request() {
        if (closed_) return;
        if (server_->stopping) return close();
        busy_ = false;
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(server_->options.max_header_bytes));
        // The body limit depends on the route: set once the target is known.
        parser_->body_limit(boost::none);
        if (buffer_.size() > 0) return read_header();  // a pipelined request is waiting
        stream_.expires_after(first_request_ ? server_->options.header_timeout
                                             : server_->options.idle_timeout);
        stream_.async_read_some(buffer_.prepare(std::min(kFirstReadBytes, buffer_.max_size())),
                                [self = shared_from_this()](error_code ec, std::size_t n) {
                                    self->on_first_bytes(ec, n);
                                });
    }

    void on_first_bytes(error_code ec, std::size_t n) {
        if (ec) return close();  // idle timeout, peer closed, or stop
        buffer_.commit(n);
        read_header();
    }

    void read_header() {
        busy_ = true;
        started_at_ = std::chrono::steady_clock::now();
        stream_.expires_after(server_->options.header_timeout);
        http::async_read_header(
            stream_, buffer_, *parser_,
            [self = shared_from_this()](error_code ec, std::size_t n) { self->on_header(ec, n); });
    }

    void on_header(error_code ec, std::size_t header_bytes) {
        // The parser's own limit leaves the request line out of its count (and bounds
        // memory); the exact rule -- the whole block, CRLFs included -- is checked here.
        if (ec == http::error::header_limit ||
            (!ec && header_bytes > server_->options.max_header_bytes))
            return answer_locally(HttpError::header_too_large);
        if (ec) return on_read_error(ec);
        auto& req = parser_->get();
        const std::uint64_t limit = server_->api->body_limit(req.target());
        // Decided from Content-Length alone: an over-limit body is never read.
        if (auto length = parser_->content_length(); length && *length > limit)
            return dispatch(true);
        parser_->body_limit(limit);
        if (parser_->is_done()) return dispatch(false);
        if (boost::beast::iequals(req[http::field::expect], "100-continue")) {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            stream_.expires_after(server_->options.write_timeout);
            asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                              [self = shared_from_this()](error_code ec, std::size_t) {
                                  if (ec) return self->close();
                                  self->read_body();
                              });
            return;
        }
        read_body();
    }

    void read_body() {
        stream_.expires_after(server_->options.body_timeout);
        http::async_read(
            stream_, buffer_, *parser_,
            [self = shared_from_this()](error_code ec, std::size_t) { self->on_body(ec); });
    }

    void on_body(error_code ec) {
        if (ec == http::error::body_limit) return dispatch(true);  // chunked, over the limit
        if (ec) return on_read_error(ec);
        dispatch(false);
    }

    void on_read_error(error_code ec) {
        // Bytes that are not HTTP get a 400 and the connection is closed; a client that
        // went away or timed out is simply closed.
        if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
            ec != http::error::end_of_stream && ec != http::error::partial_message)
            return answer_locally(HttpError::malformed_http);
        close();
    }

    void dispatch(bool body_over_limit) {
        Api::Request req = parser_->release();
        log_method_.assign(req.method_string());
        log_target_.assign(req.target());
        close_after_write_ = body_over_limit || !req.keep_alive();
        stream_.expires_never();  // nothing is read or written while the Api works
        // The tracked executor keeps the io_context running until the answer is back.
        auto tracked =
            asio::prefer(stream_.get_executor(), asio::execution::outstanding_work.tracked);
        server_->api->handle(std::move(req), RequestContext{client_, body_over_limit},
                             [self = shared_from_this(), tracked](Api::Response res) mutable {
                                 // Inline answers (404, 405, health) are already on the
                                 // strand and continue at once; pool answers are posted.
                                 asio::dispatch(tracked, [self, res = std::move(res)]() mutable {
                                     self->write(std::move(res));
                                 });
                             });
    }

    void answer_locally(HttpError e) {
        if (parser_) {
            const auto& req = parser_->get();
            log_method_.assign(req.method_string());
            log_target_.assign(req.target());
        }
        close_after_write_ = true;
        write(detail::error_response(e, {11, false}));
    }

    void write(Api::Response res) {
        if (closed_) return;
        if (server_->stopping) close_after_write_ = true;
        if (close_after_write_) res.keep_alive(false);
        res_ = std::move(res);
        stream_.expires_after(server_->options.write_timeout);
        http::async_write(stream_, res_, [self = shared_from_this()](error_code ec, std::size_t) {
            self->on_written(ec);
        });
    }

    void on_written(error_code ec) {
        log_access();
        first_request_ = false;
        busy_ = false;
        if (ec) return close();
        if (!res_.keep_alive()) return linger_close();
        res_ = {};
        next_request();
    }

    void log_access() {
        if (!server_->log_sink) return;
        const auto elapsed = std::chrono::steady_clock::now() - started_at_;
        const double ms = std::chrono::duration<double, std::milli>(elapsed).count();
        std::string line;
        line.reserve(48 + log_target_.size());
        line += "http: ";
        line += log_method_.empty() ? std::string_view("-") : std::string_view(log_method_);
        line += ' ';
        append_loggable_path(line, log_target_);
        line += ' ';
        line += std::to_string(res_.result_int());
        char buf[32];
        std::snprintf(buf, sizeof buf, " %.3fms", ms);
        line += buf;
        server_->log_sink(line);
    }

    void linger_close() {
        error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        if (ec) return close();
        lingering_ = true;
        buffer_.clear();
        stream_.expires_after(kLingerTime);
        drain();
    }

    void drain() {
        stream_.async_read_some(buffer_.prepare(std::min<std::size_t>(16'384, buffer_.max_size())),
                                [self = shared_from_this()](error_code ec, std::size_t n) {
                                    self->drained_ += n;
                                    if (ec || self->drained_ > kLingerMaxBytes)
                                        return self->close();
                                    self->buffer_.clear();
                                    self->drain();
                                });
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.socket().close(ec);
    }

    boost::beast::tcp_stream stream_;
    std::shared_ptr<ServerCore> server_;
    boost::beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    Api::Response res_;
    std::string client_;
    std::string log_method_;
    std::string log_target_;
    std::chrono::steady_clock::time_point started_at_{};
    std::size_t drained_ = 0;
    bool first_request_ = true;
    bool busy_ = false;
    bool lingering_ = false;
    bool close_after_write_ = false;
    bool closed_ = false;
};

void ServerCore::on_accept(error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopping || !acceptor.is_open()) return;
    if (ec) {
        // Out of file descriptors and the like: try again shortly instead of spinning.
        accept_retry_timer.expires_after(std::chrono::milliseconds(50));
        accept_retry_timer.async_wait([self = shared_from_this()](error_code wait_ec) {
            if (!wait_ec) self->do_accept();
        });
        return;
    }
    if (connections.load() >= options.max_connections) {
        error_code ignored;
        socket.non_blocking(true, ignored);
        socket.write_some(asio::buffer(busy_response()), ignored);
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
        return do_accept();
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    ++connections;
    auto session = std::make_shared<Session>(std::move(socket), shared_from_this());
    {
        std::lock_guard lock(sessions_mutex);
        sessions.emplace(session.get(), session);
    }
    session->start();
    do_accept();
}

void ServerCore::session_closed(Session* s) {
    {
        std::lock_guard lock(sessions_mutex);
        sessions.erase(s);
    }
    if (--connections == 0 && stopping)
        asio::post(strand, [self = shared_from_this()] { self->grace_timer.cancel(); });
}

void ServerCore::stop() {
    if (stopping.exchange(true)) return;
    asio::post(strand, [self = shared_from_this()] {
        error_code ec;
        self->acceptor.close(ec);
        self->accept_retry_timer.cancel();
        {
            std::lock_guard lock(self->signals_mutex);
            if (self->signals) self->signals->clear(ec);  // also cancels the wait
        }
        for (auto& s : self->live_sessions()) asio::post(s->executor(), [s] { s->on_stop(); });
        self->grace_timer.expires_after(self->options.shutdown_grace);
        self->grace_timer.async_wait([self](error_code wait_ec) {
            if (wait_ec) return;  // every connection closed in time
            for (auto& s : self->live_sessions())
                asio::post(s->executor(), [s] { s->force_close(); });
        });
        if (self->connections.load() == 0) self->grace_timer.cancel();
    });
}

}  // namespace detail

using detail::ServerCore;

struct Server::Impl {
    std::shared_ptr<ServerCore> core;
};

Server::Server(ServerOptions options)
    : own_io_(std::make_unique<asio::io_context>()),
      impl_(std::make_shared<Impl>(
          Impl{std::make_shared<ServerCore>(*own_io_, std::move(options))})) {}

Server::Server(asio::io_context& io, ServerOptions options)
    : impl_(std::make_shared<Impl>(Impl{std::make_shared<ServerCore>(io, std::move(options))})) {}

Server::~Server() {
    // Through the strand, like every other touch of the listener: a host's io_context may
    // be running the accept loop on another thread right now.
    if (impl_ && impl_->core) impl_->core->stop();
    // With an own io_context, destroying it (after impl_) drops the handlers still queued.
    impl_.reset();
}

std::uint16_t Server::port() const noexcept {
    return impl_->core->bound.port();
}

std::string Server::bound_origin() const {
    return origin_of(impl_->core->bound);
}

void Server::start(std::shared_ptr<Api> api) {
    impl_->core->start(std::move(api));
}

void Server::run() {
    if (!impl_->core->started)
        throw Error(ErrorCode::invalid_argument, "Server::run called before start");
    std::size_t n = impl_->core->options.io_threads;
    if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> threads;
    threads.reserve(n - 1);
    auto& io = impl_->core->io;
    // A handler that throws (out of memory, say) must not take the process down: log it
    // and keep serving; the connection it belonged to is gone with its handler.
    auto run_io = [&io] {
        for (;;) {
            try {
                io.run();
                return;
            } catch (const std::exception& e) {
                detail::write_stderr_line(std::string("chatbotmgr: I/O handler failed: ") +
                                          e.what());
            }
        }
    };
    for (std::size_t i = 1; i < n; ++i) threads.emplace_back(run_io);
    run_io();
    for (auto& t : threads) t.join();
}

void Server::stop() {
    impl_->core->stop();
}

void Server::stop_on_signals() {
    impl_->core->stop_on_signals();
}

std::size_t Server::connections() const noexcept {
    return impl_->core->connections.load();
}

}  // namespace chatbotmgr::beast
