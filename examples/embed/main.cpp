// embed_host: a small host service that embeds chatbotmgr.
//
// One Beast HTTP server serves the host's own routes (GET /hello, GET /whoami,
// GET /healthz) and mounts chatbotmgr's API beside them (everything Api::handles():
// /api/v1/...). Identity comes from the host's own session check (gateway_auth.hpp) and
// the host's own organization ids; chatbots live in an SQLite file.
//
//   EMBED_GATEWAY_SECRET=<at least 32 bytes> embed_host [--port N] [--db PATH]
//
// Prints "listening on http://127.0.0.1:<port>" once it accepts connections; --port 0
// (the default) picks a free port. SIGINT or SIGTERM stops it (exit 0).
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <chatbotmgr/beast/api.hpp>
#include <chatbotmgr/beast/session_check.hpp>
#include <chatbotmgr/registry.hpp>
#include <chatbotmgr/sqlite/sqlite_store.hpp>

#include "gateway_auth.hpp"

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Request = chatbotmgr::beast::Api::Request;
using Response = chatbotmgr::beast::Api::Response;

constexpr std::uint32_t kMaxHeaderBytes = 16 * 1024;
constexpr std::uint64_t kHostBodyLimit = 4 * 1024;  // the host's routes take no body
constexpr auto kReadTimeout = std::chrono::seconds(30);

// The session check's view of a Beast request (for the host's own /whoami).
class HeadView final : public chatbotmgr::beast::RequestView {
  public:
    explicit HeadView(const Request& req) : req_(req) {}
    std::string_view method() const noexcept override { return req_.method_string(); }
    std::string_view target() const noexcept override { return req_.target(); }
    std::string_view header(std::string_view name) const noexcept override {
        const auto it = req_.find(name);
        return it == req_.end() ? std::string_view() : std::string_view(it->value());
    }

  private:
    const Request& req_;
};

struct Host {
    std::shared_ptr<chatbotmgr::beast::Api> api;
    std::shared_ptr<embed::GatewaySessionCheck> gateway;
};

Response json_response(const Request& req, http::status status, const boost::json::object& body) {
    Response res{status, req.version()};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.body() = boost::json::serialize(body);
    res.prepare_payload();
    return res;
}

// The host's own routes. They run on the I/O thread: none of them touches storage.
Response host_route(const Host& host, const Request& req) {
    const std::string_view path = req.target().substr(0, req.target().find('?'));
    if (path != "/hello" && path != "/whoami" && path != "/healthz")
        return json_response(req, http::status::not_found, {{"error", "no such page"}});
    if (req.method() != http::verb::get) {
        Response res =
            json_response(req, http::status::method_not_allowed, {{"error", "method not allowed"}});
        res.set(http::field::allow, "GET");
        return res;
    }
    if (path == "/healthz") return json_response(req, http::status::ok, {{"ok", true}});
    if (path == "/hello")
        return json_response(req, http::status::ok,
                             {{"service", "embed_host"}, {"message", "hello from the host"}});
    const auto principal = host.gateway->check(HeadView(req));
    if (!principal)
        return json_response(req, http::status::unauthorized, {{"error", "not signed in"}});
    return json_response(req, http::status::ok,
                         {{"user", principal->subject},
                          {"org", principal->org_id},
                          {"org_name", host.gateway->tenant_name(principal->org_id)}});
}

// One client connection: requests are read and answered one at a time, in order.
class Connection : public std::enable_shared_from_this<Connection> {
  public:
    Connection(tcp::socket socket, std::shared_ptr<Host> host)
        : stream_(std::move(socket)), host_(std::move(host)) {}

    void start() {
        asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
    }

  private:
    void read() {
        parser_.emplace();
        parser_->header_limit(kMaxHeaderBytes);
        stream_.expires_after(kReadTimeout);
        http::async_read_header(
            stream_, buffer_, *parser_,
            [self = shared_from_this()](error_code ec, std::size_t) { self->on_header(ec); });
    }

