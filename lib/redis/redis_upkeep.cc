// The Redis registry's connection and upkeep: every round trip fails fast while Redis is away;
// only the upkeep thread reconnects (with backoff), then gives back the releases Redis missed
// and writes this proxy's leases again before serving; it renews leases every lease_ttl / 3,
// sweeps expired leases, runs the reaper and the periodic re-index. See redis_registry.h.
#include "lib/redis/redis_registry.h"

namespace pwgrid::internal {

// Re-indexes every entry of the active hash, in batches (each batch is one short script, so
// Redis is never blocked for long), then records that the index has seen them all.
absl::Status RedisWorkerRegistry::Reindex() {
  std::string cursor = "0";
  std::vector<std::string> pending = {"0"};
  size_t batches = 0;
  do {
    PWGRID_ASSIGN_OR_RETURN(RedisValue r, Command({"HSCAN", kActiveHash, cursor, "COUNT", "1000"}));
    if (r.type != RedisValue::Type::kArray || r.elements.size() != 2) {
      return absl::InternalError("HSCAN gave an unexpected reply");
    }
    cursor = r.elements[0].str;
    const std::vector<RedisValue>& flat = r.elements[1].elements;
    for (size_t i = 0; i < flat.size(); i += 2) pending.push_back(flat[i].str);
    if (pending.size() > kIndexBatch || cursor == "0") {
      if (cursor == "0") pending[0] = "1";
      PWGRID_ASSIGN_OR_RETURN(RedisValue done, Eval(&RedisWorkerRegistry::index_, pending));
      (void)done;
      pending.resize(1);
      ++batches;
    }
  } while (cursor != "0" && batches < kMaxIndexBatches);
  PWGRID_LOG(options_.logger, LogLevel::kDebug, "Re-indexed the worker registry");
  return absl::OkStatus();
}

absl::StatusOr<RedisValue> RedisWorkerRegistry::EvalLocked(RedisScript& script,
                                                           const std::vector<std::string>& args) {
  PWGRID_RETURN_IF_ERROR(UpLocked());
  absl::StatusOr<RedisValue> r = conn_->Eval(script, {}, args);
  NoteLocked(r.status());
  return r;
}

absl::StatusOr<RedisValue> RedisWorkerRegistry::Command(const std::vector<std::string>& args) {
  absl::MutexLock lock(&conn_mu_);
  PWGRID_RETURN_IF_ERROR(UpLocked());
  absl::StatusOr<RedisValue> r = conn_->Command(args);
  NoteLocked(r.status());
  return r;
}

// After a failed round trip: a connection that broke or timed out is gone; the upkeep thread
// is woken to reconnect.
void RedisWorkerRegistry::NoteLocked(const absl::Status& s) {
  if (s.ok() || conn_->connected()) return;
  last_error_ = std::string(s.message());
  PWGRID_LOG(options_.logger, LogLevel::kError,
             absl::StrCat("Lost the Redis connection: ", s.message()));
  absl::MutexLock lock(&state_mu_);
  reconnect_now_ = true;
}

// Upkeep thread (and Start): connects a fresh connection without holding the connection lock,
// then, before any other call may use it, gives back the slots released while Redis was away
// and writes again every live lease, also for workers whose entries Redis lost (it was restarted
// empty): a busy worker that registers again must not look idle. Paced by the backoff.
void RedisWorkerRegistry::Reconnect() {
  const absl::Time now = options_.clock->Now();
  if (now < next_attempt_) return;
  auto fresh = std::make_unique<RedisConnection>(EndpointFrom(options_, /*blocking=*/false));
  absl::Status s = fresh->Connect();
  if (s.ok()) {
    absl::MutexLock lock(&conn_mu_);
    conn_ = std::move(fresh);
    s = FlushPendingReleasesLocked();
    if (s.ok()) s = RenewLeasesLocked(/*after_reconnect=*/true);
    if (s.ok()) s = RenewTicketsLocked();
    if (!s.ok()) {
      conn_->Close();
      last_error_ = std::string(s.message());
    }
  } else {
    absl::MutexLock lock(&conn_mu_);
    last_error_ = std::string(s.message());
  }
  if (!s.ok()) {
    if (!down_) {
      PWGRID_LOG(options_.logger, LogLevel::kError,
                 absl::StrCat("Redis unreachable, retrying with backoff: ", s.message()));
    }
    down_ = true;
    next_attempt_ = now + backoff_.Next();
    return;
  }
  PWGRID_LOG(options_.logger, LogLevel::kInfo,
             down_ ? "Reconnected to Redis" : "Connected to Redis",
             {{"redis", internal::Describe(EndpointFrom(options_, false))}});
  down_ = false;
  next_attempt_ = absl::InfinitePast();
  backoff_.Reset();
  Notify({RegistryEvent::Kind::kCapacityChanged, ""});  // waiting clients may go on
}

absl::Status RedisWorkerRegistry::FlushPendingReleasesLocked() {
  std::vector<PendingRelease> pending;
  {
    absl::MutexLock lock(&state_mu_);
    pending.swap(pending_releases_);
  }
  for (size_t i = 0; i < pending.size(); ++i) {
    absl::StatusOr<RedisValue> r = EvalLocked(release_, ReleaseArgs(pending[i]));
    if (!r.ok() && absl::IsUnavailable(r.status())) {
      absl::MutexLock lock(&state_mu_);
      pending_releases_.insert(pending_releases_.end(), pending.begin() + i, pending.end());
      return r.status();
    }
  }
  if (!pending.empty()) {
    PWGRID_LOG(options_.logger, LogLevel::kInfo,
               absl::StrCat("Released ", pending.size(),
                            " session slot(s) that were given back while Redis was away"));
  }
  return absl::OkStatus();
}

// Renews this registry's leases; sweeps expired leases; runs the reaper.
void RedisWorkerRegistry::RunUpkeep() {
  const absl::Duration renew_every = options_.lease_ttl / 3;
  absl::Time next_renew = options_.clock->Now() + renew_every;
  absl::Time next_sweep = options_.clock->Now() + options_.lease_sweep_interval;
  absl::Time next_reap = options_.clock->Now() + options_.reaper_interval;
  absl::Time next_reindex = options_.clock->Now() + options_.reindex_interval;
  while (true) {
    const bool up = Connected();  // taken before state_mu_: the lock order is conn_mu_, state_mu_
    {
      absl::MutexLock lock(&state_mu_);
      const absl::Time now = options_.clock->Now();
      // While down, only the next reconnect attempt is due.
      const absl::Time due =
          up ? std::min({next_renew, next_sweep, next_reap, next_reindex}) : next_attempt_;
      auto woken = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_) { return stop_ || reconnect_now_; };
      state_mu_.AwaitWithTimeout(absl::Condition(&woken), due - now);
      if (stop_) return;
      if (std::exchange(reconnect_now_, false)) next_attempt_ = absl::InfinitePast();
    }
    if (!Connected()) {
      Reconnect();
      absl::MutexLock lock(&state_mu_);
      ++reconnect_attempts_;  // for Ping()
      continue;
    }
    const absl::Time now = options_.clock->Now();
    if (now >= next_renew) {
      RenewLeases();
      if (hooks_.after_renewal) hooks_.after_renewal();
      next_renew = now + renew_every;
    }
    if (now >= next_sweep) {
      absl::StatusOr<RedisValue> r = Eval(&RedisWorkerRegistry::sweep_, {"1000"});
      if (r.ok() && ToInt(*r) > 0) {
        PWGRID_LOG(options_.logger, LogLevel::kInfo,
                   absl::StrCat("Freed ", ToInt(*r), " session slot(s) of expired leases"));
      }
      next_sweep = now + options_.lease_sweep_interval;
    }
    if (now >= next_reap) {
      Reap();
      next_reap = now + options_.reaper_interval;
    }
    if (now >= next_reindex) {
      absl::StatusOr<RedisValue> lock =
          Command({"SET", kReindexLock, proxy_tag_, "NX", "PX", Ms(options_.reindex_interval)});
      if (lock.ok() && !lock->is_nil() && !lock->is_error()) {
        if (absl::Status s = Reindex(); !s.ok()) {
          PWGRID_LOG(options_.logger, LogLevel::kWarn,
                     absl::StrCat("Could not re-index the worker registry: ", s.message()));
        }
      }
      next_reindex = now + options_.reindex_interval;
    }
  }
}

