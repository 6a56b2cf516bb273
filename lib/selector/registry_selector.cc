// RegistrySelector: a Selector over any WorkerRegistry (Lease is in lease.cc).
//
// Which thread calls the registry: with a registry that NeverBlocks() (in-memory), TryAcquire,
// releases, recycle requests and unreachable marks run on the caller's thread (a relay I/O
// thread), and only queued clients are served by the selector's thread. With any other
// registry (Redis) every registry call runs on the selector's thread, so that no caller ever
// waits on the registry. Waiters sit in a map ordered by ticket (arrival); Pump serves them round
// robin across tenants, first come, first served within one (NextWaiter).
// The thread wakes when a waiter arrives, a queued release or command is posted, the registry
// reports freed capacity, a deadline passes, or the safety poll interval elapses.
//
// A release or recycle request the registry refused (a backend that is down, an injected fault)
// is not dropped: the selector's thread retries it every poll_interval until the registry takes
// it, so a failure never leaks a slot, nor leaves a worker at its lifetime limit unrecycled.
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/common/log_util.h"
#include "lib/common/status_util.h"
#include "pwgrid/selector.h"

namespace pwgrid {

absl::Status SelectorOptions::Validate() const {
  if (limits.max_concurrent < 1) {
    return absl::InvalidArgumentError("max_concurrent must be at least 1");
  }
  if (limits.max_lifetime < 1) return absl::InvalidArgumentError("max_lifetime must be at least 1");
  if (max_waiting < 0) return absl::InvalidArgumentError("max_waiting must not be negative");
  if (poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("poll_interval must be positive");
  }
  if (clock == nullptr || logger == nullptr) {
    return absl::InvalidArgumentError("SelectorOptions.clock and .logger must not be null");
  }
  return absl::OkStatus();
}

namespace {

class RegistrySelector : public Selector, public Lease::Owner {
 public:
  RegistrySelector(WorkerRegistry* registry, const SelectorOptions& options)
      : registry_(registry), options_(options) {
    watch_id_ = registry_->Watch([this](const RegistryEvent& event) {
      if (event.kind == RegistryEvent::Kind::kCapacityChanged) Wake();
    });
    thread_ = std::thread([this] { Run(); });
  }

  ~RegistrySelector() override {
    registry_->Unwatch(watch_id_);
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
    std::vector<Retry> unfinished;
    {
      absl::MutexLock lock(&mu_);
      unfinished.swap(retries_);
    }
    for (Retry& r : unfinished) (void)r.call();  // a last try; then the registry's own expiry
    std::map<uint64_t, Waiter> left;
    {
      absl::MutexLock lock(&mu_);
      left.swap(waiters_);
    }
    for (auto& [ticket, w] : left) {
      w.done(absl::FailedPreconditionError("selector is shutting down"));
    }
  }

  uint64_t Acquire(SelectRequest request, Callback done) override {
    absl::MutexLock lock(&mu_);
    const uint64_t ticket = ++next_ticket_;
    if (static_cast<int64_t>(waiters_.size()) >= options_.max_waiting) {
      ready_.push_back({std::move(done), absl::ResourceExhaustedError(
                                             absl::StrCat("more than ", options_.max_waiting,
                                                          " clients are waiting for a worker"))});
    } else {
      waiters_.emplace(ticket, Waiter{std::move(request), std::move(done)});
    }
    wake_ = true;
    return ticket;
  }

  std::optional<Lease> TryAcquire(const SelectRequest& request) override {
    if (!registry_->NeverBlocks()) return std::nullopt;
    {
      absl::MutexLock lock(&mu_);
      if (!waiters_.empty() || stop_) return std::nullopt;  // first come, first served
    }
    absl::StatusOr<std::optional<Reservation>> r =
        registry_->Reserve(ToReserve(request, options_.limits));
    if (!r.ok() || !r->has_value()) return std::nullopt;  // a quota refusal too: then it queues
    return Lease(this, std::move(**r));
  }

  void Cancel(uint64_t ticket) override {
    absl::MutexLock lock(&mu_);
    auto it = waiters_.find(ticket);
    if (it == waiters_.end()) return;
    ready_.push_back({std::move(it->second.done), absl::CancelledError("acquire cancelled")});
    waiters_.erase(it);
    wake_ = true;
  }

  int64_t waiting() const override {
    absl::MutexLock lock(&mu_);
    return static_cast<int64_t>(waiters_.size());
  }