    void on_header(error_code ec) {
        if (ec == http::error::header_limit) {
            keep_alive_ = false;
            return write(error_response(http::status::request_header_fields_too_large));
        }
        if (ec) return close();
        const auto target = parser_->get().target();
        const bool for_api = host_->api->handles(target);
        // chatbotmgr's routes have their own body limits, decided before the body is read.
        const std::uint64_t limit = for_api ? host_->api->body_limit(target) : kHostBodyLimit;
        if (const auto length = parser_->content_length(); length && *length > limit) {
            if (for_api) return dispatch(true);
            keep_alive_ = false;  // the unread body is still on the wire
            return write(error_response(http::status::payload_too_large));
        }
        parser_->body_limit(limit);
        if (boost::beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
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
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](error_code ec, std::size_t) {
                             if (ec == http::error::body_limit) return self->dispatch(true);
                             if (ec) return self->close();
                             self->dispatch(false);
                         });
    }

    void dispatch(bool body_over_limit) {
        Request req = parser_->release();
        keep_alive_ = req.keep_alive() && !body_over_limit;
        if (!host_->api->handles(req.target())) {
            if (body_over_limit) return write(error_response(http::status::payload_too_large));
            return write(host_route(*host_, req));
        }

        // Storage work runs on the Api's own thread pool; the answer comes back here.
        stream_.expires_never();
        chatbotmgr::beast::RequestContext context;
        error_code ec;
        const auto peer = stream_.socket().remote_endpoint(ec);
        if (!ec) context.client_address = peer.address().to_string();
        context.body_over_limit = body_over_limit;
        host_->api->handle(
            std::move(req), std::move(context), [self = shared_from_this()](Response res) {
                asio::post(self->stream_.get_executor(),
                           [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
            });
    }

    void write(Response res) {
        if (!keep_alive_) res.keep_alive(false);
        res_ = std::move(res);
        stream_.expires_after(kReadTimeout);
        http::async_write(stream_, res_, [self = shared_from_this()](error_code ec, std::size_t) {
            if (ec || !self->res_.keep_alive()) return self->close();
            self->read();
        });
    }

    // An answer of the host's own to a request it could not read in full.
    static Response error_response(http::status status) {
        Response res{status, 11};
        res.set(http::field::content_type, "application/json");
        res.body() = boost::json::serialize(
            boost::json::object{{"error", std::string(http::obsolete_reason(status))}});
        res.prepare_payload();
        return res;
    }

    void close() {
        error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.close();
    }

    boost::beast::tcp_stream stream_;
    boost::beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    Response res_;
    bool keep_alive_ = true;
    std::shared_ptr<Host> host_;
};

void accept(tcp::acceptor& acceptor, const std::shared_ptr<Host>& host) {
    acceptor.async_accept(asio::make_strand(acceptor.get_executor()),
                          [&acceptor, host](error_code ec, tcp::socket socket) {
                              if (ec == asio::error::operation_aborted) return;  // stopping
                              if (!ec)
                                  std::make_shared<Connection>(std::move(socket), host)->start();
                              accept(acceptor, host);
                          });
}

int usage() {
    std::fprintf(stderr, "usage: EMBED_GATEWAY_SECRET=... embed_host [--port N] [--db PATH]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    unsigned short port = 0;
    std::string db = "embed_host.db";
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--port" && i + 1 < argc) {
            const std::string_view value = argv[++i];
            const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), port);
            if (ec != std::errc() || end != value.data() + value.size()) return usage();
        } else if (arg == "--db" && i + 1 < argc) {
            db = argv[++i];
        } else {
            return usage();
        }
    }
    const char* secret = std::getenv("EMBED_GATEWAY_SECRET");
    if (secret == nullptr || std::string_view(secret).size() < 32) {
        std::fprintf(stderr, "embed_host: EMBED_GATEWAY_SECRET must hold at least 32 bytes\n");
        return usage();
    }

    try {
        // chatbotmgr: storage, registry, and the HTTP routes with our own session check.
        chatbotmgr::sqlite::SqliteOptions storage;
        storage.path = db;
        auto registry = std::make_shared<chatbotmgr::ChatbotRegistry>(
            std::make_shared<chatbotmgr::sqlite::SqliteStore>(storage));
        auto host = std::make_shared<Host>();
        host->gateway = std::make_shared<embed::GatewaySessionCheck>(
            secret,
            std::map<std::string, std::string>{{"acct-1001", "Acme"}, {"acct-1002", "Globex"}});

        asio::io_context io;
        tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), port});
        const unsigned short bound = acceptor.local_endpoint().port();

        chatbotmgr::beast::ApiOptions api_options;
        api_options.public_origin = "http://127.0.0.1:" + std::to_string(bound);
        api_options.health_routes = false;  // the host answers /healthz itself
        host->api = std::make_shared<chatbotmgr::beast::Api>(registry, host->gateway, api_options);

        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&](error_code, int) {
            acceptor.close();
            host->api->stop();  // finishes queued storage work; later requests get 503
            io.stop();
        });

        accept(acceptor, host);
        std::printf("listening on http://127.0.0.1:%u\n", static_cast<unsigned>(bound));
        std::fflush(stdout);
        io.run();
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "embed_host: %s\n", e.what());
        return 1;
    }
}