// `after_reconnect`: Redis may have lost everything, so a lease whose worker has no active
// entry is written again too (with the entry); otherwise such a lease belongs to a worker that
// is gone and is left alone.
absl::Status RedisWorkerRegistry::RenewLeasesLocked(bool after_reconnect) {
  std::vector<std::pair<std::string, LiveLease>> mine;  // by lease id
  {
    absl::MutexLock lock(&state_mu_);
    mine.assign(leases_.begin(), leases_.end());
  }
  if (hooks_.after_renew_snapshot) hooks_.after_renew_snapshot();
  for (size_t start = 0; start < mine.size(); start += kRenewBatch) {
    std::vector<std::string> args = {Ms(options_.lease_ttl), after_reconnect ? "1" : "0"};
    for (size_t i = start; i < std::min(mine.size(), start + kRenewBatch); ++i) {
      args.push_back(mine[i].second.worker_id);
      args.push_back(mine[i].first);
      args.push_back(mine[i].second.tenant);
    }
    absl::StatusOr<RedisValue> r = EvalLocked(renew_, args);
    if (!r.ok()) {
      PWGRID_LOG(options_.logger, LogLevel::kWarn,
                 absl::StrCat("Could not renew session leases: ", r.status().message()));
      return r.status();
    }
    if (ToInt(*r) > 0) {
      PWGRID_LOG(options_.logger, LogLevel::kWarn,
                 absl::StrCat("Restored ", ToInt(*r), " session lease(s) Redis had lost"));
    }
  }
  return absl::OkStatus();
}

