// GridMonitor (grid_monitor.h): one thread that reads the registry every interval and runs the
// admin actions posted to it.
#include "lib/relay/grid_monitor.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/common/log_util.h"
#include "pwgrid/types.h"

namespace pwgrid::internal {
namespace {

std::string ProxyName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "proxy");
  }
  // Relays in one process (tests, a host embedding two) get distinct names.
  static std::atomic<int> relays{0};
  const int n = ++relays;
  return n == 1 ? absl::StrCat(host, "/", getpid()) : absl::StrCat(host, "/", getpid(), "-", n);
}

}  // namespace

GridMonitor::GridMonitor(WorkerRegistry* registry, Selector* selector, const Options& options)
    : registry_(registry),
      selector_(selector),
      options_(options),
      claimant_(ProxyName()),
      view_(std::make_shared<GridView>()) {}

GridMonitor::~GridMonitor() { Stop(); }

void GridMonitor::Start() {
  Refresh();  // the first view is there before the relay answers anyone
  thread_ = std::thread([this] { Run(); });
}

void GridMonitor::RefreshThen(absl::AnyInvocable<void(std::shared_ptr<const GridView>)> done) {
  Post([this, done = std::move(done)](WorkerRegistry&) mutable {
    Refresh();
    done(view());
  });
}

void GridMonitor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  std::deque<absl::AnyInvocable<void(WorkerRegistry&)>> late;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    late.swap(tasks_);
  }
  for (auto& task : late) {
    if (registry_ != nullptr) task(*registry_);
  }
}

std::shared_ptr<const GridView> GridMonitor::view() const {
  absl::MutexLock lock(&mu_);
  return view_;
}

void GridMonitor::Post(absl::AnyInvocable<void(WorkerRegistry&)> task, bool refresh) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopped_) {
      tasks_.push_back(std::move(task));
      wake_ = true;
      refresh_wanted_ = refresh_wanted_ || refresh;
      return;
    }
  }
  if (registry_ != nullptr) task(*registry_);
}

void GridMonitor::Run() {
  absl::Time next_refresh = absl::Now() + options_.interval;
  while (true) {
    std::deque<absl::AnyInvocable<void(WorkerRegistry&)>> tasks;
    bool stopping = false;
    bool refresh = false;
    {
      absl::MutexLock lock(&mu_);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_ || stopping_; };
      mu_.AwaitWithDeadline(absl::Condition(&woken), next_refresh);
      wake_ = false;
      tasks.swap(tasks_);
      stopping = stopping_;
      refresh = std::exchange(refresh_wanted_, false);
    }
    for (auto& task : tasks) {
      if (registry_ != nullptr) task(*registry_);
    }
    if (stopping) return;
    if (refresh || absl::Now() >= next_refresh) {
      Refresh();
      next_refresh = absl::Now() + options_.interval;
    }
  }
}

void GridMonitor::Refresh() {
  if (tick_) tick_();
  if (registry_ == nullptr) {
    if (options_.metrics != nullptr) {
      GridMetricsInput in;
      in.registry_up = true;
      in.local_queue = selector_->queue_stats();
      in.grid_queue = in.local_queue;
      in.no_registry = true;
      options_.metrics->SetGrid(in);
    }
    return;
  }
  auto v = std::make_shared<GridView>();
  v->refreshed = true;
  v->registry = registry_->Ping();
  if (v->registry.ok()) {
    absl::StatusOr<std::vector<WorkerLoad>> workers = registry_->Snapshot();
    if (workers.ok()) {
      v->workers = *std::move(workers);
    } else {
      v->registry = workers.status();
    }
  }
  if (v->registry.ok()) {
    absl::StatusOr<bool> primary = registry_->ClaimReporter(claimant_, 3 * options_.interval);
    v->primary = primary.ok() && *primary;
    absl::StatusOr<std::vector<GridSession>> sessions = registry_->Sessions();
    v->keeps_sessions = sessions.ok();
    if (sessions.ok()) v->sessions = *std::move(sessions);
  }
  const std::vector<QueueStats> local = selector_->queue_stats();
  if (SharedQueue* q = registry_->shared_queue(); q != nullptr && v->registry.ok()) {
    v->shared_queue = true;
    absl::StatusOr<std::vector<QueueStats>> stats = q->Stats();
    if (stats.ok()) v->queue = *std::move(stats);
  } else {
    v->queue = local;
  }
  v->at = absl::Now();
  std::shared_ptr<const GridView> before = view();
  if (!v->registry.ok()) {
    if (options_.metrics != nullptr) options_.metrics->RegistryError();
    if (!before->refreshed || before->registry.ok()) {
      PWGRID_LOG(options_.logger, LogLevel::kWarn,
                 absl::StrCat("Cannot read the worker registry: ", v->registry.message()));
    }
    // Keep the last workers known (the status page shows them, marked as stale by `at`).
    v->workers = before->workers;
    v->at = before->at;
  }
  if (options_.metrics != nullptr) {
    GridMetricsInput in;
    in.registry_up = v->registry.ok();
    in.primary = v->primary;
    in.limits = options_.limits;
    in.workers = v->workers;
    in.grid_queue = v->queue;
    in.local_queue = local;
    options_.metrics->SetGrid(in);
  }
  absl::MutexLock lock(&mu_);
  view_ = std::move(v);
}

}  // namespace pwgrid::internal
