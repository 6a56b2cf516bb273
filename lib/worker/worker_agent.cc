// WorkerAgent: keeps a worker registered, heartbeats it, drains and recycles it (make before
// break), and replaces a crashed browser.
#include "pwgrid/worker_agent.h"

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/common/endpoint.h"
#include "lib/common/log_util.h"
#include "lib/common/status_util.h"

namespace pwgrid {

absl::Status WorkerAgentOptions::Validate() const {
  if (heartbeat_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("heartbeat_interval must be positive");
  }
  if (key_ttl < 3 * heartbeat_interval) {
    return absl::InvalidArgumentError("key_ttl must be at least three times heartbeat_interval");
  }
  if (drain_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("drain_timeout must not be negative");
  }
  if (drain_poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("drain_poll_interval must be positive");
  }
  if (restart_backoff <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("restart_backoff must be positive");
  }
  if (launch_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("launch_timeout must be positive");
  }
  if (clock == nullptr || logger == nullptr) {
    return absl::InvalidArgumentError("WorkerAgentOptions.clock and .logger must not be null");
  }
  return absl::OkStatus();
}

namespace {

// The <uuid> of an endpoint ws://host:port/playwright/<uuid>, or a new one.
std::string UuidFromEndpoint(const std::string& endpoint) {
  absl::StatusOr<internal::WsEndpoint> parsed = internal::ParseWsEndpoint(endpoint);
  constexpr std::string_view kPrefix = "/playwright/";
  if (parsed.ok() && parsed->path.size() == kPrefix.size() + 36 &&
      parsed->path.compare(0, kPrefix.size(), kPrefix) == 0) {
    return parsed->path.substr(kPrefix.size());
  }
  return NewUuid();
}

}  // namespace

class WorkerAgent::Impl {
 public:
  Impl(WorkerRegistry* registry, BrowserFactory browser_factory, const WorkerAgentOptions& options)
      : registry_(registry), browser_factory_(std::move(browser_factory)), options_(options) {}
  ~Impl() { Stop(); }

  absl::Status Start() {
    {
      absl::MutexLock lock(&mu_);
      if (started_) return absl::FailedPreconditionError("WorkerAgent already started");
      started_ = true;
    }
    absl::StatusOr<std::unique_ptr<Worker>> launched = LaunchWorker();
    if (!launched.ok()) {
      absl::MutexLock lock(&mu_);
      started_ = false;  // nothing is left running: Start() may be tried again
      return launched.status();
    }
    std::unique_ptr<Worker> first = *std::move(launched);
    {
      absl::MutexLock lock(&mu_);
      current_ = std::move(first);
    }
    watch_id_ = registry_->Watch([this](const RegistryEvent& event) {
      if (event.kind != RegistryEvent::Kind::kShutdownRequested) return;
      absl::MutexLock lock(&mu_);
      wake_ = true;
    });
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
    if (watch_id_ != 0) registry_->Unwatch(watch_id_);
    std::vector<std::unique_ptr<Worker>> all;
    {
      absl::MutexLock lock(&mu_);
      if (current_) all.push_back(std::move(current_));
      for (auto& w : draining_) all.push_back(std::move(w));
      draining_.clear();
    }
    for (auto& w : all) Retire(*w, RetireReason::kAgentStop);
    DeregisterPending();
  }

  std::optional<RetireReason> Wait(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto finished = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return finished_.has_value(); };
    mu_.AwaitWithTimeout(absl::Condition(&finished), timeout);
    return finished_;
  }

  std::string current_worker_id() const {
    absl::MutexLock lock(&mu_);
    return current_ ? current_->info.id : std::string();
  }
  int64_t replacements() const {
    absl::MutexLock lock(&mu_);
    return replacements_;
  }

 private:
  struct Worker {
    WorkerInfo info;
    std::unique_ptr<BrowserServer> browser;
    absl::Time next_heartbeat;
    absl::Time drain_deadline;
    int64_t last_active = -1;
  };

  absl::StatusOr<std::unique_ptr<Worker>> LaunchWorker() {
    PWGRID_ASSIGN_OR_RETURN(std::unique_ptr<BrowserServer> browser, browser_factory_());
    auto w = std::make_unique<Worker>();
    w->info.id = absl::StrCat(std::string(ToString(options_.browser)), ":",
                              UuidFromEndpoint(browser->ws_endpoint()));
    w->info.browser = options_.browser;
    w->info.endpoint =
        internal::RewriteEndpointHost(browser->ws_endpoint(), options_.advertised_host);
    w->info.status = WorkerStatus::kAvailable;
    w->info.playwright_version = browser->playwright_version();
    w->info.started_at_ms = absl::ToUnixMillis(options_.clock->Now());
    w->browser = std::move(browser);
    absl::Status s = registry_->Register(w->info, options_.key_ttl);
    if (!s.ok()) {
      (void)w->browser->Stop();
      return s;
    }
    w->next_heartbeat = options_.clock->Now() + options_.heartbeat_interval;
    PWGRID_LOG(options_.logger, LogLevel::kInfo, "Browser worker is ready to work",
               {{"workerId", w->info.id},
                {"endpoint", w->info.endpoint},
                {"playwrightVersion", w->info.playwright_version}});
    return w;
  }

