// LocalWorkerPool: N local browser workers in one process, the embedded grid's workers.
//
// Runs `workers` WorkerAgents against one registry. Browsers come from a shared factory that keeps
// `spare_browsers` launched in advance, so a recycled worker's replacement is registered within
// milliseconds and recycles do not take capacity away.
//
// Thread-safety: Start and Stop are thread-safe. Owns its agents and a spare-launching thread.
// Ownership: the registry, clock and logger are borrowed and must outlive the pool.
#ifndef PWGRID_LOCAL_POOL_H_
#define PWGRID_LOCAL_POOL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pwgrid/browser_server.h"
#include "pwgrid/worker_agent.h"

namespace pwgrid {

struct LocalPoolOptions {
  int workers = 2;               // 1..64
  int spare_browsers = 1;        // browsers launched ahead for replacements, 0..8
  BrowserServerOptions browser;  // how each browser is launched
  // Used for every agent (the registry and the browser factory are the pool's; agent.browser is
  // taken from browser.browser).
  WorkerAgentOptions agent;

  absl::Status Validate() const;
};

class LocalWorkerPool {
 public:
  static absl::StatusOr<std::unique_ptr<LocalWorkerPool>> Create(WorkerRegistry* registry,
                                                                 const LocalPoolOptions& options);
  ~LocalWorkerPool();  // Stop()
  LocalWorkerPool(const LocalWorkerPool&) = delete;
  LocalWorkerPool& operator=(const LocalWorkerPool&) = delete;

  // Starts every worker (in parallel) and waits until all are registered.
  absl::Status Start();
  // Stops every worker and spare browser. Idempotent.
  void Stop();

 private:
  class Impl;
  explicit LocalWorkerPool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pwgrid

#endif  // PWGRID_LOCAL_POOL_H_
