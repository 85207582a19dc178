// PrometheusMetrics: the built-in metrics of API.md section 16 on prometheus-cpp.
//
// A beast::MetricsSink (hand it to ServerOptions::metrics and ApiOptions::metrics) that
// also takes the storage's commits (storage_committed(), e.g. from
// sqlite::SqliteOptions::on_commit) and renders everything in the Prometheus text format
// (scrape(), e.g. behind a beast::MetricsListener). Its metrics live in a
// prometheus::Registry: its own, or the host's -- then they appear beside the host's own
// metrics wherever the host exposes that registry. The process_* metrics are read from
// /proc at each scrape() and are not in the registry (a host that exposes the registry
// itself usually has its own).
//
// Labels are bounded: method (RFC 9110 methods, PATCH, OTHER), route (the route table's
// names and "unmatched"), code (status codes), result (the enums of operations.hpp).
//
// Threading: every method may be called from many threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "chatbotmgr/beast/operations.hpp"

namespace prometheus {
class Registry;
}

namespace chatbotmgr::prometheus {

struct PrometheusOptions {
    // Where the metrics are registered. Default: null, a registry of their own.
    std::shared_ptr<::prometheus::Registry> registry;
    // The "version" label of chatbotmgr_build_info. Default: this library's version.
    std::string version;
    // Add process_* (CPU, memory, file descriptors, start time; Linux /proc) to scrape().
    // Default: true.
    bool process_metrics = true;
};

class PrometheusMetrics final : public beast::MetricsSink {
  public:
    explicit PrometheusMetrics(PrometheusOptions options = {});
    ~PrometheusMetrics() override;
    PrometheusMetrics(const PrometheusMetrics&) = delete;
    PrometheusMetrics& operator=(const PrometheusMetrics&) = delete;

    // beast::MetricsSink
    void connection_opened() noexcept override;
    void connection_closed() noexcept override;
    void request_started() noexcept override;
    void request_finished(const beast::RequestRecord& request) noexcept override;
    void key_verified(beast::KeyVerification result) noexcept override;
    void login_answered(beast::LoginOutcome result) noexcept override;

    // One storage commit: batch writes committed together, taking duration (from BEGIN to
    // the end of COMMIT, fsync included).
    void storage_committed(std::chrono::nanoseconds duration, std::size_t batch) noexcept;

    // Everything in the registry (the host's metrics included) and process_*, in the
    // Prometheus text format 0.0.4.
    std::string scrape() const;

    const std::shared_ptr<::prometheus::Registry>& registry() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace chatbotmgr::prometheus
