// WorkerAgent: keeps one browser worker registered in a WorkerRegistry and recycles it.
//
// Lifecycle of each worker it runs:
//   launch browser ─► Register(available) ─► Heartbeat every heartbeat_interval …
//     shutdown command (or browser crash) ─► a fresh browser is launched and registered under a
//     new id first (make before break), then the old worker is set draining; once its active
//     count is 0 or drain_timeout passed: status shutting-down, browser stopped, Deregister.
// Re-registration after an expired key keeps the worker's own status (a draining worker stays
// draining). A browser that crashes is deregistered at once and replaced.
//
// Thread-safety: Start, Stop and the accessors are thread-safe. The agent owns one thread.
// Ownership: the registry, clock and logger are borrowed and must outlive the agent.
#ifndef PWGRID_WORKER_AGENT_H_
#define PWGRID_WORKER_AGENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pwgrid/browser_server.h"
#include "pwgrid/clock.h"
#include "pwgrid/logging.h"
#include "pwgrid/types.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid {

// Makes a new running browser server. Called from the agent's thread.
using BrowserFactory = std::function<absl::StatusOr<std::unique_ptr<BrowserServer>>()>;

struct WorkerAgentOptions {
  WorkerRegistry* registry = nullptr;  // required; must outlive the agent
  BrowserFactory browser_factory;      // required
  BrowserType browser = BrowserType::kChromium;
  absl::Duration heartbeat_interval = absl::Seconds(5);  // > 0
  absl::Duration key_ttl = absl::Seconds(60);            // >= 3 x heartbeat_interval
  absl::Duration drain_timeout = absl::Minutes(5);       // >= 0
  absl::Duration restart_backoff = absl::Seconds(1);     // wait after a failed launch, > 0
  // Replaces a loopback or unspecified host in the advertised endpoint (upstream's
  // PRIVATE_HOSTNAME); empty: the endpoint is advertised as reported.
  std::string advertised_host;
  Clock* clock = SystemClock();   // must outlive the agent
  Logger* logger = NullLogger();  // must outlive the agent

  absl::Status Validate() const;
};

class WorkerAgent {
 public:
  static absl::StatusOr<std::unique_ptr<WorkerAgent>> Create(const WorkerAgentOptions& options);
  ~WorkerAgent();  // Stop()
  WorkerAgent(const WorkerAgent&) = delete;
  WorkerAgent& operator=(const WorkerAgent&) = delete;

  // Launches and registers the first worker, then starts the agent thread. Returns the launch
  // or registration error if the first worker cannot start. FailedPrecondition: started before.
  absl::Status Start();
  // Deregisters every worker of this agent and stops their browsers. Sessions still open on them
  // end. Idempotent.
  void Stop();

  // Id of the worker currently taking sessions; empty before Start().
  std::string current_worker_id() const;
  // Workers replaced so far (recycles and crashes).
  int64_t replacements() const;

 private:
  class Impl;
  explicit WorkerAgent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Rewrites a ws:// endpoint whose host is 0.0.0.0, 127.0.0.1, localhost or [::1] to `host`, as
// upstream's worker does with PRIVATE_HOSTNAME. Other endpoints are returned unchanged.
std::string RewriteEndpointHost(const std::string& endpoint, const std::string& host);

}  // namespace pwgrid

#endif  // PWGRID_WORKER_AGENT_H_