absl::Status RedisWorkerRegistry::RenewTicketsLocked() {
  std::vector<std::pair<std::string, LiveTicket>> mine;
  const absl::Time now = options_.clock->Now();
  {
    absl::MutexLock lock(&state_mu_);
    for (auto it = tickets_.begin(); it != tickets_.end();) {
      if (it->second.deadline <= now) {  // its client is told so by the selector; Redis drops it
        tickets_.erase(it++);
        continue;
      }
      mine.emplace_back(it->first, it->second);
      ++it;
    }
  }
  for (size_t start = 0; start < mine.size(); start += kRenewBatch) {
    std::vector<std::string> args = {Ms(options_.lease_ttl), proxy_tag_};
    for (size_t i = start; i < std::min(mine.size(), start + kRenewBatch); ++i) {
      const LiveTicket& t = mine[i].second;
      args.push_back(mine[i].first);
      args.push_back(Str(ToString(t.browser)));
      args.push_back(t.tenant);
      args.push_back(absl::StrCat(t.tenant_max_sessions));
      args.push_back(Ms(std::min(t.deadline - now, absl::Hours(24 * 365))));
      args.push_back(absl::StrCat(t.limits.max_concurrent));
      args.push_back(absl::StrCat(t.limits.max_lifetime));
    }
    absl::StatusOr<RedisValue> r = EvalLocked(queue_renew_, args);
    if (!r.ok()) {
      PWGRID_LOG(options_.logger, LogLevel::kWarn,
                 absl::StrCat("Could not renew queue tickets: ", r.status().message()));
      return r.status();
    }
    if (ToInt(*r) > 0) {
      PWGRID_LOG(options_.logger, LogLevel::kWarn,
                 absl::StrCat("Queued again ", ToInt(*r), " waiting client(s) Redis had lost"));
    }
  }
  return absl::OkStatus();
}

void RedisWorkerRegistry::Reap() {
  PWGRID_LOG(options_.logger, LogLevel::kDebug, "Running reaper");
  absl::StatusOr<RedisValue> r = Eval(&RedisWorkerRegistry::reap_, {});
  if (!r.ok()) {
    PWGRID_LOG(options_.logger, LogLevel::kError,
               absl::StrCat("Reaper error: ", r.status().message()));
    return;
  }
  if (r->elements.empty()) return;
  std::vector<std::string> ids;
  for (const RedisValue& v : r->elements) ids.push_back(v.str);
  PWGRID_LOG(
      options_.logger, LogLevel::kInfo,
      absl::StrCat("Reaped ", ids.size(), " stale worker(s): [", absl::StrJoin(ids, " "), "]"));
}

}  // namespace pwgrid::internal
