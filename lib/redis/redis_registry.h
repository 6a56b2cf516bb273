// RedisWorkerRegistry: the WorkerRegistry kept in Redis (include/pwgrid/redis_worker_registry.h),
// wire-compatible with playwright-distributed. Internal header. Its code is in three files, by
// job: redis_worker_registry.cc (the WorkerRegistry calls, each one Lua script), redis_upkeep.cc
// (the connection: fail fast, reconnect with backoff, replay of releases and leases; the upkeep
// thread: lease renewal, sweep, reaper, re-index) and redis_pubsub.cc (the subscriber thread).
//
// One hiredis connection, guarded by conn_mu_, carries every command; a second one, owned by the
// listener thread, carries pub/sub.
#ifndef PWGRID_LIB_REDIS_REDIS_REGISTRY_H_
#define PWGRID_LIB_REDIS_REDIS_REGISTRY_H_

#include "lib/common/internal.h"

#include <algorithm>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "lib/common/log_util.h"
#include "lib/common/status_util.h"
#include "lib/redis/redis_connection.h"
#include "lib/redis/redis_registry_hooks.h"
#include "lib/redis/scripts.h"
#include "lib/registry/listener_set.h"
#include "lib/selector/loop_acquire.h"

#include "pwgrid/redis_worker_registry.h"

namespace pwgrid::internal {

inline constexpr size_t kRenewBatch = 1000;
inline constexpr size_t kIndexBatch = 500;
inline constexpr size_t kMaxIndexBatches = 100000;

inline std::string Ms(absl::Duration d) { return absl::StrCat(absl::ToInt64Milliseconds(d)); }

inline std::string Str(std::string_view s) { return std::string(s); }

inline int64_t ToInt(const RedisValue& v) {
  if (v.type == RedisValue::Type::kInteger) return v.integer;
  int64_t out = 0;
  if (v.type == RedisValue::Type::kString && absl::SimpleAtoi(v.str, &out)) return out;
  return 0;
}

// The selection script's arguments (select.lua) for a reservation that does not queue.
std::vector<std::string> SelectArgs(const ReserveRequest& request, const std::string& lease_id,
                                    absl::Duration lease_ttl);

// The selection script's reply (select.lua) as a Reservation without its lease id and tenant;
// nullopt: nothing was reserved. Internal: an array too short to be a reservation.
absl::StatusOr<std::optional<Reservation>> DecodeSelectReply(const RedisValue& r,
                                                             BrowserType browser);

inline std::map<std::string, std::string> HashFromArray(const RedisValue& v) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i + 1 < v.elements.size(); i += 2) {
    out[v.elements[i].str] = v.elements[i + 1].str;
  }
  return out;
}

inline RedisEndpoint EndpointFrom(const RedisRegistryOptions& o, bool blocking) {
  RedisEndpoint e;
  e.host = o.host;
  e.port = o.port;
  e.password = o.password;
  e.db = o.db;
  e.connect_timeout = o.connect_timeout;
  e.command_timeout = blocking ? absl::ZeroDuration() : o.command_timeout;
  return e;
}

// A release Redis did not take because it was away.
struct PendingRelease {
  std::string worker_id;
  std::string lease_id;
  bool rollback_lifetime = false;
  std::string tenant;
};

// What this proxy renews of one of its queued tickets (SharedQueue).
struct LiveTicket {
  BrowserType browser = BrowserType::kChromium;  // the group
  std::string tenant;
  int64_t tenant_max_sessions = 0;
  absl::Time deadline;
  SessionLimits limits;  // what it is served under
};

// A grant of take_grants.lua (the reservation reply's eight fields and the tenant, joined by
// newlines) as a Reservation with the ticket as its lease id. InvalidArgument: malformed.
absl::StatusOr<Reservation> DecodeGrant(std::string_view ticket, std::string_view grant);

// What this proxy renews of one of its leases.
struct LiveLease {
  std::string worker_id;
  std::string tenant;
};
inline constexpr size_t kMaxPendingReleases = 100000;

