// The Redis WorkerRegistry (see include/pwgrid/redis_worker_registry.h).
//
// One hiredis connection, guarded by conn_mu_, carries every command; a second one, owned by the
// listener thread, carries pub/sub. The upkeep thread renews this registry's leases, sweeps
// expired leases of every proxy and runs upstream's reaper.
#include "pwgrid/redis_worker_registry.h"

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
#include "absl/synchronization/mutex.h"
#include "lib/common/log_util.h"
#include "lib/common/status_util.h"
#include "lib/redis/redis_connection.h"
#include "lib/redis/redis_registry_hooks.h"
#include "lib/redis/scripts.h"

namespace pwgrid {

using internal::RedisConnection;
using internal::RedisEndpoint;
using internal::RedisScript;
using internal::RedisValue;

absl::Status RedisRegistryOptions::Validate() const {
  if (host.empty()) return absl::InvalidArgumentError("Redis host is empty");
  if (port < 1 || port > 65535) return absl::InvalidArgumentError("Redis port must be 1..65535");
  if (db < 0) return absl::InvalidArgumentError("Redis db must not be negative");
  if (connect_timeout <= absl::ZeroDuration() || command_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("Redis timeouts must be positive");
  }
  if (reconnect_backoff_min <= absl::ZeroDuration() ||
      reconnect_backoff_max < reconnect_backoff_min) {
    return absl::InvalidArgumentError("reconnect backoff must be positive, with min <= max");
  }
  if (lease_ttl < absl::Seconds(1)) return absl::InvalidArgumentError("lease_ttl must be >= 1s");
  if (lease_sweep_interval <= absl::ZeroDuration() || reaper_interval <= absl::ZeroDuration() ||
      reindex_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "lease_sweep_interval, reaper_interval and reindex_interval must be positive");
  }
  if (shutdown_command_ttl < absl::Seconds(1)) {
    return absl::InvalidArgumentError("shutdown_command_ttl must be >= 1s");
  }
  if (clock == nullptr || logger == nullptr) {
    return absl::InvalidArgumentError("RedisRegistryOptions.clock and .logger must not be null");
  }
  return absl::OkStatus();
}

namespace {

constexpr char kActiveHash[] = "cluster:active_connections";
constexpr char kLifetimeHash[] = "cluster:lifetime_connections";
constexpr char kCapacityChannel[] = "pwgrid:capacity";
constexpr char kUnreachableHash[] = "pwgrid:unreachable";  // see lib/redis/scripts.h
constexpr char kCommandPattern[] = "worker:cmd:*";
constexpr size_t kRenewBatch = 1000;
constexpr size_t kIndexBatch = 500;
constexpr size_t kMaxIndexBatches = 100000;
// One proxy at a time re-indexes periodically: it takes this key for reindex_interval.
constexpr char kReindexLock[] = "pwgrid:reindex-lock";

std::string Ms(absl::Duration d) { return absl::StrCat(absl::ToInt64Milliseconds(d)); }

std::string Str(std::string_view s) { return std::string(s); }

int64_t ToInt(const RedisValue& v) {
  if (v.type == RedisValue::Type::kInteger) return v.integer;
  int64_t out = 0;
  if (v.type == RedisValue::Type::kString && absl::SimpleAtoi(v.str, &out)) return out;
  return 0;
}

std::map<std::string, std::string> HashFromArray(const RedisValue& v) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i + 1 < v.elements.size(); i += 2) {
    out[v.elements[i].str] = v.elements[i + 1].str;
  }
  return out;
}

RedisEndpoint EndpointFrom(const RedisRegistryOptions& o, bool blocking) {
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
};
constexpr size_t kMaxPendingReleases = 100000;

