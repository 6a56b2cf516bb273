// The in-process WorkerRegistry: one mutex over a map of workers. Leases are kept per worker, so
// a worker's active count is the number of its live leases and Release() is idempotent.
// Reserve() applies the rule to light views of the records (no copies; linear in N, which on one
// machine is small) and runs the reaper at most once a second.
#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/common/log_util.h"
#include "lib/common/status_util.h"
#include "lib/registry/listener_set.h"
#include "lib/registry/selection_core.h"
#include "pwgrid/selection_policy.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid {
namespace {

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

class InMemoryWorkerRegistry : public WorkerRegistry {
 public:
  explicit InMemoryWorkerRegistry(const RegistryOptions& options) : options_(options) {}

  absl::Status Register(const WorkerInfo& info, absl::Duration ttl) override {
    PWGRID_RETURN_IF_ERROR(ValidateWorkerInfo(info));
    if (ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("ttl must be positive");
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = options_.clock->Now();
      ReapLocked(now);
      Record& r = workers_[info.id];  // keeps counters and leases of a returning worker
      r.info = info;
      r.minor = PlaywrightMinor(info.playwright_version);
      r.expires_at = now + ttl;
      r.last_seen = now;
      r.unreachable = false;
    }
    Notify({RegistryEvent::Kind::kCapacityChanged, info.id});
    return absl::OkStatus();
  }

  absl::Status Heartbeat(std::string_view id, absl::Duration ttl) override {
    if (ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("ttl must be positive");
    bool back = false;  // it was unreachable: selectable again
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = options_.clock->Now();
      Record* r = FindAliveLocked(id, now);
      if (r == nullptr) return NotFound(id);
      r->expires_at = now + ttl;
      r->last_seen = now;
      back = std::exchange(r->unreachable, false);
    }
    if (back) Notify({RegistryEvent::Kind::kCapacityChanged, std::string(id)});
    return absl::OkStatus();
  }

  absl::Status MarkUnreachable(std::string_view id) override {
    absl::MutexLock lock(&mu_);
    auto it = workers_.find(id);
    if (it != workers_.end()) it->second.unreachable = true;
    return absl::OkStatus();
  }

  absl::Status SetStatus(std::string_view id, WorkerStatus status) override {
    {
      absl::MutexLock lock(&mu_);
      Record* r = FindAliveLocked(id, options_.clock->Now());
      if (r == nullptr) return NotFound(id);
      r->info.status = status;
    }
    if (status == WorkerStatus::kAvailable) {
      Notify({RegistryEvent::Kind::kCapacityChanged, std::string(id)});
    }
    return absl::OkStatus();
  }

  absl::Status Deregister(std::string_view id) override {
    absl::MutexLock lock(&mu_);
    workers_.erase(std::string(id));
    return absl::OkStatus();
  }

  absl::StatusOr<bool> RequestShutdown(std::string_view id) override {
    {
      absl::MutexLock lock(&mu_);
      auto it = workers_.find(std::string(id));
      if (it == workers_.end()) return NotFound(id);
      if (it->second.shutdown_requested) return false;
      it->second.shutdown_requested = true;
    }
    Notify({RegistryEvent::Kind::kShutdownRequested, std::string(id)});
    return true;
  }

  absl::StatusOr<bool> TakeShutdownCommand(std::string_view id) override {
    absl::MutexLock lock(&mu_);
    auto it = workers_.find(std::string(id));
    if (it == workers_.end()) return NotFound(id);
    return std::exchange(it->second.shutdown_requested, false);
  }

  absl::StatusOr<std::vector<WorkerLoad>> Snapshot() override {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.clock->Now();
    ReapLocked(now);
    return SnapshotLocked(now);
  }

  absl::StatusOr<std::optional<Reservation>> Reserve(const ReserveRequest& request) override {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.clock->Now();
    if (now >= next_reap_) {
      ReapLocked(now);
      next_reap_ = now + absl::Seconds(1);
    }
    if (request.tenant_max_sessions > 0 &&
        TenantSessionsLocked(request.tenant) >= request.tenant_max_sessions) {
      return absl::ResourceExhaustedError(absl::StrCat("tenant ", request.tenant,
                                                       " holds its quota of ",
                                                       request.tenant_max_sessions, " session(s)"));
    }
    // Views, not copies: selection reads every worker but copies only the chosen one.
    views_.clear();
    for (const auto& [id, rec] : workers_) {
      views_.push_back({id, rec.info.browser, rec.info.status,
                        static_cast<int64_t>(rec.leases.size()), rec.lifetime, rec.alive(now),
                        rec.minor});
    }
    std::optional<size_t> chosen = internal::ChooseLoad(
        views_, request.browser, PlaywrightMinor(request.client_version), request.limits);
    if (!chosen) return std::optional<Reservation>();
    Record& r = workers_.find(views_[*chosen].id)->second;
    Reservation out;
    out.worker = r.info;
    out.lease_id = absl::StrCat("lease-", ++next_lease_);
    r.leases.emplace(out.lease_id, request.tenant);
    out.tenant = request.tenant;
    ++r.lifetime;
    out.active = static_cast<int64_t>(r.leases.size());
    out.lifetime = r.lifetime;
    return std::optional<Reservation>(std::move(out));
  }