class RedisWorkerRegistry : public WorkerRegistry, public SharedQueue, public LoopReserveSource {
 public:
  RedisWorkerRegistry(const RedisRegistryOptions& options, internal::RedisRegistryTestHooks hooks)
      : options_(options),
        hooks_(std::move(hooks)),
        backoff_(options.reconnect_backoff_min, options.reconnect_backoff_max),
        proxy_tag_(NewUuid().substr(0, 8)) {
    select_.source = internal::WithPrelude(internal::kLuaSelect);
    release_.source = internal::WithPrelude(internal::kLuaRelease);
    renew_.source = internal::WithPrelude(internal::kLuaRenew);
    sweep_.source = internal::WithPrelude(internal::kLuaSweep);
    reap_.source = internal::WithPrelude(internal::kLuaReap);
    register_.source = internal::WithPrelude(internal::kLuaRegister);
    heartbeat_.source = internal::WithPrelude(internal::kLuaHeartbeat);
    set_status_.source = internal::WithPrelude(internal::kLuaSetStatus);
    take_command_.source = internal::WithPrelude(internal::kLuaTakeCommand);
    index_.source = internal::WithPrelude(internal::kLuaIndex);
    deregister_.source = internal::WithPrelude(internal::kLuaDeregister);
    mark_unreachable_.source = internal::WithPrelude(internal::kLuaMarkUnreachable);
    take_grants_.source = internal::WithPrelude(internal::kLuaTakeGrants);
    leave_.source = internal::WithPrelude(internal::kLuaLeave);
    queue_renew_.source = internal::WithPrelude(internal::kLuaQueueRenew);
    queue_stats_.source = internal::WithPrelude(internal::kLuaQueueStats);
  }

  void Start();

  ~RedisWorkerRegistry() override {
    {
      absl::MutexLock lock(&state_mu_);
      stop_ = true;
    }
    if (upkeep_.joinable()) upkeep_.join();
    if (listener_.joinable()) listener_.join();
  }

  absl::Status Register(const WorkerInfo& info, absl::Duration ttl) override;

  absl::Status Heartbeat(std::string_view id, absl::Duration ttl) override;

  absl::Status SetStatus(std::string_view id, WorkerStatus status) override;

  // Deletes the key and, unlike upstream's worker, the counter entries too: a gone worker must
  // not keep shrinking the selection margin until the reaper runs (upstream defect I1).
  absl::Status Deregister(std::string_view id) override;

  absl::Status MarkUnreachable(std::string_view id) override;

  // Upstream's recycle command: SET NX EX, and PUBLISH only when the SET took.
  absl::StatusOr<bool> RequestShutdown(std::string_view id) override;

  absl::StatusOr<bool> TakeShutdownCommand(std::string_view id) override {
    PWGRID_ASSIGN_OR_RETURN(RedisValue r, Eval(&RedisWorkerRegistry::take_command_, {Str(id)}));
    return ToInt(r) == 1;
  }

  absl::StatusOr<std::vector<WorkerLoad>> Snapshot() override;

  absl::StatusOr<std::optional<Reservation>> Reserve(const ReserveRequest& request) override;

  absl::Status Release(const Reservation& reservation, bool rollback_lifetime) override;

  SharedQueue* shared_queue() override { return this; }

  // LoopReserveSource: one asynchronous connection per loop (redis_loop_reserver.cc).
  std::unique_ptr<LoopReserver> OpenLoopReserver(EventLoop* loop) override;

  // The selection script's reply `r` to a reservation under `lease_id` as a Reservation, which
  // this registry then renews; nullopt: nothing was reserved (or the script asks for a re-index).
  // ResourceExhausted: the tenant is at its quota.
  absl::StatusOr<std::optional<Reservation>> AdoptReservation(const RedisValue& r,
                                                              const ReserveRequest& request,
                                                              const std::string& lease_id);
  std::string NextLeaseId() {
    absl::MutexLock lock(&state_mu_);
    return absl::StrCat(proxy_tag_, "-", ++next_lease_);
  }
  const RedisRegistryOptions& options() const { return options_; }

  // pwgrid:reporter: SET NX PX, and renewed (PEXPIRE) by the proxy it names.
  absl::StatusOr<bool> ClaimReporter(std::string_view claimant, absl::Duration ttl) override;
  // pwgrid:sessions, read before the leases so that an entry whose lease is gone is known to be
  // stale (and is deleted).
  absl::StatusOr<std::vector<GridSession>> Sessions() override;
  absl::Status AnnounceSession(const Reservation& reservation, const GridSession& session) override;

