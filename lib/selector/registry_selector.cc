// RegistrySelector: a Selector over any WorkerRegistry (Lease is in lease.cc).
//
// Which thread calls the registry: with a registry that NeverBlocks() (in-memory), TryAcquire,
// releases, recycle requests and unreachable marks run on the caller's thread (a relay I/O
// thread), and only queued clients are served by the selector's thread. With any other
// registry (Redis) every registry call runs on the selector's thread, so that no caller ever
// waits on the registry. Waiters sit in a map ordered by ticket (arrival).
//
// Two queues: with a registry that has no SharedQueue (in-memory), Pump serves the waiters
// itself, per browser type in the order of NextInQueue() (queue_policy.h). With a SharedQueue
// (Redis), the order is the grid's: PumpShared enters each new waiter in the shared queue (which
// serves it at once when nobody waits before it), and takes the slots the queue granted to this
// selector's tickets whenever the registry reports a grant or freed capacity, and on the poll.
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
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/common/log_util.h"
#include "lib/common/status_util.h"
#include "lib/selector/loop_acquire.h"
#include "pwgrid/queue_policy.h"
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

class RegistrySelector : public Selector, public Lease::Owner, public internal::LoopAcquireSource {
 public:
  RegistrySelector(WorkerRegistry* registry, const SelectorOptions& options)
      : registry_(registry), queue_(registry->shared_queue()), options_(options) {
    watch_id_ = registry_->Watch([this](const RegistryEvent& event) {
      if (event.kind == RegistryEvent::Kind::kCapacityChanged ||
          event.kind == RegistryEvent::Kind::kQueueGrant) {
        Wake();
      }
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
      if (!w.remote.empty()) (void)queue_->Leave(w.remote);  // else it expires with its lease
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
      Group group = GroupOf(request);
      waiters_.emplace(ticket, Waiter{std::move(request), std::move(group), std::move(done),
                                      options_.clock->Now(), ""});
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

  // LoopAcquireSource: TryAcquire() on a relay I/O thread's loop, for a registry that can reserve
  // there (Redis), with the same rule: only when nobody waits before the client.
  std::unique_ptr<internal::LoopAcquirer> OpenLoopAcquirer(internal::EventLoop* loop) override {
    auto* source = dynamic_cast<internal::LoopReserveSource*>(registry_);
    if (source == nullptr) return nullptr;
    return std::make_unique<LoopAcquirer>(this, source->OpenLoopReserver(loop));
  }

  void Cancel(uint64_t ticket) override {
    absl::MutexLock lock(&mu_);
    auto it = waiters_.find(ticket);
    if (it == waiters_.end()) return;
    ready_.push_back({std::move(it->second.done), absl::CancelledError("acquire cancelled")});
    if (!it->second.remote.empty()) LeaveLocked(it->second.remote);
    waiters_.erase(it);
    wake_ = true;
  }

  std::vector<QueueStats> queue_stats() const override {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.clock->Now();
    std::map<Group, QueueStats> groups;
    std::map<std::pair<Group, std::string>, QueueStats::Tenant> tenants;
    for (const auto& [ticket, w] : waiters_) {  // arrival order: the first seen waited longest
      QueueStats& g = groups[w.group];
      g.browser = w.group.first;
      g.version = w.group.second;
      if (g.waiting++ == 0) g.oldest_wait = now - w.since;
      QueueStats::Tenant& t = tenants[{w.group, w.request.tenant}];
      t.name = w.request.tenant;
      if (t.waiting++ == 0) t.oldest_wait = now - w.since;
    }
    for (auto& [key, t] : tenants) groups[key.first].tenants.push_back(std::move(t));
    std::vector<QueueStats> out;
    for (auto& [group, g] : groups) out.push_back(std::move(g));
    return out;
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
  class LoopAcquirer : public internal::LoopAcquirer {
   public:
    LoopAcquirer(RegistrySelector* selector, std::unique_ptr<internal::LoopReserver> reserver)
        : selector_(selector), reserver_(std::move(reserver)) {}
    bool TryAcquire(const SelectRequest& request, Done done) override {
      {
        absl::MutexLock lock(&selector_->mu_);
        if (!selector_->waiters_.empty() || selector_->stop_) return false;
      }
      return reserver_->Reserve(
          ToReserve(request, selector_->options_.limits),
          [selector = selector_, done = std::move(done)](std::optional<Reservation> r) mutable {
            if (!r) {
              done(std::nullopt);
            } else {
              done(Lease(selector, *std::move(r)));
            }
          });
    }
    absl::Duration timeout() const override { return reserver_->timeout(); }
    void Abandon() override { reserver_->Abandon(); }

   private:
    RegistrySelector* const selector_;
    const std::unique_ptr<internal::LoopReserver> reserver_;
  };

  // A queue: the browser type and the client's Playwright major.minor ("" for unknown).
  using Group = std::pair<BrowserType, std::string>;
  static Group GroupOf(const SelectRequest& r) {
    return {r.browser, PlaywrightMinor(r.client_version)};
  }
  struct Waiter {
    SelectRequest request;
    Group group;
    Callback done;
    absl::Time since;    // when it arrived
    std::string remote;  // its SharedQueue ticket, once entered there
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
    if (waiters_.empty()) return;
    wake_ = true;
    check_grants_ = true;
  }

  // A waiter with a SharedQueue ticket is gone: its ticket leaves the queue (on the thread).
  void LeaveLocked(const std::string& remote) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    by_remote_.erase(remote);
    tasks_.push_back([this, remote] {
      RunOrRetry({"leave the queue", "", [this, remote] { return queue_->Leave(remote); }});
    });
    wake_ = true;
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
      if (!mu_.AwaitWithTimeout(absl::Condition(&woken), wake_at - now)) {
        check_grants_ = true;  // the safety poll: also for grants whose message was lost
      }
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
      if (queue_ != nullptr) {
        PumpShared();
      } else {
        Pump();
      }
    }
  }

  void Deliver(std::vector<Ready>& ready) {
    for (Ready& r : ready) r.done(std::move(r.result));
    ready.clear();
  }

  static ReserveRequest ToReserve(const SelectRequest& r, const SessionLimits& limits) {
    return ReserveRequest{r.browser, limits, r.tenant, r.tenant_max_sessions, r.client_version};
  }

  // The next waiter to serve: for each browser type that still had a free slot in this pass,
  // NextInQueue() (queue_policy.h) over its waiters, with tenants found at their quota in this
  // pass skipped; of those, the earliest.
  std::map<uint64_t, Waiter>::iterator NextWaiter(const absl::flat_hash_set<Group>& exhausted,
                                                  const absl::flat_hash_set<std::string>& at_quota)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::map<Group, std::vector<std::map<uint64_t, Waiter>::iterator>> groups;
    for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
      if (!exhausted.contains(it->second.group)) groups[it->second.group].push_back(it);
    }
    auto best = waiters_.end();
    std::vector<QueuedClient> queue;
    for (const auto& [group, members] : groups) {
      queue.clear();
      for (auto it : members) {
        queue.push_back({it->second.request.tenant, at_quota.contains(it->second.request.tenant)});
      }
      std::optional<size_t> next = NextInQueue(queue, last_tenant_[group]);
      if (next && (best == waiters_.end() || members[*next]->first < best->first)) {
        best = members[*next];
      }
    }
    return best;
  }

