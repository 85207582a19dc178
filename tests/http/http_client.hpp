// A small synchronous HTTP/1.1 client over a real loopback socket, for the HTTP tests.
// Beast stays inside http_client.cpp so the test files compile quickly.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

namespace chatbotmgr::test {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
    int status = 0;
    Headers headers;
    std::string body;
    bool keep_alive = true;

    // First header with this name (case-insensitive); empty when absent.
    std::string header(std::string_view name) const;
    bool has_header(std::string_view name) const;
    // The body parsed as JSON (throws when it is not JSON).
    boost::json::value json() const;
};

inline constexpr std::chrono::milliseconds kIoTimeout{10'000};

class HttpClient {
  public:
    explicit HttpClient(std::uint16_t port);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // Sends one request and reads its response. Adds Host, and Content-Type:
    // application/json when there is a body and headers has no Content-Type.
    // Throws std::runtime_error when the connection fails or closes without an answer.
    HttpResponse request(std::string_view method, std::string_view target,
                         std::string_view body = {}, const Headers& headers = {});

    // Raw bytes, for malformed, oversized, partial and pipelined requests.
    void write_raw(std::string_view bytes);
    // Reads one response; nullopt when the peer closed (or reset) before one arrived or
    // the timeout passed. to_head: the answer to a HEAD request (no body follows).
    std::optional<HttpResponse> read_response(std::chrono::milliseconds timeout = kIoTimeout,
                                              bool to_head = false);
    // Waits until the server closes the connection (true) or timeout passes (false).
    // Any bytes that arrive meanwhile are dropped.
    bool wait_closed(std::chrono::milliseconds timeout = kIoTimeout);
    void close();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Serializes a request the way HttpClient::request does (for write_raw).
std::string serialize_request(std::string_view method, std::string_view target,
                              std::string_view body, const Headers& headers);

}  // namespace chatbotmgr::test
