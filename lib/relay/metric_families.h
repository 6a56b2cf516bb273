// The families of pwgrid::Metrics (metrics.h) as the relay records into them: a counter, gauge or
// histogram per browser type resolved once, so the data path never looks a series up. C++17 (the
// relay's island). Internal header.
#ifndef PWGRID_LIB_RELAY_METRIC_FAMILIES_H_
#define PWGRID_LIB_RELAY_METRIC_FAMILIES_H_

#include "lib/common/internal.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "pwgrid/types.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid::internal {

inline constexpr std::array<BrowserType, 3> kAllBrowsers = {
    BrowserType::kChromium, BrowserType::kFirefox, BrowserType::kWebkit};
inline size_t BrowserIndex(BrowserType b) { return static_cast<size_t>(b); }

// The sessions an available worker can still take under `limits` (concurrent and lifetime).
inline int64_t FreeSlots(const WorkerLoad& w, const SessionLimits& limits) {
  return std::max<int64_t>(
      0, std::min(limits.max_concurrent - w.active, limits.max_lifetime - w.lifetime));
}

// What the registry says of the grid, as the relay's monitor last read it.
struct GridMetricsInput {
  bool registry_up = false;
  bool no_registry = false;  // the relay was given none: no grid-wide families
  bool primary = true;
  SessionLimits limits;  // for free slots
  std::vector<WorkerLoad> workers;
  std::vector<QueueStats> grid_queue;
  std::vector<QueueStats> local_queue;
};

struct MetricFamilies {
  explicit MetricFamilies(prometheus::Registry& registry, const std::string& mode,
                          const std::string& playwright_version);

  void SessionStarted(BrowserType b, double connect_seconds, double queue_wait_seconds);
  void SessionEnded(BrowserType b, double duration_seconds);
  // `reason`: a short fixed phrase ("no available servers"), never client input.
  void Rejected(int code, const std::string& reason);
  void DialFailed() { dial_failures->Increment(); }
  void RegistryError() { registry_errors->Increment(); }
  // Brings the byte counters to the relay's running totals.
  void SetRelayedBytes(int64_t to_workers, int64_t to_clients);
  void SetPlaywrightVersion(const std::string& version);
  std::string playwright_version() const;
  // The grid-wide gauges and the local queue, from the monitor.
  void SetGrid(const GridMetricsInput& in);

  prometheus::Registry& registry;
  prometheus::Family<prometheus::Gauge>& build_info;
  prometheus::Family<prometheus::Gauge>& sessions_active_family;
  prometheus::Family<prometheus::Counter>& sessions_total_family;
  prometheus::Family<prometheus::Histogram>& session_duration_family;
  prometheus::Family<prometheus::Histogram>& connect_family;
  prometheus::Family<prometheus::Histogram>& queue_wait_family;
  prometheus::Family<prometheus::Gauge>& waiting_family;
  prometheus::Family<prometheus::Counter>& rejected_family;
  prometheus::Family<prometheus::Counter>& bytes_family;
  prometheus::Family<prometheus::Counter>& dial_failures_family;
  prometheus::Family<prometheus::Gauge>& registry_up_family;
  prometheus::Family<prometheus::Counter>& registry_errors_family;
  prometheus::Family<prometheus::Gauge>& grid_workers_family;
  prometheus::Family<prometheus::Gauge>& grid_free_family;
  prometheus::Family<prometheus::Gauge>& grid_waiting_family;
  prometheus::Family<prometheus::Counter>& grid_recycles_family;
  prometheus::Family<prometheus::Gauge>& grid_version_workers_family;
  prometheus::Family<prometheus::Gauge>& grid_version_free_family;

  std::array<prometheus::Gauge*, 3> sessions_active{};
  std::array<prometheus::Counter*, 3> sessions_total{};
  std::array<prometheus::Histogram*, 3> session_duration{};
  std::array<prometheus::Histogram*, 3> connect{};
  std::array<prometheus::Histogram*, 3> queue_wait{};
  std::array<prometheus::Gauge*, 3> waiting{};
  prometheus::Counter* bytes_to_worker = nullptr;
  prometheus::Counter* bytes_to_client = nullptr;
  prometheus::Counter* dial_failures = nullptr;
  prometheus::Gauge* registry_up = nullptr;
  prometheus::Counter* registry_errors = nullptr;

 private:
  mutable absl::Mutex mu_;
  const std::string mode_;
  std::string playwright_version_ ABSL_GUARDED_BY(mu_);
  prometheus::Gauge* build_info_series_ ABSL_GUARDED_BY(mu_) = nullptr;
  int64_t bytes_to_workers_seen_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t bytes_to_clients_seen_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::string> draining_seen_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> available_seen_ ABSL_GUARDED_BY(mu_);  // at the last SetGrid
  bool grid_primary_ ABSL_GUARDED_BY(mu_) = true;
  bool grid_set_ ABSL_GUARDED_BY(mu_) = false;
  // The per-version series set at the last SetGrid, removed when their version leaves the grid.
  std::set<prometheus::Gauge*> version_series_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_RELAY_METRIC_FAMILIES_H_
