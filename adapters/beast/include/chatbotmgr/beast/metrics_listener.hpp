// MetricsListener: the separate listener of `GET /metrics` (API.md section 16).
//
// A small HTTP/1.1 server on a thread and io_context of its own, so that a scrape is
// answered however busy the API's listener is, and the API's port never serves metrics.
// It answers GET and HEAD of one path with whatever render() returns (the Prometheus text
// of chatbotmgr::prometheus::PrometheusMetrics::scrape(), or the host's own); every other
// path is 404, every other method 405. No credentials: bind it to an address that only the
// scraper reaches.
//
// Threading: render() runs on the listener's thread, one call at a time.
// Errors: the constructor throws chatbotmgr::Error -- invalid_argument for an address
// that is not an IP literal or a null render, unavailable when it cannot bind.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace chatbotmgr::beast {

struct MetricsListenerOptions {
    // Address to listen on (IPv4 or IPv6 literal). Default: "127.0.0.1".
    std::string address = "127.0.0.1";
    // Port; 0 picks a free one (see port()). Default: 9464.
    std::uint16_t port = 9464;
    // The one path served. Default: "/metrics".
    std::string path = "/metrics";
    // Content-Type of the answer. Default: Prometheus text format 0.0.4.
    std::string content_type = "text/plain; version=0.0.4; charset=utf-8";
    // Most connections at once; more are closed at once. Default: 16.
    std::size_t max_connections = 16;
    // Time a connection may take to send a request, or sit idle, or take the answer.
    // Default: 10 seconds.
    std::chrono::milliseconds timeout = std::chrono::seconds(10);
};

class MetricsListener {
  public:
    // Binds, listens and starts serving on a thread of its own.
    MetricsListener(MetricsListenerOptions options, std::function<std::string()> render);
    // Stops accepting, closes every connection and joins the thread.
    ~MetricsListener();
    MetricsListener(const MetricsListener&) = delete;
    MetricsListener& operator=(const MetricsListener&) = delete;

    // The port actually bound (useful with port 0).
    std::uint16_t port() const noexcept;
    // "http://127.0.0.1:9464/metrics".
    std::string url() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace chatbotmgr::beast
