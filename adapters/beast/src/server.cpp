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

#include "access_log.hpp"
#include "chatbotmgr/beast/api.hpp"
#include "chatbotmgr/error.hpp"
#include "client_address.hpp"
#include "connection_limits.hpp"
#include "request_head.hpp"
#include "responses.hpp"
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
// Bodies up to this size need no room in the body budget: like the read buffer, they are
// bounded per connection (max_connections of them at most), and many clients send a small
// body in a write of its own, which must not be refused while large bodies hold the budget.
constexpr std::uint64_t kUncountedBodyBytes = 65'536;
// The canned answer past max_connections (or an address's share of them).
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

// Writes the canned 503 without waiting, then closes: for connections refused at accept.
void refuse_connection(tcp::socket& socket) {
    error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(busy_response()), ignored);
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
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
    detail::ConnectionLimiter per_address;  // open connections per client address
    detail::BodyBudget bodies;              // bytes of request bodies being read at once
    // The Api's trusted reverse proxies: their connections carry many clients, so the
    // per-address limit does not apply to them. Set by start().
    std::optional<detail::TrustedProxies> proxies;

    ServerCore(asio::io_context& io_, ServerOptions options_)
        : io(io_),
          options(std::move(options_)),
          strand(asio::make_strand(io)),
          acceptor(strand),
          grace_timer(strand),
          accept_retry_timer(strand),
          per_address(options.max_connections_per_address),
          bodies(options.max_buffered_body_bytes) {
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
        if (!api_->options().trusted_proxies.empty())
            proxies.emplace(api_->options().trusted_proxies);
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
    void session_closed(Session* s, const std::optional<detail::ConnectionLimiter::Key>& peer);
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
//
// A request with a body still to come is first admitted from its head alone (route,
// method, credentials: Api::admit), then its body gets room in the server's body budget,
// and only then is the body read: a client that may not send one, or a flood of stalled
// bodies, costs no memory for them.
class Session : public std::enable_shared_from_this<Session> {
  public:
    // peer: what this connection counts as in the per-address limit (none: exempt).
    Session(tcp::socket&& socket, std::shared_ptr<ServerCore> server,
            std::optional<detail::ConnectionLimiter::Key> peer)
        : stream_(std::move(socket)),
          server_(std::move(server)),
          peer_(peer),
          accepted_at_(std::chrono::steady_clock::now()),
          buffer_(server_->options.max_header_bytes + 65'536) {
        error_code ec;
        auto remote = stream_.socket().remote_endpoint(ec);
        if (!ec) client_ = remote.address().to_string();
    }

    ~Session() {
        release_body();
        if (in_flight_) finish_request(0);  // closed before an answer went out
        server_->session_closed(this, peer_);
    }

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
    using Clock = std::chrono::steady_clock;

    void next_request() {
        if (closed_) return;
        if (server_->stopping) return close();
        busy_ = false;
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(server_->options.max_header_bytes));
        // The body limit depends on the route: set once the target is known.
        parser_->body_limit(boost::none);
        scanned_ = 0;
        line_probed_ = false;
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
        started_at_ = Clock::now();
        started_wall_ = std::chrono::system_clock::now();
        stream_.expires_after(server_->options.header_timeout);
        parse_header();
    }

    // Reads until the buffer holds a whole header block, refuses obs-fold (which Beast's
    // parser would accept), then parses the block.
    void parse_header() {
        const std::string_view data(static_cast<const char*>(buffer_.data().data()),
                                    buffer_.size());
        const std::size_t max = server_->options.max_header_bytes;
        const std::optional<std::size_t> length = detail::header_block_length(data, scanned_);
        if (!length) {
            // A block of at most max bytes would have ended by now.
            if (data.size() >= max) return answer_locally(HttpError::header_too_large);
            // Bytes that are not HTTP are refused now, not after the header timeout:
            // probed on the first bytes and once more when the request line is complete
            // (twice at most, so a header that trickles in costs no more than once).
            if (!line_probed_) {
                const bool line_done =
                    data.find("\r\n", scanned_ > 0 ? scanned_ - 1 : 0) != std::string_view::npos;
                if ((scanned_ == 0 || line_done) && detail::hopeless_header_start(data))
                    return answer_locally(HttpError::malformed_http);
                line_probed_ = line_done;
            }
            scanned_ = data.size();
            const std::size_t room =
                std::min<std::size_t>(16'384, buffer_.max_size() - data.size());
            stream_.async_read_some(buffer_.prepare(room),
                                    [self = shared_from_this()](error_code ec, std::size_t n) {
                                        if (ec) return self->close();  // timeout, peer gone
                                        self->buffer_.commit(n);
                                        self->parse_header();
                                    });
            return;
        }
        if (*length > max) return answer_locally(HttpError::header_too_large);
        if (detail::has_obs_fold(data.substr(0, *length)))
            return answer_locally(HttpError::malformed_http);
        error_code ec;
        const std::size_t used = parser_->put(buffer_.data(), ec);
        buffer_.consume(used);
        if (!ec && !parser_->is_header_done()) ec = http::error::partial_message;
        on_header(ec);
    }

    void on_header(error_code ec) {
        // The parser's own limit leaves the request line out of its count (and bounds
        // memory); the exact rule -- the whole block, CRLFs included -- is parse_header's.
        if (ec == http::error::header_limit) return answer_locally(HttpError::header_too_large);
        if (ec) return on_read_error(ec);
        begin_request();  // in flight from here, while its body is read as well
        auto& req = parser_->get();
        // Framing two implementations could read differently, an unusable Host: 400 and
        // close, before a byte of the body is read (nothing after it is ever parsed).
        if (!detail::framing_error(req).empty()) return answer_locally(HttpError::malformed_http);
        const std::optional<std::string_view> origin = detail::origin_form(req.target());
        if (!origin) return answer_locally(HttpError::malformed_http);
        if (origin->size() != req.target().size()) req.target(std::string(*origin));
        const std::uint64_t limit = server_->api->body_limit(req.target());
        // Decided from Content-Length alone: an over-limit body is never read.
        const auto length = parser_->content_length();
        if (length && *length > limit) return dispatch(true);
        parser_->body_limit(limit);
        if (parser_->is_done()) return dispatch(false);
        // A body that came whole with its header is in the read buffer already (bounded
        // by its size): nothing to admit or reserve before taking it from there.
        if (length && buffer_.size() >= *length) return read_body();
        admit(length.value_or(limit));
    }

    // Api::admit on the head; the answer comes back to this strand.
    void admit(std::uint64_t body_bytes) {
        stream_.expires_never();  // nothing is read while the Api decides
        auto tracked =
            asio::prefer(stream_.get_executor(), asio::execution::outstanding_work.tracked);
        server_->api->admit(
            parser_->get(), context(false),
            [self = shared_from_this(), tracked, body_bytes](Api::Admitted admitted) mutable {
                asio::dispatch(tracked,
                               [self, body_bytes, admitted = std::move(admitted)]() mutable {
                                   self->on_admitted(std::move(admitted), body_bytes);
                               });
            });
    }

    void on_admitted(Api::Admitted admitted, std::uint64_t body_bytes) {
        if (closed_) return;
        if (admitted.refusal) {
            // The body is never read: answer, then close (lingering drops what still comes).
            note_request_line(parser_->get());
            close_after_write_ = true;
            return write(std::move(*admitted.refusal));
        }
        if (body_bytes > kUncountedBodyBytes) {
            if (!server_->bodies.try_reserve(body_bytes)) return answer_busy();
            reserved_ = body_bytes;
        }
        admission_ = std::move(admitted.admission);
        if (boost::beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
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

    RequestContext context(bool body_over_limit) const {
        RequestContext ctx;
        ctx.client_address = client_;
        ctx.body_over_limit = body_over_limit;
        return ctx;
    }

    // True once this connection has carried its last request: the answer then closes it.
    bool spent() const {
        const ServerOptions& o = server_->options;
        return (o.max_requests_per_connection != 0 && requests_ >= o.max_requests_per_connection) ||
               lifetime_left() <= Clock::duration::zero();
    }

    Clock::duration lifetime_left() const {
        const auto lifetime = server_->options.max_connection_lifetime;
        if (lifetime <= std::chrono::milliseconds::zero()) return Clock::duration::max();
        return accepted_at_ + lifetime - Clock::now();
    }

    void dispatch(bool body_over_limit) {
        Api::Request req = parser_->release();
        note_request_line(req);
        ++requests_;
        close_after_write_ = body_over_limit || !req.keep_alive() || spent();
        stream_.expires_never();  // nothing is read or written while the Api works
        if (auto answer = fallback_answer(req, body_over_limit)) return write(std::move(*answer));
        RequestContext ctx = context(body_over_limit);
        ctx.admission = std::move(admission_);
        // The tracked executor keeps the io_context running until the answer is back.
        auto tracked =
            asio::prefer(stream_.get_executor(), asio::execution::outstanding_work.tracked);
        server_->api->handle(std::move(req), std::move(ctx),
                             [self = shared_from_this(), tracked](Api::Response res) mutable {
                                 // Inline answers (404, 405, health) are already on the
                                 // strand and continue at once; pool answers are posted.
                                 asio::dispatch(tracked, [self, res = std::move(res)]() mutable {
                                     self->write(std::move(res));
                                 });
                             });
    }

    // ServerOptions::fallback, for a target that is not the Api's.
    std::optional<Api::Response> fallback_answer(const Api::Request& req, bool body_over_limit) {
        const auto& fallback = server_->options.fallback;
        if (!fallback || body_over_limit || server_->api->handles(req.target()))
            return std::nullopt;
        try {
            return fallback(req);
        } catch (const std::exception& e) {
            detail::write_stderr_line(std::string("chatbotmgr: fallback handler failed: ") +
                                      e.what());
            return detail::error_response(HttpError::internal, {req.version(), req.keep_alive()});
        }
    }

    void note_request_line(const Api::Request& req) {
        log_verb_ = req.method();
        log_method_.assign(req.method_string());
        log_target_.assign(req.target());
        const std::string_view id = req[detail::kRequestIdField];
        if (detail::acceptable_request_id(id)) request_id_.assign(id);
        begin_request();
    }

    // The request counts as in flight from here until finish_request().
    void begin_request() {
        if (in_flight_) return;
        in_flight_ = true;
        if (server_->options.metrics) server_->options.metrics->request_started();
    }

    void answer_locally(HttpError e) {
        if (parser_) note_request_line(parser_->get());
        close_after_write_ = true;
        write(detail::error_response(e, {11, false}));
    }

    // The body budget is spent: 503 with Retry-After, without reading the body.
    void answer_busy() {
        note_request_line(parser_->get());
        close_after_write_ = true;
        Api::Response res = detail::error_response(HttpError::overloaded, {11, false});
        detail::set_retry_after(res, std::chrono::seconds(1));
        write(std::move(res));
    }

    void write(Api::Response res) {
        if (closed_) return;
        release_body();   // the answer is in: the request and its body are done with
        begin_request();  // an answer before the request line was read
        if (request_id_.empty()) request_id_ = detail::new_request_id();
        res.set(detail::kRequestIdField, request_id_);
        if (server_->stopping) close_after_write_ = true;
        if (close_after_write_) res.keep_alive(false);
        res_ = std::move(res);
        stream_.expires_after(server_->options.write_timeout);
        http::async_write(stream_, res_, [self = shared_from_this()](error_code ec, std::size_t) {
            self->on_written(ec);
        });
    }

    void on_written(error_code ec) {
        finish_request(res_.result_int());
        first_request_ = false;
        busy_ = false;
        if (ec) return close();
        if (!res_.keep_alive()) return linger_close();
        res_ = {};
        next_request();
    }

    // The access-log line and the metrics of the request that ends now; status 0 when no
    // answer was sent.
    void finish_request(unsigned status) {
        in_flight_ = false;
        const auto elapsed = Clock::now() - started_at_;
        const ServerCore& server = *server_;
        if (server.log_sink && server.options.access_log_format == AccessLogFormat::text && status)
            server.log_sink(detail::access_log_line(
                log_verb_, log_method_, log_target_, status,
                std::chrono::duration<double, std::milli>(elapsed).count()));
        const bool json =
            server.log_sink && server.options.access_log_format == AccessLogFormat::json;
        if (json || server.options.metrics) {
            std::string path;
            detail::append_loggable_path(path, log_target_);
            RequestRecord record;
            record.time = started_wall_;
            record.method = detail::loggable_method(log_verb_, log_method_);
            record.route = server.api->route_name(log_target_);
            record.path = path;
            record.status = status;
            record.duration = elapsed;
            record.bytes = status ? res_.body().size() : 0;
            record.request_id = request_id_;
            record.client_address = client_;
            if (json) server.log_sink(detail::access_log_json(record));
            if (server.options.metrics) server.options.metrics->request_finished(record);
        }
        request_id_.clear();
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

    void release_body() {
        server_->bodies.release(reserved_);
        reserved_ = 0;
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        release_body();
        error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.socket().close(ec);
    }

    boost::beast::tcp_stream stream_;
    std::shared_ptr<ServerCore> server_;
    const std::optional<detail::ConnectionLimiter::Key> peer_;
    const Clock::time_point accepted_at_;
    boost::beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::shared_ptr<const Admission> admission_;  // from admit(), for handle()
    Api::Response res_;
    std::string client_;
    http::verb log_verb_ = http::verb::unknown;
    std::string log_method_;
    std::string log_target_;
    std::string request_id_;  // X-Request-Id of the request being answered
    bool in_flight_ = false;  // between begin_request() and finish_request()
    Clock::time_point started_at_{};
    std::chrono::system_clock::time_point started_wall_{};
    std::size_t scanned_ = 0;     // bytes of the buffer searched for the header's end
    bool line_probed_ = false;    // the request line was complete when last probed
    std::size_t requests_ = 0;    // requests read on this connection
    std::uint64_t reserved_ = 0;  // bytes of the body budget this request holds
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
        refuse_connection(socket);
        return do_accept();
    }
    error_code peer_ec;
    const tcp::endpoint peer = socket.remote_endpoint(peer_ec);
    if (peer_ec) {  // already gone
        socket.close(peer_ec);
        return do_accept();
    }
    // One address (an IPv6 /64) cannot take every slot: past its share it is refused
    // while everyone else is still served. A trusted proxy speaks for many clients.
    const auto key = detail::ConnectionLimiter::key_of(peer.address());
    const bool exempt =
        proxies && proxies->contains(detail::ConnectionLimiter::address_bytes(peer.address()));
    if (!exempt && !per_address.try_acquire(key)) {
        refuse_connection(socket);
        return do_accept();
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    ++connections;
    if (options.metrics) options.metrics->connection_opened();
    auto session = std::make_shared<Session>(std::move(socket), shared_from_this(),
                                             exempt ? std::nullopt : std::optional(key));
    {
        std::lock_guard lock(sessions_mutex);
        sessions.emplace(session.get(), session);
    }
    session->start();
    do_accept();
}

void ServerCore::session_closed(Session* s,
                                const std::optional<detail::ConnectionLimiter::Key>& peer) {
    if (peer) per_address.release(*peer);
    if (options.metrics) options.metrics->connection_closed();
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
