#include "chatbotmgr/beast/metrics_listener.hpp"

#include <atomic>
#include <optional>
#include <thread>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "chatbotmgr/error.hpp"
#include "routes.hpp"
#include "stderr_log.hpp"

namespace chatbotmgr::beast {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::uint32_t kMaxHeaderBytes = 8192;

struct Shared {
    MetricsListenerOptions options;
    std::function<std::string()> render;
    std::atomic<std::size_t> connections{0};
};

// One scraper connection: request, answer, repeat while it keeps the connection alive.
class Connection : public std::enable_shared_from_this<Connection> {
  public:
    Connection(tcp::socket&& socket, std::shared_ptr<Shared> shared)
        : stream_(std::move(socket)), shared_(std::move(shared)) {}
    ~Connection() { --shared_->connections; }

    void read() {
        parser_.emplace();
        parser_->header_limit(kMaxHeaderBytes);
        parser_->body_limit(0);
        stream_.expires_after(shared_->options.timeout);
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](error_code ec, std::size_t) {
                             if (!ec) self->answer();
                         });
    }

  private:
    void answer() {
        const auto& req = parser_->get();
        res_ = {};
        res_.version(req.version());
        res_.keep_alive(req.keep_alive());
        if (detail::target_path(req.target()) != shared_->options.path) {
            res_.result(http::status::not_found);
            res_.set(http::field::content_type, "text/plain; charset=utf-8");
            res_.body() = "not found\n";
        } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
            res_.result(http::status::method_not_allowed);
            res_.set(http::field::allow, "GET, HEAD");
        } else {
            res_.result(http::status::ok);
            res_.set(http::field::content_type, shared_->options.content_type);
            res_.set(http::field::cache_control, "no-store");
            try {
                res_.body() = shared_->render();
            } catch (const std::exception& e) {
                detail::write_stderr_line(std::string("chatbotmgr: metrics: ") + e.what());
                res_.result(http::status::internal_server_error);
            }
        }
        res_.prepare_payload();
        if (req.method() == http::verb::head) res_.body().clear();
        stream_.expires_after(shared_->options.timeout);
        http::async_write(stream_, res_, [self = shared_from_this()](error_code ec, std::size_t) {
            if (ec || !self->res_.keep_alive()) {
                error_code ignored;
                self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
                return;
            }
            self->read();
        });
    }

    boost::beast::tcp_stream stream_;
    std::shared_ptr<Shared> shared_;
    boost::beast::flat_buffer buffer_{kMaxHeaderBytes};
    std::optional<http::request_parser<http::empty_body>> parser_;
    http::response<http::string_body> res_;
};

}  // namespace

struct MetricsListener::Impl {
    asio::io_context io{1};
    tcp::acceptor acceptor{io};
    std::shared_ptr<Shared> shared;
    tcp::endpoint bound;
    std::thread thread;

    void accept() {
        acceptor.async_accept([this](error_code ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
            if (!ec) {
                if (shared->connections.load() >= shared->options.max_connections) {
                    error_code ignored;
                    socket.close(ignored);
                } else {
                    ++shared->connections;
                    std::make_shared<Connection>(std::move(socket), shared)->read();
                }
            }
            accept();
        });
    }
};

MetricsListener::MetricsListener(MetricsListenerOptions options,
                                 std::function<std::string()> render)
    : impl_(std::make_unique<Impl>()) {
    if (!render) throw Error(ErrorCode::invalid_argument, "render must not be null", "render");
    error_code ec;
    const auto address = asio::ip::make_address(options.address, ec);
    if (ec)
        throw Error(ErrorCode::invalid_argument,
                    "address must be an IPv4 or IPv6 literal, such as 127.0.0.1", "address");
    const tcp::endpoint endpoint(address, options.port);
    impl_->shared = std::make_shared<Shared>();
    impl_->shared->options = std::move(options);
    impl_->shared->render = std::move(render);
    try {
        impl_->acceptor.open(endpoint.protocol());
        impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
        impl_->acceptor.bind(endpoint);
        impl_->acceptor.listen();
        impl_->bound = impl_->acceptor.local_endpoint();
    } catch (const boost::system::system_error& e) {
        throw Error(ErrorCode::unavailable, std::string("cannot listen for metrics on ")
                                                .append(address.to_string())
                                                .append(":")
                                                .append(std::to_string(endpoint.port()))
                                                .append(": ")
                                                .append(e.code().message()));
    }
    impl_->accept();
    impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
}

MetricsListener::~MetricsListener() {
    asio::post(impl_->io, [impl = impl_.get()] {
        error_code ignored;
        impl->acceptor.close(ignored);
        impl->io.stop();  // drops the connections' handlers (and with them the connections)
    });
    impl_->thread.join();
}

std::uint16_t MetricsListener::port() const noexcept {
    return impl_->bound.port();
}

std::string MetricsListener::url() const {
    const std::string host = impl_->bound.address().to_string();
    std::string out = "http://";
    if (impl_->bound.address().is_v6())
        out.append("[").append(host).append("]");
    else
        out.append(host);
    out.append(":").append(std::to_string(impl_->bound.port())).append(impl_->shared->options.path);
    return out;
}

}  // namespace chatbotmgr::beast