class RedisWorkerRegistry : public WorkerRegistry {
 public:
  RedisWorkerRegistry(const RedisRegistryOptions& options, internal::RedisRegistryTestHooks hooks)
      : options_(options),
        hooks_(std::move(hooks)),
        backoff_(options.reconnect_backoff_min),
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
  }

  void Start() {
    Reconnect();  // one attempt now, so that a registry created with Redis up is usable at once
    upkeep_ = std::thread([this] { RunUpkeep(); });
    if (options_.subscribe) listener_ = std::thread([this] { RunListener(); });
  }

  ~RedisWorkerRegistry() override {
    {
      absl::MutexLock lock(&state_mu_);
      stop_ = true;
    }
    if (upkeep_.joinable()) upkeep_.join();
    if (listener_.joinable()) listener_.join();
  }

  absl::Status Register(const WorkerInfo& info, absl::Duration ttl) override {
    PWGRID_RETURN_IF_ERROR(ValidateWorkerInfo(info));
    if (ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("ttl must be positive");
    const std::string prefix = absl::StrCat(Str(ToString(info.browser)), ":");
    if (!absl::StartsWith(info.id, prefix) || info.id.size() == prefix.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("worker id must be \"", prefix, "<uuid>\" in Redis: ", info.id));
    }
    PWGRID_ASSIGN_OR_RETURN(
        RedisValue r, Eval(&RedisWorkerRegistry::register_,
                           {info.id, info.id.substr(prefix.size()), Str(ToString(info.browser)),
                            info.endpoint, Str(ToString(info.status)),
                            absl::StrCat(info.started_at_ms), Ms(ttl), info.playwright_version}));
    (void)r;
    Notify({RegistryEvent::Kind::kCapacityChanged, info.id});
    return absl::OkStatus();
  }

  absl::Status Heartbeat(std::string_view id, absl::Duration ttl) override {
    if (ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("ttl must be positive");
    PWGRID_ASSIGN_OR_RETURN(RedisValue r,
                            Eval(&RedisWorkerRegistry::heartbeat_, {Str(id), Ms(ttl)}));
    if (ToInt(r) == 0) return NotFound(id);
    return absl::OkStatus();
  }

  absl::Status SetStatus(std::string_view id, WorkerStatus status) override {
    PWGRID_ASSIGN_OR_RETURN(
        RedisValue r, Eval(&RedisWorkerRegistry::set_status_, {Str(id), Str(ToString(status))}));
    if (ToInt(r) == 0) return NotFound(id);
    if (status == WorkerStatus::kAvailable) {
      Notify({RegistryEvent::Kind::kCapacityChanged, Str(id)});
    }
    return absl::OkStatus();
  }

  // Deletes the key and, unlike upstream's worker, the counter entries too: a gone worker must
  // not keep shrinking the selection margin until the reaper runs (upstream defect I1).
  absl::Status Deregister(std::string_view id) override {
    PWGRID_ASSIGN_OR_RETURN(RedisValue r, Eval(&RedisWorkerRegistry::deregister_, {Str(id)}));
    (void)r;
    return absl::OkStatus();
  }

  absl::Status MarkUnreachable(std::string_view id) override {
    PWGRID_ASSIGN_OR_RETURN(RedisValue r, Eval(&RedisWorkerRegistry::mark_unreachable_, {Str(id)}));
    (void)r;
    return absl::OkStatus();
  }

  // Upstream's recycle command: SET NX EX, and PUBLISH only when the SET took.
  absl::StatusOr<bool> RequestShutdown(std::string_view id) override {
    const std::string key = absl::StrCat("worker:cmd:", Str(id));
    PWGRID_ASSIGN_OR_RETURN(
        RedisValue set,
        Command({"SET", key, "shutdown", "NX", "EX",
                 absl::StrCat(absl::ToInt64Seconds(options_.shutdown_command_ttl))}));
    if (set.is_error()) return absl::InternalError(absl::StrCat("SET ", key, ": ", set.str));
    if (set.is_nil()) return false;
    absl::StatusOr<RedisValue> pub = Command({"PUBLISH", key, "shutdown"});
    if (!pub.ok() || pub->is_error()) {
      PWGRID_LOG(options_.logger, LogLevel::kWarn,
                 absl::StrCat("Failed to publish shutdown command: ",
                              pub.ok() ? pub->str : pub.status().ToString()),
                 {{"workerId", Str(id)}});
    }
    // Watchers of this object hear of it at once, even before the subscription is up; the
    // pub/sub copy may arrive too (a shutdown event is idempotent for its listeners).
    Notify({RegistryEvent::Kind::kShutdownRequested, Str(id)});
    return true;
  }

  absl::StatusOr<bool> TakeShutdownCommand(std::string_view id) override {
    PWGRID_ASSIGN_OR_RETURN(RedisValue r, Eval(&RedisWorkerRegistry::take_command_, {Str(id)}));
    return ToInt(r) == 1;
  }

  absl::StatusOr<std::vector<WorkerLoad>> Snapshot() override {
    PWGRID_ASSIGN_OR_RETURN(
        std::vector<RedisValue> hashes,
        Pipeline(
            {{"HGETALL", kActiveHash}, {"HGETALL", kLifetimeHash}, {"HGETALL", kUnreachableHash}}));
    const std::map<std::string, std::string> active = HashFromArray(hashes[0]);
    const std::map<std::string, std::string> lifetime = HashFromArray(hashes[1]);
    const std::map<std::string, std::string> unreachable = HashFromArray(hashes[2]);
    std::vector<std::string> ids;
    for (const auto& [wid, v] : active) ids.push_back(wid);
    for (const auto& [wid, v] : lifetime) {
      if (!active.contains(wid)) ids.push_back(wid);
    }
    std::sort(ids.begin(), ids.end());
    std::vector<std::vector<std::string>> cmds;
    for (const std::string& wid : ids) {
      cmds.push_back({"HGETALL", absl::StrCat("worker:", wid)});
      cmds.push_back({"PTTL", absl::StrCat("worker:", wid)});
    }
    std::vector<RedisValue> details;
    if (!cmds.empty()) {
      PWGRID_ASSIGN_OR_RETURN(details, Pipeline(cmds));
    }
    std::vector<WorkerLoad> out;
    for (size_t i = 0; i < ids.size(); ++i) {
      const std::string& wid = ids[i];
      std::map<std::string, std::string> fields = HashFromArray(details[2 * i]);
      WorkerLoad load;
      load.info.id = wid;
      absl::StatusOr<BrowserType> browser = ParseBrowserType(
          fields.contains("browserType") ? fields["browserType"] : wid.substr(0, wid.find(':')));
      if (!browser.ok()) continue;  // not a worker pwgrid can route to
      load.info.browser = *browser;
      load.info.endpoint = fields["endpoint"];
      absl::StatusOr<WorkerStatus> status = ParseWorkerStatus(fields["status"]);
      load.info.status = status.ok() ? *status : WorkerStatus::kShuttingDown;
      load.info.playwright_version = fields["playwrightVersion"];
      (void)absl::SimpleAtoi(fields["startedAt"], &load.info.started_at_ms);
      auto a = active.find(wid);
      auto l = lifetime.find(wid);
      if (a != active.end()) (void)absl::SimpleAtoi(a->second, &load.active);
      if (l != lifetime.end()) (void)absl::SimpleAtoi(l->second, &load.lifetime);
      auto mark = unreachable.find(wid);
      const bool marked = mark != unreachable.end() && mark->second == fields["lastHeartbeat"];
      load.alive = ToInt(details[2 * i + 1]) > 0 && status.ok() && !marked;
      out.push_back(std::move(load));
    }
    return out;
  }

  absl::StatusOr<std::optional<Reservation>> Reserve(const ReserveRequest& request) override {
    const std::string lease_id = NextLeaseId();
    std::vector<std::string> args = {absl::StrCat(request.limits.max_concurrent),
                                     absl::StrCat(request.limits.max_lifetime),
                                     Str(ToString(request.browser)),
                                     lease_id,
                                     Ms(options_.lease_ttl),
                                     "1"};
    PWGRID_ASSIGN_OR_RETURN(RedisValue r, Eval(&RedisWorkerRegistry::select_, args));
    if (r.type == RedisValue::Type::kInteger && r.integer == -1) {
      // A writer that bypasses pwgrid's scripts (upstream's worker) added or removed workers.
      PWGRID_RETURN_IF_ERROR(Reindex());
      args.back() = "0";
      PWGRID_ASSIGN_OR_RETURN(r, Eval(&RedisWorkerRegistry::select_, args));
    }
    if (r.is_nil() || r.type != RedisValue::Type::kArray) return std::optional<Reservation>();
    if (r.elements.size() < 8) return absl::InternalError("selection script gave a short reply");
    Reservation out;
    out.worker.id = r.elements[0].str;
    out.active = ToInt(r.elements[1]);
    out.lifetime = ToInt(r.elements[2]);
    out.worker.browser = request.browser;
    out.worker.endpoint = r.elements[4].str;
    absl::StatusOr<WorkerStatus> status = ParseWorkerStatus(r.elements[5].str);
    out.worker.status = status.ok() ? *status : WorkerStatus::kAvailable;
    (void)absl::SimpleAtoi(r.elements[6].str, &out.worker.started_at_ms);
    out.worker.playwright_version = r.elements[7].str;
    out.lease_id = lease_id;
    {
      absl::MutexLock lock(&state_mu_);
      leases_.emplace(lease_id, out.worker.id);
    }
    return std::optional<Reservation>(std::move(out));
  }

  absl::Status Release(const Reservation& reservation, bool rollback_lifetime) override {
    {
      absl::MutexLock lock(&state_mu_);
      // Whatever Redis answers, stop renewing: a lease Redis could not release now expires.
      leases_.erase(reservation.lease_id);
    }
    PendingRelease release{reservation.worker.id, reservation.lease_id, rollback_lifetime};
    absl::StatusOr<RedisValue> r = Eval(&RedisWorkerRegistry::release_, ReleaseArgs(release));
    if (absl::IsUnavailable(r.status())) {
      // Redis is away: the slot is given back as soon as it answers again, before anything
      // else. The release is taken (OK); only with the queue full must the caller try again.
      absl::MutexLock lock(&state_mu_);
      if (pending_releases_.size() < kMaxPendingReleases) {
        pending_releases_.push_back(release);
        return absl::OkStatus();
      }
    }
    if (!r.ok()) return r.status();
    if (ToInt(*r) == 1) Notify({RegistryEvent::Kind::kCapacityChanged, reservation.worker.id});
    return absl::OkStatus();
  }

  int64_t Watch(RegistryListener listener) override {
    absl::WriterMutexLock lock(&listeners_mu_);
    const int64_t id = ++next_watch_;
    listeners_.emplace(id, std::move(listener));
    return id;
  }

  void Unwatch(int64_t watch_id) override {
    absl::WriterMutexLock lock(&listeners_mu_);
    listeners_.erase(watch_id);
  }

  // While down, a Ping asks the upkeep thread for a reconnect attempt now (whatever the backoff)
  // and waits for its outcome, at most one connect and one round trip: a worker that pings to
  // see whether Redis is back gets a real answer. Selection never pings.
  absl::Status Ping() override {
    if (!Connected()) {
      absl::MutexLock lock(&state_mu_);
      const int64_t before = reconnect_attempts_;
      reconnect_now_ = true;
      auto attempted = [this, before]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_) {
        return stop_ || reconnect_attempts_ != before;
      };
      state_mu_.AwaitWithTimeout(
          absl::Condition(&attempted),
          options_.connect_timeout + options_.command_timeout + absl::Milliseconds(100));
    }
    PWGRID_ASSIGN_OR_RETURN(RedisValue r, Command({"PING"}));
    if (r.is_error()) return absl::UnavailableError(r.str);
    return absl::OkStatus();
  }

 private:
  static absl::Status NotFound(std::string_view id) {
    return absl::NotFoundError(absl::StrCat("worker ", absl::string_view(id.data(), id.size()),
                                            " is not registered or expired"));
  }

  // Re-indexes every entry of the active hash, in batches (each batch is one short script, so
  // Redis is never blocked for long), then records that the index has seen them all.
  absl::Status Reindex() {
    std::string cursor = "0";
    std::vector<std::string> pending = {"0"};
    size_t batches = 0;
    do {
      PWGRID_ASSIGN_OR_RETURN(RedisValue r,
                              Command({"HSCAN", kActiveHash, cursor, "COUNT", "1000"}));
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

  std::string NextLeaseId() {
    absl::MutexLock lock(&state_mu_);
    return absl::StrCat(proxy_tag_, "-", ++next_lease_);
  }

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
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(conn_mu_) {
    PWGRID_RETURN_IF_ERROR(UpLocked());
    absl::StatusOr<RedisValue> r = conn_->Eval(script, {}, args);
    NoteLocked(r.status());
    return r;
  }

  absl::StatusOr<RedisValue> Command(const std::vector<std::string>& args) {
    absl::MutexLock lock(&conn_mu_);
    PWGRID_RETURN_IF_ERROR(UpLocked());
    absl::StatusOr<RedisValue> r = conn_->Command(args);
    NoteLocked(r.status());
    return r;
  }

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
  void NoteLocked(const absl::Status& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(conn_mu_) {
    if (s.ok() || conn_->connected()) return;
    last_error_ = std::string(s.message());
    PWGRID_LOG(options_.logger, LogLevel::kError,
               absl::StrCat("Lost the Redis connection: ", s.message()));
    absl::MutexLock lock(&state_mu_);
    reconnect_now_ = true;
  }

  bool Connected() {
    absl::MutexLock lock(&conn_mu_);
    return ConnectedLocked();
  }

  // Upkeep thread (and Start): connects a fresh connection without holding the connection lock,
  // then, before any other call may use it, gives back the slots released while Redis was away
  // and writes again every live lease, also for workers whose entries Redis lost (it was restarted
  // empty): a busy worker that registers again must not look idle. Paced by the backoff.
  void Reconnect() {
    const absl::Time now = options_.clock->Now();
    if (now < next_attempt_) return;
    auto fresh = std::make_unique<RedisConnection>(EndpointFrom(options_, /*blocking=*/false));
    absl::Status s = fresh->Connect();
    if (s.ok()) {
      absl::MutexLock lock(&conn_mu_);
      conn_ = std::move(fresh);
      s = FlushPendingReleasesLocked();
      if (s.ok()) s = RenewLeasesLocked(/*after_reconnect=*/true);
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
      next_attempt_ = now + backoff_;
      backoff_ = std::min(backoff_ * 2, options_.reconnect_backoff_max);
      return;
    }
    PWGRID_LOG(options_.logger, LogLevel::kInfo,
               down_ ? "Reconnected to Redis" : "Connected to Redis",
               {{"redis", internal::Describe(EndpointFrom(options_, false))}});
    down_ = false;
    next_attempt_ = absl::InfinitePast();
    backoff_ = options_.reconnect_backoff_min;
    Notify({RegistryEvent::Kind::kCapacityChanged, ""});  // waiting clients may go on
  }

  absl::Status FlushPendingReleasesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(conn_mu_) {
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

  static std::vector<std::string> ReleaseArgs(const PendingRelease& r) {
    return {r.worker_id, r.lease_id, r.rollback_lifetime ? "1" : "0"};
  }

  void Notify(const RegistryEvent& event) {
    absl::ReaderMutexLock lock(&listeners_mu_);
    for (const auto& [id, listener] : listeners_) listener(event);
  }

  // Renews this registry's leases; sweeps expired leases; runs the reaper.
  void RunUpkeep() {
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
        auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_) {
          return stop_ || reconnect_now_;
        };
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

  // Renews this registry's leases, re-creating those Redis lost. The list is taken while the
  // connection is held: a Release() whose lease is on it then reaches Redis only after the
  // renewal, and one that came before has already taken its lease off the list. So a renewal
  // never re-creates a lease that was released (it did, pinning a slot for a lease TTL, when a
  // release ran between taking the list and renewing).
  void RenewLeases() {
    absl::MutexLock conn_lock(&conn_mu_);
    if (ConnectedLocked()) (void)RenewLeasesLocked(/*after_reconnect=*/false);
  }

  // `after_reconnect`: Redis may have lost everything, so a lease whose worker has no active
  // entry is written again too (with the entry); otherwise such a lease belongs to a worker that
  // is gone and is left alone.
  absl::Status RenewLeasesLocked(bool after_reconnect) ABSL_EXCLUSIVE_LOCKS_REQUIRED(conn_mu_) {
    std::vector<std::pair<std::string, std::string>> mine;  // lease id, worker id
    {
      absl::MutexLock lock(&state_mu_);
      mine.assign(leases_.begin(), leases_.end());
    }
    if (hooks_.after_renew_snapshot) hooks_.after_renew_snapshot();
    for (size_t start = 0; start < mine.size(); start += kRenewBatch) {
      std::vector<std::string> args = {Ms(options_.lease_ttl), after_reconnect ? "1" : "0"};
      for (size_t i = start; i < std::min(mine.size(), start + kRenewBatch); ++i) {
        args.push_back(mine[i].second);
        args.push_back(mine[i].first);
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

  void Reap() {
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

  bool Stopping() {
    absl::MutexLock lock(&state_mu_);
    return stop_;
  }

  // Pub/sub: capacity wake-ups and shutdown commands become RegistryEvents.
  void RunListener() {
    RedisConnection sub(EndpointFrom(options_, /*blocking=*/true));
    absl::Duration backoff = options_.reconnect_backoff_min;
    while (!Stopping()) {
      if (!sub.connected()) {
        absl::Status s = sub.Connect();
        if (s.ok()) s = sub.Send({"SUBSCRIBE", kCapacityChannel});
        if (s.ok()) s = sub.Send({"PSUBSCRIBE", kCommandPattern});
        if (!s.ok()) {
          sub.Close();
          absl::MutexLock lock(&state_mu_);
          auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_) { return stop_; };
          state_mu_.AwaitWithTimeout(absl::Condition(&stopped), backoff);
          backoff = std::min(backoff * 2, options_.reconnect_backoff_max);
          continue;
        }
        backoff = options_.reconnect_backoff_min;
        // Anything may have changed while we were not listening.
        Notify({RegistryEvent::Kind::kCapacityChanged, ""});
      }
      bool got = false;
      absl::StatusOr<RedisValue> msg = sub.Receive(absl::Milliseconds(200), &got);
      if (!msg.ok() || !got) continue;
      const auto& e = msg->elements;
      if (e.size() == 3 && e[0].str == "message") {
        Notify({RegistryEvent::Kind::kCapacityChanged, e[2].str});
      } else if (e.size() == 4 && e[0].str == "pmessage" && e[3].str == "shutdown") {
        const std::string& channel = e[2].str;
        Notify({RegistryEvent::Kind::kShutdownRequested,
                channel.substr(std::string_view("worker:cmd:").size())});
      }
    }
  }

  const RedisRegistryOptions options_;
  const internal::RedisRegistryTestHooks hooks_;

  absl::Mutex conn_mu_;
  std::unique_ptr<RedisConnection> conn_ ABSL_GUARDED_BY(conn_mu_);  // null until connected once
  std::string last_error_ ABSL_GUARDED_BY(conn_mu_) = "not connected yet";
  // Reconnect() state: used by Start() and then by the upkeep thread only.
  bool down_ = false;
  absl::Time next_attempt_ = absl::InfinitePast();
  absl::Duration backoff_;
  RedisScript select_ ABSL_GUARDED_BY(conn_mu_), release_ ABSL_GUARDED_BY(conn_mu_),
      renew_ ABSL_GUARDED_BY(conn_mu_), sweep_ ABSL_GUARDED_BY(conn_mu_),
      reap_ ABSL_GUARDED_BY(conn_mu_), register_ ABSL_GUARDED_BY(conn_mu_),
      heartbeat_ ABSL_GUARDED_BY(conn_mu_), set_status_ ABSL_GUARDED_BY(conn_mu_),
      take_command_ ABSL_GUARDED_BY(conn_mu_), index_ ABSL_GUARDED_BY(conn_mu_),
      deregister_ ABSL_GUARDED_BY(conn_mu_), mark_unreachable_ ABSL_GUARDED_BY(conn_mu_);

  absl::Mutex state_mu_;
  const std::string proxy_tag_;
  int64_t next_lease_ ABSL_GUARDED_BY(state_mu_) = 0;
  absl::flat_hash_map<std::string, std::string> leases_ ABSL_GUARDED_BY(state_mu_);  // id → worker
  bool stop_ ABSL_GUARDED_BY(state_mu_) = false;
  bool reconnect_now_ ABSL_GUARDED_BY(state_mu_) = false;  // try to reconnect now
  int64_t reconnect_attempts_ ABSL_GUARDED_BY(state_mu_) = 0;
  // Releases Redis did not take (it was away), given again right after reconnecting.
  std::vector<PendingRelease> pending_releases_ ABSL_GUARDED_BY(state_mu_);

  absl::Mutex listeners_mu_;
  std::map<int64_t, RegistryListener> listeners_ ABSL_GUARDED_BY(listeners_mu_);
  int64_t next_watch_ ABSL_GUARDED_BY(listeners_mu_) = 0;

  std::thread upkeep_;
  std::thread listener_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<WorkerRegistry>> NewRedisWorkerRegistry(
    const RedisRegistryOptions& options) {
  return internal::NewRedisWorkerRegistryWithHooks(options, {});
}

namespace internal {

absl::StatusOr<std::unique_ptr<WorkerRegistry>> NewRedisWorkerRegistryWithHooks(
    const RedisRegistryOptions& options, RedisRegistryTestHooks hooks) {
  PWGRID_RETURN_IF_ERROR(options.Validate());
  auto registry = std::make_unique<RedisWorkerRegistry>(options, std::move(hooks));
  registry->Start();
  return std::unique_ptr<WorkerRegistry>(std::move(registry));
}

}  // namespace internal

}  // namespace pwgrid
