#include "http_client.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

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

// CHATBOTMGR_RECORD_RESPONSES=<file>: every final answer any HttpClient reads is appended
// to <file> as one JSON line {method, target, status, headers, body}, for
// tests/openapi/http_suite.py to check against docs/openapi.yaml. method and target are
// null when the bytes sent were not an HTTP/1.x request (or nothing was sent). Interim 1xx
// answers are not final answers and are not recorded; nor are bytes that wait_closed()
// drops. One lock for the file: clients run on several threads.
class Recorder {
  public:
    static Recorder* get() {
        static Recorder recorder;
        return recorder.file_ ? &recorder : nullptr;
    }
    void write(const std::string& line) {
        std::lock_guard lock(mutex_);
        std::fwrite(line.data(), 1, line.size(), file_);
        std::fflush(file_);
    }

  private:
    Recorder() {
        const char* path = std::getenv("CHATBOTMGR_RECORD_RESPONSES");
        if (!path || !*path) return;
        file_ = std::fopen(path, "a");
        if (!file_)
            throw std::runtime_error(std::string("cannot open CHATBOTMGR_RECORD_RESPONSES=") +
                                     path);
    }
    ~Recorder() {
        if (file_) std::fclose(file_);
    }
    std::mutex mutex_;
    std::FILE* file_ = nullptr;
};

// Reads a request's method, target and version and skips the rest (fields and body), so
// that any header block the tests send fits. Notes what RFC 9112 makes a server refuse
// (Host, Transfer-Encoding), which Beast's parser accepts.
class RequestLineParser final : public http::basic_parser<true> {
  public:
    std::string method, target;
    int version = 0;
    int hosts = 0, codings = 0;
    bool content_length = false, bad_host = false, bad_coding = false;

    // True when the server answers this head 400 as not (strict) HTTP.
    bool refused() const {
        return hosts > 1 || (hosts == 0 && version == 11) || bad_host ||
               (codings > 0 && (codings > 1 || version != 11 || content_length || bad_coding));
    }

  private:
    void on_request_impl(http::verb, boost::beast::string_view method_str,
                         boost::beast::string_view target_str, int v,
                         boost::system::error_code&) override {
        method.assign(method_str.data(), method_str.size());
        target.assign(target_str.data(), target_str.size());
        version = v;
    }
    void on_response_impl(int, boost::beast::string_view, int,
                          boost::system::error_code&) override {}
    void on_field_impl(http::field f, boost::beast::string_view, boost::beast::string_view value,
                       boost::system::error_code&) override {
        if (f == http::field::host) {
            ++hosts;
            for (char c : value)
                if (!std::isalnum(static_cast<unsigned char>(c)) &&
                    std::string_view("-._~!$&'()*+,;=%:[]").find(c) == std::string_view::npos)
                    bad_host = true;
        } else if (f == http::field::transfer_encoding) {
            ++codings;
            bad_coding = !iequals(std::string_view(value.data(), value.size()), "chunked");
        } else if (f == http::field::content_length) {
            content_length = true;
        }
    }
    void on_header_impl(boost::system::error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>&,
                           boost::system::error_code&) override {}
    std::size_t on_body_impl(boost::beast::string_view body, boost::system::error_code&) override {
        return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, boost::beast::string_view,
                              boost::system::error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                   boost::system::error_code&) override {
        return body.size();
    }
    void on_finish_impl(boost::system::error_code&) override {}
};

// The requests in the bytes a client wrote, in order, for pairing with the answers it reads
// (pipelined requests included). Parsed with Beast as the server does; once the bytes stop
// being HTTP/1.x, one request without method and target stands for the rest.
class SentRequests {
  public:
    struct Sent {
        std::optional<std::string> method, target;  // nullopt: not an HTTP/1.x request
    };

    void feed(std::string_view bytes) {
        if (broken_) return;
        pending_.append(bytes);
        while (!pending_.empty()) {
            if (!parser_) {
                parser_.emplace();
                parser_->header_limit(std::numeric_limits<std::uint32_t>::max());
                parser_->body_limit(boost::none);
                parser_->eager(true);
                header_seen_ = false;
            }
            // A field line continued on the next line (obs-fold): the server refuses it.
            if (!header_seen_) {
                const std::size_t end = pending_.find("\r\n\r\n");
                for (std::size_t i = pending_.find("\r\n"); end != std::string::npos && i < end;
                     i = pending_.find("\r\n", i + 2))
                    if (pending_[i + 2] == ' ' || pending_[i + 2] == '\t') return not_http();
            }
            boost::system::error_code ec;
            const auto used = parser_->put(asio::buffer(pending_.data(), pending_.size()), ec);
            pending_.erase(0, used);
            if (!header_seen_ && parser_->is_header_done()) {
                header_seen_ = true;
                if (parser_->version != 10 && parser_->version != 11) return not_http();
                if (parser_->refused()) return not_http();
                sent_.push_back({parser_->method, parser_->target});
            }
            if (ec == http::error::need_more) return;
            if (ec) {
                if (!header_seen_) return not_http();
                return stop();
            }
            if (parser_->is_done())
                parser_.reset();
            else if (used == 0)
                return;
        }
    }

    Sent next() {
        if (sent_.empty()) return {};
        Sent out = std::move(sent_.front());
        sent_.pop_front();
        return out;
    }

  private:
    // The rest of the bytes are not (a continuation of) requests it could read.
    void not_http() {
        sent_.push_back({});
        stop();
    }
    void stop() {
        broken_ = true;
        parser_.reset();
        pending_.clear();
    }

    std::string pending_;
    std::optional<RequestLineParser> parser_;
    bool header_seen_ = false;
    bool broken_ = false;
    std::deque<Sent> sent_;
};

void record(Recorder& recorder, const SentRequests::Sent& request, const HttpResponse& res) {
    namespace json = boost::json;
    json::object line;
    line["method"] = request.method ? json::value(*request.method) : json::value(nullptr);
    line["target"] = request.target ? json::value(*request.target) : json::value(nullptr);
    line["status"] = res.status;
    json::array headers;
    for (const auto& [k, v] : res.headers)
        headers.push_back(json::array{json::string(k), json::string(v)});
    line["headers"] = std::move(headers);
    line["body"] = res.body;
    recorder.write(json::serialize(line) + "\n");
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
    Recorder* recorder = Recorder::get();
    SentRequests sent;  // only while recording
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
    if (impl_->recorder) impl_->sent.feed(bytes);
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
    if (impl_->recorder && out.status >= 200) record(*impl_->recorder, impl_->sent.next(), out);
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