  // Heartbeats `w` when due; re-registers it (keeping its status) when its key expired.
  void HeartbeatIfDue(Worker& w, absl::Time now) {
    if (now < w.next_heartbeat) return;
    w.next_heartbeat = now + options_.heartbeat_interval;
    absl::Status s = registry_->Heartbeat(w.info.id, options_.key_ttl);
    if (absl::IsNotFound(s)) {
      PWGRID_LOG(options_.logger, LogLevel::kWarn, "Worker key expired. Re-registering...",
                 {{"workerId", w.info.id}});
      s = registry_->Register(w.info, options_.key_ttl);
    }
    if (!s.ok()) {
      PWGRID_LOG(options_.logger, LogLevel::kWarn, absl::StrCat("Heartbeat failed: ", s.ToString()),
                 {{"workerId", w.info.id}});
    }
  }

  // Status shutting-down, browser stopped, deregistered. With Replacement::kAfterStop a drained
  // worker stays registered as shutting-down until its replacement is registered, so that other
  // proxies see a recycle in progress (the recycle stagger of selection_policy.h) meanwhile.
  void Retire(Worker& w, RetireReason reason) {
    (void)registry_->SetStatus(w.info.id, WorkerStatus::kShuttingDown);
    (void)w.browser->Stop();
    PWGRID_LOG(options_.logger, LogLevel::kInfo, "Worker stopped",
               {{"workerId", w.info.id}, {"reason", std::string(ToString(reason))}});
    if (options_.replacement == Replacement::kAfterStop && reason != RetireReason::kAgentStop) {
      pending_deregister_.push_back(w.info.id);
      return;
    }
    Deregister(w.info.id);
  }

  void Deregister(const std::string& id) {
    absl::Status s = registry_->Deregister(id);
    if (!s.ok()) {
      PWGRID_LOG(options_.logger, LogLevel::kWarn,
                 absl::StrCat("Deregister failed: ", s.ToString()), {{"workerId", id}});
    }
  }

  // Removes the retired workers kept registered for Replacement::kAfterStop.
  void DeregisterPending() {
    for (const std::string& id : pending_deregister_) Deregister(id);
    pending_deregister_.clear();
  }

  int64_t ActiveSessions(const std::string& id) {
    absl::StatusOr<std::vector<WorkerLoad>> snap = registry_->Snapshot();
    if (!snap.ok()) return -1;
    for (const WorkerLoad& l : *snap) {
      if (l.info.id == id) return l.active;
    }
    return 0;
  }

