#include "process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>

namespace chatbotmgr::prometheus::detail {

namespace {

using ::prometheus::ClientMetric;
using ::prometheus::MetricFamily;
using ::prometheus::MetricType;

MetricFamily family(const char* name, const char* help, MetricType type, double value) {
    ClientMetric metric;
    if (type == MetricType::Counter)
        metric.counter.value = value;
    else
        metric.gauge.value = value;
    return MetricFamily{name, help, type, {metric}};
}

// The fields of /proc/self/stat after the command name (which may hold spaces and
// parentheses): field 3 (state) first.
std::optional<std::vector<std::string>> stat_fields() {
    std::ifstream in("/proc/self/stat");
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    const std::size_t end = line.rfind(')');
    if (end == std::string::npos) return std::nullopt;
    std::istringstream rest(line.substr(end + 1));
    std::vector<std::string> fields;
    for (std::string f; rest >> f;) fields.push_back(f);
    if (fields.size() < 22) return std::nullopt;
    return fields;
}

// The boot time in seconds since the epoch (/proc/stat btime).
std::optional<double> boot_time() {
    std::ifstream in("/proc/stat");
    for (std::string key; in >> key;) {
        if (key == "btime") {
            double t = 0;
            if (in >> t) return t;
            return std::nullopt;
        }
        in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
    return std::nullopt;
}

std::optional<double> open_fds() {
    std::error_code ec;
    std::filesystem::directory_iterator it("/proc/self/fd", ec);
    if (ec) return std::nullopt;
    double n = 0;
    for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
        if (ec) return std::nullopt;
        ++n;
    }
    return n - 1;  // the directory's own descriptor, open while it is listed
}

}  // namespace

std::vector<MetricFamily> process_metrics() {
    std::vector<MetricFamily> out;
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    // Fields of stat(5), counted from 1; fields[0] is field 3.
    if (const auto f = stat_fields(); f && ticks > 0) {
        const auto field = [&](int n) { return std::stod((*f)[static_cast<std::size_t>(n - 3)]); };
        out.push_back(family("process_cpu_seconds_total",
                             "Total user and system CPU time spent in seconds.",
                             MetricType::Counter, (field(14) + field(15)) / ticks));
        out.push_back(family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                             MetricType::Gauge, field(23)));
        out.push_back(family("process_resident_memory_bytes", "Resident memory size in bytes.",
                             MetricType::Gauge, field(24) * page));
        if (const auto boot = boot_time())
            out.push_back(family("process_start_time_seconds",
                                 "Start time of the process since unix epoch in seconds.",
                                 MetricType::Gauge, *boot + field(22) / ticks));
    }
    if (const auto fds = open_fds())
        out.push_back(family("process_open_fds", "Number of open file descriptors.",
                             MetricType::Gauge, *fds));
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0)
        out.push_back(
            family("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
                   limit.rlim_cur == RLIM_INFINITY ? -1.0 : static_cast<double>(limit.rlim_cur)));
    return out;
}

}  // namespace chatbotmgr::prometheus::detail
