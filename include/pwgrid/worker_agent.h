// WorkerAgent: keeps one browser worker registered in a WorkerRegistry and recycles it.
//
// Lifecycle of each worker it runs:
//   launch browser ─► Register(available) ─► Heartbeat every heartbeat_interval …
//     shutdown command (or browser crash) ─► the worker is set draining; once its active count
//     is 0 or drain_timeout passed: status shutting-down, browser stopped, Deregister.
// What replaces a retired worker is WorkerAgentOptions::replacement: a fresh browser registered
// under a new id before the old one drains (make before break, the default), a fresh browser
// after the old one stopped (it can reuse the same port), or nothing (the agent is done; see
// Wait()). The worker id is "<browser>:<uuid>", where <uuid> is taken from the endpoint path
// /playwright/<uuid> when the browser server uses one, as upstream's worker does.
// Re-registration after an expired key keeps the worker's own status (a draining worker stays
// draining). A browser that exits or crashes is no longer heartbeated (so that a proxy that found
// it unreachable keeps it out of selection), and on the agent's next round (within
// heartbeat_interval) it is set shutting-down, stopped, deregistered and replaced (with kNone:
// the agent is done, Wait() returns kBrowserExited). A draining worker whose browser exits is
// retired the same way without waiting for its sessions.
//
// Thread-safety: Start, Stop and the accessors are thread-safe. The agent owns one thread.
// Ownership: the registry (a Create() argument), clock and logger are borrowed and must outlive
// the agent.
#ifndef PWGRID_WORKER_AGENT_H_
#define PWGRID_WORKER_AGENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

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

// What the agent does after a worker is recycled or its browser exits.
enum class Replacement {
  kOverlap,    // launch and register the replacement first, then drain the old worker
  kAfterStop,  // drain and stop the old worker, then launch the replacement (same port possible)
  kNone,       // no replacement: once the worker is retired the agent is done
};

// Why a worker was retired.
enum class RetireReason {
  kDrainComplete,  // recycled (a shutdown command) and its active count reached 0
  kDrainTimeout,   // recycled, and drain_timeout passed with sessions still open
  kBrowserExited,  // its browser server exited or crashed
  kAgentStop,      // WorkerAgent::Stop()
};
// "drain_complete", "drain_timeout", "browser_exited", "agent_stop" (as logged).
std::string_view ToString(RetireReason reason);

struct WorkerAgentOptions {
  BrowserType browser = BrowserType::kChromium;
  absl::Duration heartbeat_interval = absl::Seconds(5);  // > 0
  absl::Duration key_ttl = absl::Seconds(60);            // >= 3 x heartbeat_interval
  absl::Duration drain_timeout = absl::Minutes(5);       // >= 0
  absl::Duration restart_backoff = absl::Seconds(1);     // wait after a failed launch, > 0
  // How often a draining worker's active count is read while it drains, > 0.
  absl::Duration drain_poll_interval = absl::Milliseconds(100);
  // The longest a call of the browser factory may take (its own start timeout), > 0. With
  // kAfterStop a retired worker stays registered as shutting-down for key_ttl + launch_timeout while its
  // replacement launches, so every proxy keeps seeing a recycle in progress until the
  // replacement is registered (or the launch fails, which deregisters it at once).
  absl::Duration launch_timeout = absl::Seconds(60);
  Replacement replacement = Replacement::kOverlap;
  // Replaces a loopback or unspecified host in the advertised endpoint (upstream's
  // PRIVATE_HOSTNAME); empty: the endpoint is advertised as reported.
  std::string advertised_host;
  Clock* clock = SystemClock();   // must outlive the agent
  Logger* logger = NullLogger();  // must outlive the agent

  absl::Status Validate() const;
};

class WorkerAgent {
 public:
  // `registry` (borrowed, must outlive the agent) is where the workers are registered;
  // `browser_factory` launches each worker's browser. InvalidArgument: null registry, empty
  // factory or bad options.
  static absl::StatusOr<std::unique_ptr<WorkerAgent>> Create(WorkerRegistry* registry,
                                                             BrowserFactory browser_factory,
                                                             const WorkerAgentOptions& options);
  ~WorkerAgent();  // Stop()
  WorkerAgent(const WorkerAgent&) = delete;
  WorkerAgent& operator=(const WorkerAgent&) = delete;

  // Launches and registers the first worker, then starts the agent thread. Returns the launch
  // or registration error if the first worker cannot start; its browser is stopped, nothing is
  // registered, and Start() may be called again. FailedPrecondition: started before.
  absl::Status Start();
  // Deregisters every worker of this agent and stops their browsers. Sessions still open on them
  // end. Idempotent.
  void Stop();

  // Id of the worker currently taking sessions; empty before Start().
  std::string current_worker_id() const;
  // Workers replaced so far (recycles and crashes).
  int64_t replacements() const;

  // With Replacement::kNone: waits until the worker has been retired, at most `timeout`. Returns
  // why, or nullopt on timeout (and always nullopt with the other replacement modes, which never
  // finish by themselves).
  std::optional<RetireReason> Wait(absl::Duration timeout);

 private:
  class Impl;
  explicit WorkerAgent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pwgrid

#endif  // PWGRID_WORKER_AGENT_H_