  // Answers every waiter whose deadline has passed with DeadlineExceeded (into `ready`); a
  // waiter with a SharedQueue ticket also leaves the shared queue.
  void ExpireWaiters(std::vector<Ready>& ready) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Time now = options_.clock->Now();
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (now >= it->second.request.deadline) {
        ready.push_back({std::move(it->second.done),
                         absl::DeadlineExceededError("no worker became available in time")});
        if (!it->second.remote.empty()) LeaveLocked(it->second.remote);
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Serves waiters (see NextWaiter for the order) until none can be served now. A browser type
  // that had no free slot, and a tenant at its quota, are skipped for the rest of this pass.
  void Pump() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<Ready> ready;
    ExpireWaiters(ready);
    absl::flat_hash_set<Group> exhausted;
    absl::flat_hash_set<std::string> at_quota;
    while (true) {
      auto it = NextWaiter(exhausted, at_quota);
      if (it == waiters_.end()) break;
      const uint64_t ticket = it->first;
      const SelectRequest request = it->second.request;
      const Group group = it->second.group;
      mu_.Unlock();
      absl::StatusOr<std::optional<Reservation>> r =
          registry_->Reserve(ToReserve(request, options_.limits));
      mu_.Lock();
      auto again = waiters_.find(ticket);
      if (r.ok() && !r->has_value()) {
        exhausted.insert(group);
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
        last_tenant_[group] = request.tenant;
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

  // Serves waiters through the registry's SharedQueue: the grid decides the order.
  void PumpShared() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<Ready> ready;
    ExpireWaiters(ready);
    // New waiters join the shared queue, in arrival order.
    std::vector<uint64_t> fresh;
    for (const auto& [ticket, w] : waiters_) {
      if (w.remote.empty()) fresh.push_back(ticket);
    }
    for (uint64_t ticket : fresh) {
      auto it = waiters_.find(ticket);
      if (it == waiters_.end()) continue;
      const SelectRequest request = it->second.request;
      const Group group = it->second.group;
      mu_.Unlock();
      absl::StatusOr<SharedQueue::EnterResult> r = queue_->Enter(
          ToReserve(request, options_.limits), request.deadline, options_.max_waiting);
      mu_.Lock();
      it = waiters_.find(ticket);
      if (it == waiters_.end()) {  // cancelled meanwhile
        if (r.ok() && r->reservation) {
          mu_.Unlock();
          (void)registry_->Release(*r->reservation, /*rollback_lifetime=*/true);
          mu_.Lock();
        } else if (r.ok()) {
          LeaveLocked(r->ticket);
        }
        continue;
      }
      if (!r.ok()) {
        ready.push_back({std::move(it->second.done), r.status()});
        waiters_.erase(it);
      } else if (r->reservation) {
        ready.push_back({std::move(it->second.done), Lease(this, *std::move(r->reservation))});
        waiters_.erase(it);
      } else {
        it->second.remote = r->ticket;
        by_remote_[r->ticket] = ticket;
      }
    }
    if (check_grants_ && !by_remote_.empty()) {
      check_grants_ = false;
      mu_.Unlock();
      absl::StatusOr<std::vector<SharedQueue::Grant>> grants = queue_->TakeGrants();
      mu_.Lock();
      if (!grants.ok()) {
        PWGRID_LOG(options_.logger, LogLevel::kWarn,
                   absl::StrCat("Could not take queue grants: ", grants.status().ToString()));
      }
      std::vector<Reservation> unwanted;
      for (SharedQueue::Grant& g : grants.ok() ? *grants : std::vector<SharedQueue::Grant>()) {
        auto local = by_remote_.find(g.ticket);
        auto it = local == by_remote_.end() ? waiters_.end() : waiters_.find(local->second);
        if (local != by_remote_.end()) by_remote_.erase(local);
        if (it == waiters_.end() || options_.clock->Now() >= it->second.request.deadline) {
          unwanted.push_back(std::move(g.reservation));  // its client left, or its time is up
          continue;
        }
        ready.push_back({std::move(it->second.done), Lease(this, std::move(g.reservation))});
        waiters_.erase(it);
      }
      if (!unwanted.empty()) {
        mu_.Unlock();
        for (const Reservation& r : unwanted) {
          (void)registry_->Release(r, /*rollback_lifetime=*/true);
        }
        mu_.Lock();
      }
    }
    if (!ready.empty()) {
      mu_.Unlock();
      Deliver(ready);
      mu_.Lock();
    }
  }

  WorkerRegistry* const registry_;
  SharedQueue* const queue_;  // the registry's, or null
  const SelectorOptions options_;
  int64_t watch_id_ = 0;

  mutable absl::Mutex mu_;
  std::map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  std::vector<Ready> ready_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::AnyInvocable<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  std::vector<Retry> retries_ ABSL_GUARDED_BY(mu_);
  absl::Time next_retry_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  // The tenant served last, per group (the turn order of NextInQueue).
  std::map<Group, std::string> last_tenant_ ABSL_GUARDED_BY(mu_);
  // SharedQueue tickets of waiters, to their local tickets.
  absl::flat_hash_map<std::string, uint64_t> by_remote_ ABSL_GUARDED_BY(mu_);
  bool check_grants_ ABSL_GUARDED_BY(mu_) = false;  // ask the SharedQueue for grants
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
