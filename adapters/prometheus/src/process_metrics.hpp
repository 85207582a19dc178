// Internal: the standard process_* metrics of the Prometheus client libraries, from /proc.
#pragma once

#include <vector>

#include <prometheus/metric_family.h>

namespace chatbotmgr::prometheus::detail {

// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds -- those that can be read
// (none, off Linux).
std::vector<::prometheus::MetricFamily> process_metrics();

}  // namespace chatbotmgr::prometheus::detail