  // Lease::Owner. Both run on the caller's thread (a relay I/O thread): the registry work runs
  // there too when the registry never blocks, on the selector thread otherwise.
  void OnCommit(const Reservation& reservation) override {
    if (!options_.recycle_at_lifetime_limit ||
        reservation.lifetime < options_.limits.max_lifetime) {
      return;
    }
    // A recycle request that is lost would leave the worker at its limit, never selected and
    // never replaced: it is retried until the registry takes it.
    RunOrPost([this, reservation] {
      RunOrRetry({"set shutdown command", reservation.worker.id, [this, reservation] {
                    absl::StatusOr<bool> sent = registry_->RequestShutdown(reservation.worker.id);
                    if (sent.ok() && *sent) {
                      PWGRID_LOG(
                          options_.logger, LogLevel::kInfo,
                          absl::StrCat("Worker has reached session limit (", reservation.lifetime,
                                       "/", options_.limits.max_lifetime,
                                       "). Shutdown command sent."),
                          {{"workerId", reservation.worker.id}});
                    }
                    return sent.status();
                  }});
    });
  }

  // Runs (or is queued) before the release that follows, so the next reservation of a waiting
  // client cannot pick the same worker.
  void OnWorkerUnreachable(const Reservation& reservation) override {
    RunOrPost([this, reservation] {
      absl::Status s = registry_->MarkUnreachable(reservation.worker.id);
      if (s.ok()) {
        PWGRID_LOG(options_.logger, LogLevel::kWarn,
                   "Browser server unreachable: not selected until its next heartbeat",
                   {{"workerId", reservation.worker.id}});
      } else if (!absl::IsUnimplemented(s)) {
        PWGRID_LOG(options_.logger, LogLevel::kError,
                   absl::StrCat("Failed to mark a worker unreachable: ", s.ToString()),
                   {{"workerId", reservation.worker.id}});
      }
    });
  }

  void OnRelease(const Reservation& reservation, bool committed) override {
    RunOrPost([this, reservation, committed] {
      RunOrRetry({"release session slot", reservation.worker.id, [this, reservation, committed] {
                    return registry_->Release(reservation, /*rollback_lifetime=*/!committed);
                  }});
    });
  }

 private:
  struct Waiter {
    SelectRequest request;
    Callback done;
  };
  struct Ready {
    Callback done;
    absl::StatusOr<Lease> result;
  };
  // A registry write that must not be lost (a release, a recycle request).
  struct Retry {
    const char* what;  // for the log: "Failed to <what> (retrying): …"
    std::string worker_id;
    std::function<absl::Status()> call;
  };

  // Never called with mu_ held. A call the registry refused is kept for the thread to retry.
  void RunOrRetry(Retry r) {
    absl::Status s = r.call();
    if (s.ok()) return;
    PWGRID_LOG(options_.logger, LogLevel::kError,
               absl::StrCat("Failed to ", r.what, " (retrying): ", s.ToString()),
               {{"workerId", r.worker_id}});
    absl::MutexLock lock(&mu_);
    retries_.push_back(std::move(r));
  }

  // On the selector thread: the refused calls, once per poll_interval.
  void RunRetries() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Time now = options_.clock->Now();
    if (retries_.empty() || now < next_retry_) return;
    next_retry_ = now + options_.poll_interval;
    std::vector<Retry> retry;
    retry.swap(retries_);
    mu_.Unlock();
    for (Retry& r : retry) {
      if (r.call().ok()) continue;
      absl::MutexLock lock(&mu_);
      retries_.push_back(std::move(r));
    }
    mu_.Lock();
  }

  // Capacity changed: only waiting clients need the thread (a release with nobody waiting, the
  // common case, wakes nothing).
  void Wake() {
    absl::MutexLock lock(&mu_);
    if (!waiters_.empty()) wake_ = true;
  }

  // Never called with mu_ held: registry calls notify our listener, which takes it.
  void RunOrPost(absl::AnyInvocable<void()> task) {
    if (registry_->NeverBlocks()) {
      task();
      return;
    }
    absl::MutexLock lock(&mu_);
    tasks_.push_back(std::move(task));
    wake_ = true;
  }

  void Run() {
    absl::MutexLock lock(&mu_);
    while (true) {
      const absl::Time now = options_.clock->Now();
      absl::Time wake_at = now + options_.poll_interval;
      for (const auto& [ticket, w] : waiters_) wake_at = std::min(wake_at, w.request.deadline);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_ || stop_; };
      mu_.AwaitWithTimeout(absl::Condition(&woken), wake_at - now);
      wake_ = false;

      std::deque<absl::AnyInvocable<void()>> tasks;
      tasks.swap(tasks_);
      std::vector<Ready> ready;
      ready.swap(ready_);
      mu_.Unlock();
      for (auto& task : tasks) task();  // releases first: their slots serve the waiters below
      Deliver(ready);
      mu_.Lock();
      RunRetries();
      if (stop_ && tasks_.empty()) return;
      Pump();
    }
  }

