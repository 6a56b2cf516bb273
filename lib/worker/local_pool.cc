// LocalWorkerPool: N WorkerAgents on one registry, with spare browsers launched ahead.
#include "pwgrid/local_pool.h"

#include <deque>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/common/log_util.h"
#include "lib/common/status_util.h"

namespace pwgrid {
namespace {

// The spare thread looks whether a spare is missing at least this often, and waits this long
// after a failed launch before it tries again.
constexpr absl::Duration kSpareCheckInterval = absl::Seconds(1);
constexpr absl::Duration kSpareRetryDelay = absl::Seconds(1);

}  // namespace

absl::Status LocalPoolOptions::Validate() const {
  if (workers < 1 || workers > 64) return absl::InvalidArgumentError("workers must be in 1..64");
  if (spare_browsers < 0 || spare_browsers > 8) {
    return absl::InvalidArgumentError("spare_browsers must be in 0..8");
  }
  return browser.Validate();
}

class LocalWorkerPool::Impl {
 public:
  Impl(WorkerRegistry* registry, const LocalPoolOptions& options)
      : registry_(registry), options_(options) {}
  ~Impl() { Stop(); }

  absl::Status Start() {
    WorkerAgentOptions agent_options = options_.agent;
    agent_options.browser = options_.browser.browser;  // what the browsers are
    std::vector<absl::Status> results(options_.workers);
    for (int i = 0; i < options_.workers; ++i) {
      PWGRID_ASSIGN_OR_RETURN(std::unique_ptr<WorkerAgent> agent,
                              WorkerAgent::Create(
                                  registry_, [this] { return TakeBrowser(); }, agent_options));
      agents_.push_back(std::move(agent));
    }
    std::vector<std::thread> starters;
    for (int i = 0; i < options_.workers; ++i) {
      starters.emplace_back([this, i, &results] { results[i] = agents_[i]->Start(); });
    }
    for (std::thread& t : starters) t.join();
    for (const absl::Status& s : results) {
      if (!s.ok()) {
        Stop();
        return s;
      }
    }
    if (options_.spare_browsers > 0) {
      absl::MutexLock lock(&mu_);
      spares_running_ = true;
      spare_thread_ = std::thread([this] { KeepSpares(); });
    }
    return absl::OkStatus();
  }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      stop_ = true;
    }
    for (auto& agent : agents_) agent->Stop();
    if (spare_thread_.joinable()) spare_thread_.join();
    std::deque<std::unique_ptr<BrowserServer>> spares;
    {
      absl::MutexLock lock(&mu_);
      spares.swap(spares_);
    }
    for (auto& b : spares) (void)b->Stop();
  }

 private:
  // The agents' browser factory: a warm spare. When none is ready yet, wait for the one being
  // launched rather than start a second launch that would compete with it for the CPU; launch
  // directly only without spares (before Start() completes, or with spare_browsers = 0), or when
  // the spare does not arrive within the launch timeout.
  absl::StatusOr<std::unique_ptr<BrowserServer>> TakeBrowser() {
    while (true) {
      std::unique_ptr<BrowserServer> spare;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !spares_.empty(); };
        if (spares_running_)
          mu_.AwaitWithTimeout(absl::Condition(&ready), options_.browser.start_timeout);
        if (spares_.empty()) break;
        spare = std::move(spares_.front());
        spares_.pop_front();
      }
      if (spare->Running()) return spare;
      (void)spare->Stop();  // died while waiting: try the next one
    }
    return LaunchBrowserServer(options_.browser);
  }

  void KeepSpares() {
    absl::MutexLock lock(&mu_);
    while (!stop_) {
      auto wanted = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || static_cast<int>(spares_.size()) < options_.spare_browsers;
      };
      mu_.AwaitWithTimeout(absl::Condition(&wanted), kSpareCheckInterval);
      if (stop_ || static_cast<int>(spares_.size()) >= options_.spare_browsers) continue;
      mu_.Unlock();
      absl::StatusOr<std::unique_ptr<BrowserServer>> b = LaunchBrowserServer(options_.browser);
      mu_.Lock();
      if (b.ok()) {
        spares_.push_back(std::move(*b));
      } else {
        PWGRID_LOG(options_.agent.logger, LogLevel::kError,
                   absl::StrCat("Failed to launch a spare browser: ", b.status().ToString()));
        mu_.AwaitWithTimeout(absl::Condition(&stop_), kSpareRetryDelay);
      }
    }
  }

  WorkerRegistry* const registry_;
  const LocalPoolOptions options_;
  std::vector<std::unique_ptr<WorkerAgent>> agents_;
  std::thread spare_thread_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool spares_running_ ABSL_GUARDED_BY(mu_) = false;  // the spare thread keeps spares coming
  std::deque<std::unique_ptr<BrowserServer>> spares_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<LocalWorkerPool>> LocalWorkerPool::Create(
    WorkerRegistry* registry, const LocalPoolOptions& options) {
  if (registry == nullptr) return absl::InvalidArgumentError("registry is null");
  PWGRID_RETURN_IF_ERROR(options.Validate());
  PWGRID_RETURN_IF_ERROR(options.agent.Validate());
  return std::unique_ptr<LocalWorkerPool>(
      new LocalWorkerPool(std::make_unique<Impl>(registry, options)));
}

LocalWorkerPool::LocalWorkerPool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LocalWorkerPool::~LocalWorkerPool() = default;
absl::Status LocalWorkerPool::Start() { return impl_->Start(); }
void LocalWorkerPool::Stop() { impl_->Stop(); }

}  // namespace pwgrid