  // SharedQueue: the grid-wide queue (keys.h, select.lua, take_grants.lua, leave.lua).
  absl::StatusOr<EnterResult> Enter(const ReserveRequest& request, absl::Time deadline,
                                    int64_t max_waiting) override;
  absl::StatusOr<std::vector<Grant>> TakeGrants() override;
  absl::Status Leave(std::string_view ticket) override;
  absl::StatusOr<std::vector<QueueStats>> Stats() override;

  int64_t Watch(RegistryListener listener) override { return listeners_.Add(std::move(listener)); }
  void Unwatch(int64_t watch_id) override { listeners_.Remove(watch_id); }

  // While down, a Ping asks the upkeep thread for a reconnect attempt now (whatever the backoff)
  // and waits for its outcome, at most one connect and one round trip: a worker that pings to
  // see whether Redis is back gets a real answer. Selection never pings.
  absl::Status Ping() override;

 private:
  static absl::Status NotFound(std::string_view id) {
    return absl::NotFoundError(absl::StrCat("worker ", absl::string_view(id.data(), id.size()),
                                            " is not registered or expired"));
  }

  // Re-indexes every entry of the active hash, in batches (each batch is one short script, so
  // Redis is never blocked for long), then records that the index has seen them all.
  absl::Status Reindex();

  // The connection. Calls never connect themselves: while the connection is down they fail at
  // once with Unavailable, and the upkeep thread reconnects (Reconnect()), so that no caller waits
  // on a connect or on a Redis that accepts connections but does not answer (SIGSTOP). Every
  // round trip is bounded by command_timeout; a timed-out or broken connection is dropped.
  // `script` names one of the scripts below, which conn_mu_ guards (a NOSCRIPT reload rewrites
  // its SHA): it is read only under the lock.
  absl::StatusOr<RedisValue> Eval(RedisScript RedisWorkerRegistry::*script,
                                  const std::vector<std::string>& args) {
    absl::MutexLock lock(&conn_mu_);
    return EvalLocked(this->*script, args);
  }

  absl::StatusOr<RedisValue> EvalLocked(RedisScript& script, const std::vector<std::string>& args)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(conn_mu_);

  absl::StatusOr<RedisValue> Command(const std::vector<std::string>& args);

  absl::StatusOr<std::vector<RedisValue>> Pipeline(
      const std::vector<std::vector<std::string>>& cmds) {
    absl::MutexLock lock(&conn_mu_);
    PWGRID_RETURN_IF_ERROR(UpLocked());
    absl::StatusOr<std::vector<RedisValue>> r = conn_->Pipeline(cmds);
    NoteLocked(r.status());
    return r;
  }

  bool ConnectedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(conn_mu_) {
    return conn_ != nullptr && conn_->connected();
  }

  absl::Status UpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(conn_mu_) {
    if (ConnectedLocked()) return absl::OkStatus();
    return absl::UnavailableError(absl::StrCat(last_error_, " (reconnecting)"));
  }