  bool NeverBlocks() const override { return true; }

  absl::Status Release(const Reservation& reservation, bool rollback_lifetime) override {
    {
      absl::MutexLock lock(&mu_);
      auto it = workers_.find(reservation.worker.id);
      if (it == workers_.end()) return absl::OkStatus();  // reaped or deregistered: nothing left
      Record& r = it->second;
      if (r.leases.erase(reservation.lease_id) == 0) return absl::OkStatus();  // released before
      if (rollback_lifetime && r.lifetime > 0) --r.lifetime;
    }
    Notify({RegistryEvent::Kind::kCapacityChanged, reservation.worker.id});
    return absl::OkStatus();
  }

  int64_t Watch(RegistryListener listener) override { return listeners_.Add(std::move(listener)); }
  void Unwatch(int64_t watch_id) override { listeners_.Remove(watch_id); }

 private:
  // Live leases of `tenant` on every worker not yet reaped (a reaped worker's leases are gone,
  // and with them the tenant's count: nothing to keep in step).
  int64_t TenantSessionsLocked(const std::string& tenant) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int64_t n = 0;
    for (const auto& [id, rec] : workers_) {
      for (const auto& [lease, t] : rec.leases) n += t == tenant ? 1 : 0;
    }
    return n;
  }

  struct Record {
    WorkerInfo info;
    std::string minor;  // PlaywrightMinor(info.playwright_version)
    absl::Time expires_at;
    absl::Time last_seen;  // the last Register() or Heartbeat()
    int64_t lifetime = 0;
    absl::flat_hash_map<std::string, std::string> leases;  // lease id -> tenant
    bool shutdown_requested = false;
    bool unreachable = false;  // MarkUnreachable(), until the next Register() or Heartbeat()

    bool alive(absl::Time now) const { return expires_at > now && !unreachable; }
  };

  static absl::Status NotFound(std::string_view id) {
    return absl::NotFoundError(absl::StrCat("worker ", Av(id), " is not registered or expired"));
  }

  Record* FindAliveLocked(std::string_view id, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = workers_.find(std::string(id));
    if (it == workers_.end() || it->second.expires_at <= now) return nullptr;
    return &it->second;
  }

  // Removes dead workers whose grace period passed (the reaper of the in-memory registry).
  void ReapLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (it->second.expires_at + options_.reap_after <= now) {
        PWGRID_LOG(options_.logger, LogLevel::kInfo, "Reaped stale worker",
                   {{"workerId", it->first}});
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
  }

  std::vector<WorkerLoad> SnapshotLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<WorkerLoad> out;
    out.reserve(workers_.size());
    for (const auto& [id, r] : workers_) {
      out.push_back(WorkerLoad{r.info, static_cast<int64_t>(r.leases.size()), r.lifetime,
                               r.alive(now), absl::ToUnixMillis(r.last_seen)});
    }
    return out;
  }

  void Notify(const RegistryEvent& event) { listeners_.Notify(event); }

  const RegistryOptions options_;
  absl::Mutex mu_;
  std::map<std::string, Record, std::less<>> workers_ ABSL_GUARDED_BY(mu_);
  int64_t next_lease_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time next_reap_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::vector<internal::LoadView> views_ ABSL_GUARDED_BY(mu_);  // Reserve()'s scratch space

  internal::ListenerSet listeners_;
};

}  // namespace

absl::Status RegistryOptions::Validate() const {
  if (clock == nullptr) return absl::InvalidArgumentError("RegistryOptions.clock is null");
  if (logger == nullptr) return absl::InvalidArgumentError("RegistryOptions.logger is null");
  if (reap_after < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("RegistryOptions.reap_after must not be negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WorkerRegistry>> NewInMemoryWorkerRegistry(
    const RegistryOptions& options) {
  PWGRID_RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<WorkerRegistry>(new InMemoryWorkerRegistry(options));
}

}  // namespace pwgrid
