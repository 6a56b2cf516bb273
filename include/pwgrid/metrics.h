// Metrics: pwgrid's Prometheus metric families, in a prometheus-cpp Registry (Debian's
// prometheus-cpp-dev, core only). A Relay given a Metrics (RelayOptions::metrics) records into
// it and serves it at /metrics in the Prometheus text format; a host that has its own
// prometheus::Registry passes it in MetricsOptions and scrapes the same families from it with its
// own exposer, beside its own metrics.
//
// Families (units in the names; label values are fixed sets, never client input):
//   pwgrid_build_info{version,playwright_version,mode}            gauge, 1
//   pwgrid_sessions_active{browser}                                gauge, relayed by this proxy
//   pwgrid_sessions_total{browser}                                 counter
//   pwgrid_session_duration_seconds{browser}                       histogram
//   pwgrid_connect_duration_seconds{browser}                       histogram, upgrade received ->
//                                                                  the worker's 101 relayed
//   pwgrid_queue_wait_seconds{browser}                             histogram, of served clients
//   pwgrid_clients_waiting{browser}                                gauge, this proxy's queue
//   pwgrid_rejected_requests_total{code,reason}                    counter
//   pwgrid_relayed_bytes_total{direction="to_worker"|"to_client"}  counter
//   pwgrid_worker_dial_failures_total                              counter
//   pwgrid_registry_up                                             gauge, 1 or 0
//   pwgrid_registry_errors_total                                   counter, failed registry reads
// Grid-wide (read from the registry, so in Redis mode every proxy reports the whole grid; the
// label primary="true" is on exactly one proxy's series, so sum(...{primary="true"}) counts each
// worker once, while every proxy still shows the whole fleet):
//   pwgrid_grid_workers{browser,status,primary}                    gauge; status: available,
//                                                                  draining, unreachable
//   pwgrid_grid_free_slots{browser,primary}                        gauge, of available workers
//   pwgrid_grid_clients_waiting{browser,primary}                   gauge, the grid's queue
//   pwgrid_grid_worker_recycles_total{primary}                     counter, workers seen to leave
//                                                                  service (draining, or gone
//                                                                  while available)
//
// Thread-safety: thread-safe. Ownership: the Relay borrows the Metrics, which must outlive it.
#ifndef PWGRID_METRICS_H_
#define PWGRID_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace pwgrid {
namespace internal {
struct MetricFamilies;
}  // namespace internal

struct MetricsOptions {
  // Where the families are added; null: a registry of the Metrics' own.
  std::shared_ptr<prometheus::Registry> registry;
  std::string mode = "embedded";   // pwgrid_build_info's mode: "embedded" or "redis"
  std::string playwright_version;  // pwgrid_build_info's: of the local workers, "" when none
};

class Metrics {
 public:
  // AlreadyExists: `registry` has a family of the same name with other labels.
  static absl::StatusOr<std::unique_ptr<Metrics>> Create(const MetricsOptions& options = {});
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // pwgrid_build_info's playwright_version from now on: the local workers' version is known only
  // once they run (pwgrid-server sets it after starting them). The Relay's /api/v1/status
  // reports it too.
  void SetPlaywrightVersion(const std::string& version);
  std::string playwright_version() const;
  const std::string& mode() const { return mode_; }
  // Every family of registry() in the Prometheus text format, version 0.0.4.
  std::string TextExposition() const;

  // Internal: what the Relay records into.
  internal::MetricFamilies& families() { return *families_; }

 private:
  Metrics(std::shared_ptr<prometheus::Registry> registry,
          std::unique_ptr<internal::MetricFamilies> families, std::string mode);
  std::shared_ptr<prometheus::Registry> registry_;
  const std::string mode_;
  std::unique_ptr<internal::MetricFamilies> families_;
};

}  // namespace pwgrid

#endif  // PWGRID_METRICS_H_
