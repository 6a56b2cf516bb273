// GridMonitor: the relay's view of the grid for its operator endpoints (/readyz, /api/v1/status,
// /metrics' grid-wide families), read from the registry on a thread of its own every interval,
// so that no I/O thread ever waits on the registry (Redis); and the thread that runs the admin
// actions that call the registry (drain a worker). Internal header.
//
// Without a registry it still runs: the local queue and the relay's own counters (the tick) are
// brought into the metric families every interval.
//
// Thread-safety: thread-safe. Ownership: the registry (may be null), selector and families are
// borrowed and must outlive the monitor.
#ifndef PWGRID_LIB_RELAY_GRID_MONITOR_H_
#define PWGRID_LIB_RELAY_GRID_MONITOR_H_

#include "lib/common/internal.h"

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/relay/metric_families.h"
#include "pwgrid/logging.h"
#include "pwgrid/selector.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid::internal {

// The grid as last read.
struct GridView {
  bool refreshed = false;  // false until the first read ended
  absl::Status registry;   // Ping's answer
  absl::Time at;           // when it was read
  std::vector<WorkerLoad> workers;
  std::vector<QueueStats> queue;  // the grid's queue (SharedQueue) or this proxy's
  bool shared_queue = false;
  bool primary = true;                // this proxy reports the grid-wide series as primary="true"
  std::vector<GridSession> sessions;  // every proxy's sessions (Redis), when the registry has them
  bool keeps_sessions = false;        // the registry answered Sessions() (AnnounceSession counts)
};

class GridMonitor {
 public:
  struct Options {
    absl::Duration interval = absl::Seconds(1);
    SessionLimits limits;
    MetricFamilies* metrics = nullptr;  // null: none
    Logger* logger = NullLogger();
  };
  GridMonitor(WorkerRegistry* registry, Selector* selector, const Options& options);
  ~GridMonitor();
  GridMonitor(const GridMonitor&) = delete;
  GridMonitor& operator=(const GridMonitor&) = delete;

  // `tick` runs on the monitor's thread before every read (the relay brings its byte counters
  // into the families). Before Start().
  void SetTick(std::function<void()> tick) { tick_ = std::move(tick); }
  void Start();
  void Stop();  // idempotent; tasks not run yet are run before it returns
  // Never null; refreshed == false until the first read, and always without a registry.
  std::shared_ptr<const GridView> view() const;
  // Runs `task` on the monitor's thread, then (`refresh`) reads the grid again at once, else at
  // the next interval. Only with a registry; after Stop() the task runs at once on the caller's
  // thread.
  void Post(absl::AnyInvocable<void(WorkerRegistry&)> task, bool refresh = true);
  // The name this proxy goes by in the registry's shared views (GridSession::proxy and the
  // reporter claim): "<hostname>/<pid>".
  const std::string& name() const { return claimant_; }
  // Reads the grid now (on the monitor's thread) and calls `done` with the new view there.
  void RefreshThen(absl::AnyInvocable<void(std::shared_ptr<const GridView>)> done);
  WorkerRegistry* registry() const { return registry_; }

 private:
  void Run();
  void Refresh();

  WorkerRegistry* const registry_;
  Selector* const selector_;
  const Options options_;
  const std::string claimant_;  // this monitor's name for ClaimReporter
  std::function<void()> tick_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const GridView> view_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::AnyInvocable<void(WorkerRegistry&)>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;  // the thread has been joined
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool refresh_wanted_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_RELAY_GRID_MONITOR_H_