  void Deliver(std::vector<Ready>& ready) {
    for (Ready& r : ready) r.done(std::move(r.result));
    ready.clear();
  }

  static ReserveRequest ToReserve(const SelectRequest& r, const SessionLimits& limits) {
    return ReserveRequest{r.browser, limits, r.tenant, r.tenant_max_sessions};
  }

  // The next waiter to serve, fairly: among tenants with a waiter that can be tried now (its
  // browser type still had a free slot in this pass, its tenant was not found at its quota),
  // the first in name order after the tenant served last (round robin), and that tenant's
  // earliest waiter (first come, first served).
  std::map<uint64_t, Waiter>::iterator NextWaiter(const absl::flat_hash_set<BrowserType>& exhausted,
                                                  const absl::flat_hash_set<std::string>& at_quota)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto best = waiters_.end();
    absl::flat_hash_set<std::string_view> seen;
    for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
      const SelectRequest& r = it->second.request;
      if (exhausted.contains(r.browser) || at_quota.contains(r.tenant)) continue;
      if (!seen.insert(r.tenant).second) continue;  // the tenant's earlier waiter comes first
      if (best == waiters_.end()) {
        best = it;
        continue;
      }
      const std::string& b = best->second.request.tenant;
      // Rotated name order: names after last_tenant_ first, then the rest from the start.
      const bool r_after = r.tenant > last_tenant_;
      const bool b_after = b > last_tenant_;
      if (r_after != b_after ? r_after : r.tenant < b) best = it;
    }
    return best;
  }

  // Serves waiters (see NextWaiter for the order) until none can be served now. A browser type
  // that had no free slot, and a tenant at its quota, are skipped for the rest of this pass.
  void Pump() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<Ready> ready;
    const absl::Time now = options_.clock->Now();
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (now >= it->second.request.deadline) {
        ready.push_back({std::move(it->second.done),
                         absl::DeadlineExceededError("no worker became available in time")});
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
    absl::flat_hash_set<BrowserType> exhausted;
    absl::flat_hash_set<std::string> at_quota;
    while (true) {
      auto it = NextWaiter(exhausted, at_quota);
      if (it == waiters_.end()) break;
      const uint64_t ticket = it->first;
      const SelectRequest request = it->second.request;
      mu_.Unlock();
      absl::StatusOr<std::optional<Reservation>> r =
          registry_->Reserve(ToReserve(request, options_.limits));
      mu_.Lock();
      auto again = waiters_.find(ticket);
      if (r.ok() && !r->has_value()) {
        exhausted.insert(request.browser);
        continue;
      }
      if (absl::IsResourceExhausted(r.status())) {  // the tenant holds its quota: it waits
        at_quota.insert(request.tenant);
        continue;
      }
      if (again == waiters_.end()) {  // cancelled meanwhile: give the slot straight back
        if (r.ok()) {
          mu_.Unlock();  // Release() notifies listeners, and ours takes mu_
          (void)registry_->Release(**r, /*rollback_lifetime=*/true);
          mu_.Lock();
        }
        continue;
      }
      if (r.ok() && options_.clock->Now() >= again->second.request.deadline) {
        // The registry answered after the client's deadline (a slow Redis): the client has been
        // told it waited too long, or is about to be; it gets no session.
        mu_.Unlock();
        (void)registry_->Release(**r, /*rollback_lifetime=*/true);
        mu_.Lock();
        again = waiters_.find(ticket);
        if (again != waiters_.end()) {
          ready.push_back({std::move(again->second.done),
                           absl::DeadlineExceededError("no worker became available in time")});
          waiters_.erase(again);
        }
        continue;
      }
      if (r.ok()) {
        last_tenant_ = request.tenant;
        ready.push_back({std::move(again->second.done), Lease(this, std::move(**r))});
      } else {
        ready.push_back({std::move(again->second.done), r.status()});
      }
      waiters_.erase(again);
    }
    if (!ready.empty()) {
      mu_.Unlock();
      Deliver(ready);
      mu_.Lock();
    }
  }

  WorkerRegistry* const registry_;
  const SelectorOptions options_;
  int64_t watch_id_ = 0;

  mutable absl::Mutex mu_;
  std::map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  std::vector<Ready> ready_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::AnyInvocable<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  std::vector<Retry> retries_ ABSL_GUARDED_BY(mu_);
  absl::Time next_retry_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_tenant_ ABSL_GUARDED_BY(mu_);  // the tenant served last (round robin)
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Selector>> NewRegistrySelector(WorkerRegistry* registry,
                                                              const SelectorOptions& options) {
  if (registry == nullptr) return absl::InvalidArgumentError("registry is null");
  PWGRID_RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<Selector>(new RegistrySelector(registry, options));
}

}  // namespace pwgrid
