#include "http_client.hpp"

#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>

namespace chatbotmgr::test {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {
bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}
}  // namespace

std::string HttpResponse::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

bool HttpResponse::has_header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return true;
    return false;
}

boost::json::value HttpResponse::json() const {
    return boost::json::parse(body);
}

std::string serialize_request(std::string_view method, std::string_view target,
                              std::string_view body, const Headers& headers) {
    std::string out;
    out.reserve(128 + body.size());
    out.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    bool has_type = false, has_length = false;
    for (const auto& [k, v] : headers) {
        has_type = has_type || iequals(k, "Content-Type");
        has_length = has_length || iequals(k, "Content-Length") || iequals(k, "Transfer-Encoding");
        out.append(k).append(": ").append(v).append("\r\n");
    }
    if (!body.empty() && !has_type) out.append("Content-Type: application/json\r\n");
    if (!has_length && (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT"))
        out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    out.append("\r\n").append(body);
    return out;
}

struct HttpClient::Impl {
    asio::io_context io;
    tcp::socket socket{io};
    boost::beast::flat_buffer buffer;
};

HttpClient::HttpClient(std::uint16_t port) : impl_(std::make_unique<Impl>()) {
    impl_->socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    impl_->socket.set_option(tcp::no_delay(true));
}

HttpClient::~HttpClient() {
    close();
}

void HttpClient::close() {
    boost::system::error_code ec;
    impl_->socket.close(ec);
}

void HttpClient::write_raw(std::string_view bytes) {
    // Errors are ignored: a server may close a connection while an oversized or malformed
    // request is still being sent, which is what some tests provoke.
    boost::system::error_code ec;
    asio::write(impl_->socket, asio::buffer(bytes.data(), bytes.size()), ec);
}

std::optional<HttpResponse> HttpClient::read_response(std::chrono::milliseconds timeout,
                                                      bool to_head) {
    http::response_parser<http::string_body> parser;
    parser.skip(to_head);
    parser.body_limit(boost::none);
    parser.header_limit(1 << 20);
    bool done = false;
    boost::system::error_code result;
    http::async_read(impl_->socket, impl_->buffer, parser,
                     [&](boost::system::error_code ec, std::size_t) {
                         done = true;
                         result = ec;
                     });
    impl_->io.restart();
    impl_->io.run_for(timeout);
    if (!done) {
        boost::system::error_code ignored;
        impl_->socket.cancel(ignored);
        impl_->io.restart();
        impl_->io.run();
        return std::nullopt;
    }
    if (result) return std::nullopt;
    auto msg = parser.release();
    HttpResponse out;
    out.status = static_cast<int>(msg.result_int());
    for (const auto& field : msg)
        out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    out.body = std::move(msg.body());
    out.keep_alive = msg.keep_alive();
    return out;
}

HttpResponse HttpClient::request(std::string_view method, std::string_view target,
                                 std::string_view body, const Headers& headers) {
    write_raw(serialize_request(method, target, body, headers));
    auto res = read_response();
    if (!res)
        throw std::runtime_error("no response to " + std::string(method) + " " +
                                 std::string(target));
    return std::move(*res);
}

bool HttpClient::wait_closed(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    impl_->buffer.clear();
    char scratch[4096];
    while (std::chrono::steady_clock::now() < deadline) {
        bool done = false;
        boost::system::error_code result;
        impl_->socket.async_read_some(asio::buffer(scratch),
                                      [&](boost::system::error_code ec, std::size_t) {
                                          done = true;
                                          result = ec;
                                      });
        impl_->io.restart();
        impl_->io.run_until(deadline);
        if (!done) {
            boost::system::error_code ignored;
            impl_->socket.cancel(ignored);
            impl_->io.restart();
            impl_->io.run();
            return false;
        }
        if (result) return true;  // EOF or reset: closed
    }
    return false;
}

}  // namespace chatbotmgr::test
