// The ceiling of bench/http: a bare asynchronous Beast server that answers every request
// with the same ~200-byte JSON body. No routing, no authentication, no storage, no log --
// what is left is the cost of HTTP/1.1 over TCP with Beast on this machine, the most any
// Beast-based server can do here. bench/http/run.sh measures every scenario of
// chatbotmgr-server as a ratio to this.
//
//   chatbotmgr_ceiling_server [--listen 127.0.0.1:0] [--threads 2]
//
// Prints "listening on http://HOST:PORT" once it accepts connections; stops on SIGINT or
// SIGTERM.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// Shaped like one chatbot of the real API, so both servers move about as many bytes.
constexpr std::string_view kBody =
    R"({"id":"5b0a3f9e-2c1d-4e8f-9a7b-1c2d3e4f5a6b","name":"Support Bot",)"
    R"("api_key_prefix":"ob_live_a1b2c3...","settings":{"onboarded":true,)"
    R"("theme":{"color":"blue"}},"created_at":"2024-01-15T10:00:00Z"})";

using Response = http::response<http::string_body>;

// Built once; every connection writes this same message (headers like the real server's).
std::shared_ptr<const Response> make_response() {
    auto res = std::make_shared<Response>(http::status::ok, 11);
    res->set(http::field::content_type, "application/json");
    res->set(http::field::cache_control, "no-store");
    res->set("X-Content-Type-Options", "nosniff");
    res->keep_alive(true);
    res->body() = std::string(kBody);
    res->prepare_payload();
    return res;
}

class Connection : public std::enable_shared_from_this<Connection> {
  public:
    Connection(tcp::socket&& socket, std::shared_ptr<const Response> response)
        : stream_(std::move(socket)), response_(std::move(response)) {}

    void start() { read(); }

  private:
    void read() {
        request_ = {};
        http::async_read(stream_, buffer_, request_,
                         [self = shared_from_this()](error_code ec, std::size_t) {
                             if (ec) return self->close();
                             self->write();
                         });
    }

    void write() {
        const bool keep_alive = request_.keep_alive();
        http::async_write(stream_, *response_,
                          [self = shared_from_this(), keep_alive](error_code ec, std::size_t) {
                              if (ec || !keep_alive) return self->close();
                              self->read();
                          });
    }

    void close() {
        error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    boost::beast::tcp_stream stream_;
    boost::beast::flat_buffer buffer_;
    http::request<http::string_body> request_;
    std::shared_ptr<const Response> response_;
};

class Listener : public std::enable_shared_from_this<Listener> {
  public:
    Listener(asio::io_context& io, const tcp::endpoint& endpoint)
        : io_(io), acceptor_(asio::make_strand(io)), response_(make_response()) {
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen(asio::socket_base::max_listen_connections);
    }

    tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

    void accept() {
        acceptor_.async_accept(
            asio::make_strand(io_), [self = shared_from_this()](error_code ec, tcp::socket socket) {
                if (!ec) {
                    socket.set_option(tcp::no_delay(true), ec);
                    std::make_shared<Connection>(std::move(socket), self->response_)->start();
                }
                if (self->acceptor_.is_open()) self->accept();
            });
    }

    void close() {
        error_code ec;
        acceptor_.close(ec);
    }

  private:
    asio::io_context& io_;
    tcp::acceptor acceptor_;
    std::shared_ptr<const Response> response_;
};

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr,
                 "chatbotmgr_ceiling_server: %s\n"
                 "usage: chatbotmgr_ceiling_server [--listen HOST:PORT] [--threads N]\n",
                 message.c_str());
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    unsigned long port = 0;
    unsigned long threads = 2;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc) usage_error("missing value for " + arg);
        const std::string value = argv[++i];
        if (arg == "--listen") {
            const auto colon = value.rfind(':');
            if (colon == std::string::npos) usage_error("--listen: expected HOST:PORT");
            host = value.substr(0, colon);
            port = std::strtoul(value.c_str() + colon + 1, nullptr, 10);
            if (port > 65535) usage_error("--listen: bad port");
        } else if (arg == "--threads") {
            threads = std::strtoul(value.c_str(), nullptr, 10);
            if (threads < 1 || threads > 256) usage_error("--threads: 1 to 256");
        } else {
            usage_error("unknown flag " + arg);
        }
    }

    asio::io_context io(static_cast<int>(threads));
    auto listener = std::make_shared<Listener>(
        io, tcp::endpoint{asio::ip::make_address(host), static_cast<unsigned short>(port)});
    listener->accept();

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const error_code&, int) {
        listener->close();
        io.stop();
    });

    const auto endpoint = listener->local_endpoint();
    std::printf("listening on http://%s:%u\n", endpoint.address().to_string().c_str(),
                static_cast<unsigned>(endpoint.port()));
    std::fflush(stdout);

    std::vector<std::thread> pool;
    for (unsigned long i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : pool) t.join();
    return 0;
}