  void Run() {
    absl::Time next_launch_attempt = absl::InfinitePast();
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        const absl::Duration wait = draining_.empty() && current_ ? options_.heartbeat_interval
                                                                  : options_.drain_poll_interval;
        auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_ || stop_; };
        mu_.AwaitWithTimeout(absl::Condition(&woken), std::min(wait, options_.heartbeat_interval));
        wake_ = false;
        if (stop_) return;
      }
      const absl::Time now = options_.clock->Now();
      std::unique_ptr<Worker> retiring;  // the current worker, when it must be replaced
      bool exited = false;               // retiring: its browser exited (else: a shutdown command)
      if (current_) {
        // A browser that exited is not heartbeated: a proxy that found it unreachable keeps it
        // out of selection until it is retired.
        const bool running = current_->browser->Running();
        if (running) HeartbeatIfDue(*current_, now);
        absl::StatusOr<bool> cmd = registry_->TakeShutdownCommand(current_->info.id);
        const bool recycle = cmd.ok() && *cmd;
        if (recycle || !running) {
          exited = !recycle;
          absl::MutexLock lock(&mu_);
          retiring = std::move(current_);
        }
      }
      if (retiring) {
        PWGRID_LOG(
            options_.logger, LogLevel::kInfo,
            absl::StrCat("Recycling worker: ", exited ? "browser_exited" : "shutdown_command"),
            {{"workerId", retiring->info.id}});
        if (exited) {
          Retire(*retiring, RetireReason::kBrowserExited);
          absl::MutexLock lock(&mu_);
          finished_reason_ = RetireReason::kBrowserExited;
        } else {
          retiring->info.status = WorkerStatus::kDraining;
          (void)registry_->SetStatus(retiring->info.id, WorkerStatus::kDraining);
          retiring->drain_deadline = now + options_.drain_timeout;
          absl::MutexLock lock(&mu_);
          draining_.push_back(std::move(retiring));
        }
        absl::MutexLock lock(&mu_);
        ++replacements_;
      }
      DrainStep();
      bool drained;
      {
        absl::MutexLock lock(&mu_);
        drained = draining_.empty();
        if (!current_ && drained && options_.replacement == Replacement::kNone &&
            finished_reason_.has_value()) {
          finished_ = finished_reason_;
          return;
        }
      }
      // kOverlap: the replacement comes up while the old worker drains; kAfterStop: once it is
      // gone.
      const bool may_launch = options_.replacement == Replacement::kOverlap ||
                              (options_.replacement == Replacement::kAfterStop && drained);
      if (!current_ && may_launch && options_.clock->Now() >= next_launch_attempt) {
        // The retired worker's key (shutting-down gave it a short TTL) must outlive the launch,
        // however slow: until the replacement registers, the recycle is still in progress.
        for (const std::string& id : pending_deregister_) {
          (void)registry_->Heartbeat(id, options_.key_ttl + options_.launch_timeout);
        }
        absl::StatusOr<std::unique_ptr<Worker>> fresh = LaunchWorker();
        // Either way the recycle is over: with a replacement registered, or with none coming
        // soon (then other workers must not wait for it to recycle in turn).
        DeregisterPending();
        if (fresh.ok()) {
          absl::MutexLock lock(&mu_);
          current_ = std::move(*fresh);
        } else {
          PWGRID_LOG(options_.logger, LogLevel::kError,
                     absl::StrCat("Failed to start a browser worker: ", fresh.status().ToString()));
          next_launch_attempt = options_.clock->Now() + options_.restart_backoff;
        }
      }
    }
  }

  void DrainStep() {
    std::vector<std::unique_ptr<Worker>> draining;
    {
      absl::MutexLock lock(&mu_);
      draining.swap(draining_);
    }
    if (draining.empty()) return;
    const absl::Time now = options_.clock->Now();
    std::vector<std::unique_ptr<Worker>> keep;
    for (auto& w : draining) {
      HeartbeatIfDue(*w, now);
      const int64_t active = ActiveSessions(w->info.id);
      if (active != w->last_active && active > 0) {
        PWGRID_LOG(options_.logger, LogLevel::kInfo,
                   absl::StrCat("Draining... ", active, " active connections remaining."),
                   {{"workerId", w->info.id}});
      }
      w->last_active = active;
      if (active == 0 || now >= w->drain_deadline || !w->browser->Running()) {
        const RetireReason reason = active == 0              ? RetireReason::kDrainComplete
                                    : !w->browser->Running() ? RetireReason::kBrowserExited
                                                             : RetireReason::kDrainTimeout;
        Retire(*w, reason);
        absl::MutexLock lock(&mu_);
        finished_reason_ = reason;
      } else {
        keep.push_back(std::move(w));
      }
    }
    absl::MutexLock lock(&mu_);
    for (auto& w : keep) draining_.push_back(std::move(w));
  }

  WorkerRegistry* const registry_;
  const BrowserFactory browser_factory_;
  const WorkerAgentOptions options_;
  int64_t watch_id_ = 0;
  std::thread thread_;
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  int64_t replacements_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<RetireReason> finished_reason_ ABSL_GUARDED_BY(mu_);  // the last retirement's
  std::optional<RetireReason> finished_ ABSL_GUARDED_BY(mu_);  // set when a kNone agent is done
  // Agent thread only (and Stop() after joining it).
  std::vector<std::string> pending_deregister_;
  // Written under mu_ by the agent thread, which also reads it without the lock.
  std::unique_ptr<Worker> current_;
  std::vector<std::unique_ptr<Worker>> draining_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<WorkerAgent>> WorkerAgent::Create(
    WorkerRegistry* registry, BrowserFactory browser_factory, const WorkerAgentOptions& options) {
  if (registry == nullptr) return absl::InvalidArgumentError("WorkerAgent: registry is null");
  if (!browser_factory) return absl::InvalidArgumentError("WorkerAgent: browser_factory is empty");
  PWGRID_RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<WorkerAgent>(
      new WorkerAgent(std::make_unique<Impl>(registry, std::move(browser_factory), options)));
}

WorkerAgent::WorkerAgent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WorkerAgent::~WorkerAgent() = default;
absl::Status WorkerAgent::Start() { return impl_->Start(); }
void WorkerAgent::Stop() { impl_->Stop(); }
std::string WorkerAgent::current_worker_id() const { return impl_->current_worker_id(); }
int64_t WorkerAgent::replacements() const { return impl_->replacements(); }
std::optional<RetireReason> WorkerAgent::Wait(absl::Duration timeout) {
  return impl_->Wait(timeout);
}

std::string_view ToString(RetireReason reason) {
  switch (reason) {
    case RetireReason::kDrainComplete: return "drain_complete";
    case RetireReason::kDrainTimeout: return "drain_timeout";
    case RetireReason::kBrowserExited: return "browser_exited";
    case RetireReason::kAgentStop: return "agent_stop";
  }
  return "unknown";
}

}  // namespace pwgrid
