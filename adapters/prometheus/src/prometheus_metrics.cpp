#include "chatbotmgr/prometheus/prometheus_metrics.hpp"

#include <exception>
#include <string>
#include <utility>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "process_metrics.hpp"

namespace chatbotmgr::prometheus {

namespace pm = ::prometheus;
using beast::KeyVerification;
using beast::LoginOutcome;

namespace {

// The bucket boundaries that OpenTelemetry's semantic conventions give for
// http.server.request.duration, in seconds.
const pm::Histogram::BucketBoundaries kHttpBuckets = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                                      0.5,   0.75, 1.0,   2.5,  5.0,   7.5, 10.0};
// A commit is an fsync or two: sub-millisecond on fast disks, seconds on a sick one.
const pm::Histogram::BucketBoundaries kCommitBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
// Writes per commit: up to the writer's max_batch (256 by default).
const pm::Histogram::BucketBoundaries kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256};

constexpr KeyVerification kKeyResults[] = {KeyVerification::valid, KeyVerification::previous_key,
                                           KeyVerification::invalid, KeyVerification::expired,
                                           KeyVerification::rate_limited};
constexpr LoginOutcome kLoginResults[] = {LoginOutcome::success, LoginOutcome::failure,
                                          LoginOutcome::rate_limited, LoginOutcome::rejected,
                                          LoginOutcome::unavailable};

double seconds(std::chrono::nanoseconds d) {
    return std::chrono::duration<double>(d).count();
}

}  // namespace

struct PrometheusMetrics::Impl {
    std::shared_ptr<pm::Registry> registry;
    bool process_metrics;
    pm::Family<pm::Counter>& requests;
    pm::Family<pm::Histogram>& durations;
    pm::Gauge& in_flight;
    pm::Gauge& connections;
    // One series per result, made up front: every result shows (at 0) from the first
    // scrape, and counting needs no label lookup.
    pm::Counter* keys[std::size(kKeyResults)];
    pm::Counter* logins[std::size(kLoginResults)];
    pm::Histogram& commit_seconds;
    pm::Histogram& commit_batch;

    explicit Impl(PrometheusOptions& o)
        : registry(o.registry ? std::move(o.registry) : std::make_shared<pm::Registry>()),
          process_metrics(o.process_metrics),
          requests(pm::BuildCounter()
                       .Name("chatbotmgr_http_requests_total")
                       .Help("HTTP requests answered, by method, route template and status code.")
                       .Register(*registry)),
          durations(pm::BuildHistogram()
                        .Name("chatbotmgr_http_request_duration_seconds")
                        .Help("Time from a request's first byte to its answer written, by "
                              "method and route template.")
                        .Register(*registry)),
          in_flight(pm::BuildGauge()
                        .Name("chatbotmgr_http_requests_in_flight")
                        .Help("Requests whose header is in and whose answer is not yet written.")
                        .Register(*registry)
                        .Add({})),
          connections(pm::BuildGauge()
                          .Name("chatbotmgr_http_connections_open")
                          .Help("Open client connections of the API listener.")
                          .Register(*registry)
                          .Add({})),
          commit_seconds(pm::BuildHistogram()
                             .Name("chatbotmgr_storage_commit_duration_seconds")
                             .Help("Time of one storage commit (a group of writes, one fsync).")
                             .Register(*registry)
                             .Add({}, kCommitBuckets)),
          commit_batch(pm::BuildHistogram()
                           .Name("chatbotmgr_storage_commit_batch_size")
                           .Help("Writes committed together in one storage commit.")
                           .Register(*registry)
                           .Add({}, kBatchBuckets)) {
        auto& key_family = pm::BuildCounter()
                               .Name("chatbotmgr_key_verifications_total")
                               .Help("API-key checks of capture requests, by result.")
                               .Register(*registry);
        for (std::size_t i = 0; i < std::size(kKeyResults); ++i)
            keys[i] = &key_family.Add({{"result", std::string(beast::to_string(kKeyResults[i]))}});
        auto& login_family = pm::BuildCounter()
                                 .Name("chatbotmgr_logins_total")
                                 .Help("Logins answered, by result.")
                                 .Register(*registry);
        for (std::size_t i = 0; i < std::size(kLoginResults); ++i)
            logins[i] =
                &login_family.Add({{"result", std::string(beast::to_string(kLoginResults[i]))}});
        pm::BuildGauge()
            .Name("chatbotmgr_build_info")
            .Help("Always 1; the labels name the build.")
            .Register(*registry)
            .Add({{"version", o.version.empty() ? std::string(CHATBOTMGR_VERSION) : o.version}})
            .Set(1);
    }
};

PrometheusMetrics::PrometheusMetrics(PrometheusOptions options)
    : impl_(std::make_unique<Impl>(options)) {}

PrometheusMetrics::~PrometheusMetrics() = default;

void PrometheusMetrics::connection_opened() noexcept {
    impl_->connections.Increment();
}

void PrometheusMetrics::connection_closed() noexcept {
    impl_->connections.Decrement();
}

void PrometheusMetrics::request_started() noexcept {
    impl_->in_flight.Increment();
}

void PrometheusMetrics::request_finished(const beast::RequestRecord& request) noexcept {
    impl_->in_flight.Decrement();
    if (request.status == 0) return;  // no answer: nothing to count
    try {
        const std::string method(request.method == "-" ? "OTHER" : request.method);
        const std::string route(request.route);
        impl_->requests
            .Add({{"method", method}, {"route", route}, {"code", std::to_string(request.status)}})
            .Increment();
        impl_->durations.Add({{"method", method}, {"route", route}}, kHttpBuckets)
            .Observe(seconds(request.duration));
    } catch (const std::exception&) {
        // Out of memory for a new series: the request goes uncounted.
    }
}

void PrometheusMetrics::key_verified(KeyVerification result) noexcept {
    impl_->keys[static_cast<std::size_t>(result)]->Increment();
}

void PrometheusMetrics::login_answered(LoginOutcome result) noexcept {
    impl_->logins[static_cast<std::size_t>(result)]->Increment();
}

void PrometheusMetrics::storage_committed(std::chrono::nanoseconds duration,
                                          std::size_t batch) noexcept {
    impl_->commit_seconds.Observe(seconds(duration));
    impl_->commit_batch.Observe(static_cast<double>(batch));
}

std::string PrometheusMetrics::scrape() const {
    std::vector<pm::MetricFamily> families = impl_->registry->Collect();
    if (impl_->process_metrics) {
        try {
            for (auto& f : detail::process_metrics()) families.push_back(std::move(f));
        } catch (const std::exception&) {
            // /proc unreadable or in a shape we do not know: no process_* this time.
        }
    }
    return pm::TextSerializer().Serialize(families);
}

const std::shared_ptr<pm::Registry>& PrometheusMetrics::registry() const noexcept {
    return impl_->registry;
}

}  // namespace chatbotmgr::prometheus