  // After a failed round trip: a connection that broke or timed out is gone; the upkeep thread
  // is woken to reconnect.
  void NoteLocked(const absl::Status& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(conn_mu_);

  bool Connected() {
    absl::MutexLock lock(&conn_mu_);
    return ConnectedLocked();
  }

  // Upkeep thread (and Start): connects a fresh connection without holding the connection lock,
  // then, before any other call may use it, gives back the slots released while Redis was away
  // and writes again every live lease, also for workers whose entries Redis lost (it was restarted
  // empty): a busy worker that registers again must not look idle. Paced by the backoff.
  void Reconnect();

  absl::Status FlushPendingReleasesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(conn_mu_);

  static std::vector<std::string> ReleaseArgs(const PendingRelease& r) {
    return {r.worker_id, r.lease_id, r.rollback_lifetime ? "1" : "0", r.tenant};
  }

  // Runs the selection script (select.lua) with `args`, re-indexing first when it asks to.
  absl::StatusOr<RedisValue> Select(std::vector<std::string>& args);

  // Renews this registry's queued tickets (queue_renew.lua), re-queueing those Redis lost.
  absl::Status RenewTicketsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(conn_mu_);

  void Notify(const RegistryEvent& event) { listeners_.Notify(event); }

  // Renews this registry's leases; sweeps expired leases; runs the reaper.
  void RunUpkeep();

  // Renews this registry's leases, re-creating those Redis lost. The list is taken while the
  // connection is held: a Release() whose lease is on it then reaches Redis only after the
  // renewal, and one that came before has already taken its lease off the list. So a renewal
  // never re-creates a lease that was released (it did, pinning a slot for a lease TTL, when a
  // release ran between taking the list and renewing).
  void RenewLeases() {
    absl::MutexLock conn_lock(&conn_mu_);
    if (!ConnectedLocked()) return;
    (void)RenewLeasesLocked(/*after_reconnect=*/false);
    (void)RenewTicketsLocked();
  }

  // `after_reconnect`: Redis may have lost everything, so a lease whose worker has no active
  // entry is written again too (with the entry); otherwise such a lease belongs to a worker that
  // is gone and is left alone.
  absl::Status RenewLeasesLocked(bool after_reconnect) ABSL_EXCLUSIVE_LOCKS_REQUIRED(conn_mu_);

  void Reap();

  bool Stopping() {
    absl::MutexLock lock(&state_mu_);
    return stop_;
  }

  // Pub/sub: capacity wake-ups and shutdown commands become RegistryEvents.
  void RunListener();

  const RedisRegistryOptions options_;
  const internal::RedisRegistryTestHooks hooks_;

  absl::Mutex conn_mu_;
  std::unique_ptr<RedisConnection> conn_ ABSL_GUARDED_BY(conn_mu_);  // null until connected once
  std::string last_error_ ABSL_GUARDED_BY(conn_mu_) = "not connected yet";
  // Reconnect() state: used by Start() and then by the upkeep thread only.
  bool down_ = false;
  absl::Time next_attempt_ = absl::InfinitePast();
  Backoff backoff_;
  RedisScript select_ ABSL_GUARDED_BY(conn_mu_), release_ ABSL_GUARDED_BY(conn_mu_),
      renew_ ABSL_GUARDED_BY(conn_mu_), sweep_ ABSL_GUARDED_BY(conn_mu_),
      reap_ ABSL_GUARDED_BY(conn_mu_), register_ ABSL_GUARDED_BY(conn_mu_),
      heartbeat_ ABSL_GUARDED_BY(conn_mu_), set_status_ ABSL_GUARDED_BY(conn_mu_),
      take_command_ ABSL_GUARDED_BY(conn_mu_), index_ ABSL_GUARDED_BY(conn_mu_),
      deregister_ ABSL_GUARDED_BY(conn_mu_), mark_unreachable_ ABSL_GUARDED_BY(conn_mu_),
      take_grants_ ABSL_GUARDED_BY(conn_mu_), leave_ ABSL_GUARDED_BY(conn_mu_),
      queue_renew_ ABSL_GUARDED_BY(conn_mu_), queue_stats_ ABSL_GUARDED_BY(conn_mu_);

  absl::Mutex state_mu_;
  const std::string proxy_tag_;
  int64_t next_lease_ ABSL_GUARDED_BY(state_mu_) = 0;
  absl::flat_hash_map<std::string, LiveLease> leases_ ABSL_GUARDED_BY(state_mu_);  // by lease id
  // This proxy's queued tickets, by ticket. A ticket leaves when it is granted (TakeGrants) or
  // left (Leave).
  absl::flat_hash_map<std::string, LiveTicket> tickets_ ABSL_GUARDED_BY(state_mu_);
  bool stop_ ABSL_GUARDED_BY(state_mu_) = false;
  bool reconnect_now_ ABSL_GUARDED_BY(state_mu_) = false;  // try to reconnect now
  int64_t reconnect_attempts_ ABSL_GUARDED_BY(state_mu_) = 0;
  // Releases Redis did not take (it was away), given again right after reconnecting.
  std::vector<PendingRelease> pending_releases_ ABSL_GUARDED_BY(state_mu_);

  internal::ListenerSet listeners_;

  std::thread upkeep_;
  std::thread listener_;
};

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_REDIS_REDIS_REGISTRY_H_
