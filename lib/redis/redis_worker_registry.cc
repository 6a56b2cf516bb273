// The Redis WorkerRegistry's calls: registration, heartbeats, status, commands, snapshots,
// reservations and releases, each one Lua script (lua/*.lua). See redis_registry.h.
#include "lib/redis/redis_registry.h"

#include <algorithm>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace pwgrid {

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

namespace internal {

void RedisWorkerRegistry::Start() {
  Reconnect();  // one attempt now, so that a registry created with Redis up is usable at once
  upkeep_ = std::thread([this] { RunUpkeep(); });
  if (options_.subscribe) listener_ = std::thread([this] { RunListener(); });
}

absl::Status RedisWorkerRegistry::Register(const WorkerInfo& info, absl::Duration ttl) {
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

absl::Status RedisWorkerRegistry::Heartbeat(std::string_view id, absl::Duration ttl) {
  if (ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("ttl must be positive");
  PWGRID_ASSIGN_OR_RETURN(RedisValue r, Eval(&RedisWorkerRegistry::heartbeat_, {Str(id), Ms(ttl)}));
  if (ToInt(r) == 0) return NotFound(id);
  return absl::OkStatus();
}

absl::Status RedisWorkerRegistry::SetStatus(std::string_view id, WorkerStatus status) {
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
absl::Status RedisWorkerRegistry::Deregister(std::string_view id) {
  PWGRID_ASSIGN_OR_RETURN(RedisValue r, Eval(&RedisWorkerRegistry::deregister_, {Str(id)}));
  (void)r;
  return absl::OkStatus();
}

absl::Status RedisWorkerRegistry::MarkUnreachable(std::string_view id) {
  PWGRID_ASSIGN_OR_RETURN(RedisValue r, Eval(&RedisWorkerRegistry::mark_unreachable_, {Str(id)}));
  (void)r;
  return absl::OkStatus();
}

// Upstream's recycle command: SET NX EX, and PUBLISH only when the SET took.
absl::StatusOr<bool> RedisWorkerRegistry::RequestShutdown(std::string_view id) {
  const std::string key = absl::StrCat(internal::kCommandKeyPrefix, Str(id));
  PWGRID_ASSIGN_OR_RETURN(
      RedisValue set, Command({"SET", key, "shutdown", "NX", "EX",
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

absl::StatusOr<std::vector<WorkerLoad>> RedisWorkerRegistry::Snapshot() {
  PWGRID_ASSIGN_OR_RETURN(std::vector<RedisValue> hashes,
                          Pipeline({{"HGETALL", kActiveHash},
                                    {"HGETALL", kLifetimeHash},
                                    {"HGETALL", kUnreachableHash},
                                    {"HGETALL", internal::kWorkerGroupHash}}));
  const std::map<std::string, std::string> active = HashFromArray(hashes[0]);
  const std::map<std::string, std::string> lifetime = HashFromArray(hashes[1]);
  const std::map<std::string, std::string> unreachable = HashFromArray(hashes[2]);
  const std::map<std::string, std::string> groups = HashFromArray(hashes[3]);
  std::vector<std::string> ids;
  for (const auto& [wid, v] : active) ids.push_back(wid);
  for (const auto& [wid, v] : lifetime) {
    if (!active.contains(wid)) ids.push_back(wid);
  }
  std::sort(ids.begin(), ids.end());
  std::vector<std::vector<std::string>> cmds;
  for (const std::string& wid : ids) {
    cmds.push_back({"HGETALL", absl::StrCat(internal::kWorkerKeyPrefix, wid)});
    cmds.push_back({"PTTL", absl::StrCat(internal::kWorkerKeyPrefix, wid)});
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
    if (fields.contains("playwrightVersion")) {
      load.info.playwright_version = fields["playwrightVersion"];
    } else {
      // A worker whose key is gone stays in its last group ("B@major.minor"), and so counts in
      // that version's N: report that version as the selection script sees it.
      auto g = groups.find(wid);
      if (g != groups.end() && g->second.find('@') != std::string::npos) {
        load.info.playwright_version = g->second.substr(g->second.find('@') + 1);
      }
    }
    (void)absl::SimpleAtoi(fields["startedAt"], &load.info.started_at_ms);
    (void)absl::SimpleAtoi(fields["lastHeartbeat"], &load.last_heartbeat_ms);
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

absl::StatusOr<std::optional<Reservation>> DecodeSelectReply(const RedisValue& r,
                                                             BrowserType browser) {
  if (r.is_nil() || r.type != RedisValue::Type::kArray) return std::optional<Reservation>();
  if (r.elements.size() < 8) return absl::InternalError("selection script gave a short reply");
  Reservation out;
  out.worker.id = r.elements[0].str;
  out.active = ToInt(r.elements[1]);
  out.lifetime = ToInt(r.elements[2]);
  out.worker.browser = browser;
  out.worker.endpoint = r.elements[4].str;
  absl::StatusOr<WorkerStatus> status = ParseWorkerStatus(r.elements[5].str);
  out.worker.status = status.ok() ? *status : WorkerStatus::kAvailable;
  (void)absl::SimpleAtoi(r.elements[6].str, &out.worker.started_at_ms);
  out.worker.playwright_version = r.elements[7].str;
  return std::optional<Reservation>(std::move(out));
}

absl::StatusOr<RedisValue> RedisWorkerRegistry::Select(std::vector<std::string>& args) {
  PWGRID_ASSIGN_OR_RETURN(RedisValue r, Eval(&RedisWorkerRegistry::select_, args));
  if (r.type == RedisValue::Type::kInteger && r.integer == -1) {
    // A writer that bypasses pwgrid's scripts (upstream's worker) added or removed workers.
    PWGRID_RETURN_IF_ERROR(Reindex());
    args[5] = "0";
    PWGRID_ASSIGN_OR_RETURN(r, Eval(&RedisWorkerRegistry::select_, args));
  }
  return r;
}

namespace {

absl::Status QuotaError(const ReserveRequest& request) {
  return absl::ResourceExhaustedError(absl::StrCat("tenant ", request.tenant,
                                                   " holds its quota of ",
                                                   request.tenant_max_sessions, " session(s)"));
}

// How long from now until `deadline`, in ms for Redis: at least 1, at most a year (an infinite
// deadline).
std::string RemainingMs(absl::Time deadline, absl::Time now) {
  const absl::Duration left =
      std::clamp(deadline - now, absl::Milliseconds(1), absl::Hours(24 * 365));
  return Ms(left);
}

}  // namespace

std::vector<std::string> SelectArgs(const ReserveRequest& request, const std::string& lease_id,
                                    absl::Duration lease_ttl) {
  return {absl::StrCat(request.limits.max_concurrent),
          absl::StrCat(request.limits.max_lifetime),
          Str(ToString(request.browser)),
          lease_id,
          Ms(lease_ttl),
          "1",
          request.tenant,
          absl::StrCat(request.tenant_max_sessions),
          "0",
          "0",
          "0",
          PlaywrightMinor(request.client_version)};
}

absl::StatusOr<std::optional<Reservation>> RedisWorkerRegistry::Reserve(
    const ReserveRequest& request) {
  const std::string lease_id = NextLeaseId();
  std::vector<std::string> args = SelectArgs(request, lease_id, options_.lease_ttl);
  PWGRID_ASSIGN_OR_RETURN(RedisValue r, Select(args));
  return AdoptReservation(r, request, lease_id);
}

absl::StatusOr<std::optional<Reservation>> RedisWorkerRegistry::AdoptReservation(
    const RedisValue& r, const ReserveRequest& request, const std::string& lease_id) {
  if (r.type == RedisValue::Type::kInteger && r.integer == -2) return QuotaError(request);
  if (r.type == RedisValue::Type::kInteger) {
    return std::optional<Reservation>();  // -3: queued first; -1: the index needs a rebuild
  }
  PWGRID_ASSIGN_OR_RETURN(std::optional<Reservation> decoded,
                          DecodeSelectReply(r, request.browser));
  if (!decoded) return decoded;
  Reservation out = *std::move(decoded);
  out.lease_id = lease_id;
  out.tenant = request.tenant;
  {
    absl::MutexLock lock(&state_mu_);
    leases_.emplace(lease_id, LiveLease{out.worker.id, out.tenant});
  }
  return std::optional<Reservation>(std::move(out));
}

absl::StatusOr<SharedQueue::EnterResult> RedisWorkerRegistry::Enter(const ReserveRequest& request,
                                                                    absl::Time deadline,
                                                                    int64_t max_waiting) {
  const std::string ticket = NextLeaseId();
  std::vector<std::string> args = SelectArgs(request, ticket, options_.lease_ttl);
  args[8] = "1";
  args[9] = RemainingMs(deadline, options_.clock->Now());
  args[10] = absl::StrCat(max_waiting);
  // The ticket is listed for renewal under the same hold of the connection as the script that
  // queued it, so that TakeGrants (which takes it off the list) cannot come in between.
  auto run = [&]() -> absl::StatusOr<RedisValue> {
    absl::MutexLock conn_lock(&conn_mu_);
    absl::StatusOr<RedisValue> r = EvalLocked(select_, args);
    if (r.ok() && r->type == RedisValue::Type::kInteger && r->integer == 0) {
      absl::MutexLock lock(&state_mu_);
      tickets_.emplace(ticket, LiveTicket{request.browser, request.tenant,
                                          request.tenant_max_sessions, deadline, request.limits});
    }
    return r;
  };
  PWGRID_ASSIGN_OR_RETURN(RedisValue reply, run());
  if (reply.type == RedisValue::Type::kInteger && reply.integer == -1) {
    PWGRID_RETURN_IF_ERROR(Reindex());
    args[5] = "0";
    PWGRID_ASSIGN_OR_RETURN(reply, run());
  }
  const RedisValue* r = &reply;
  EnterResult out;
  if (r->type == RedisValue::Type::kInteger && r->integer == 0) {
    out.ticket = ticket;
    return out;
  }
  if (r->type == RedisValue::Type::kInteger && r->integer == -4) {
    return absl::ResourceExhaustedError(
        absl::StrCat("more than ", max_waiting, " clients are waiting for a worker in the grid"));
  }
  if (r->type == RedisValue::Type::kInteger) {
    return absl::InternalError(absl::StrCat("selection script answered ", r->integer));
  }
  PWGRID_ASSIGN_OR_RETURN(std::optional<Reservation> decoded,
                          DecodeSelectReply(*r, request.browser));
  if (!decoded) return absl::InternalError("selection script answered nil for a queued client");
  out.reservation = *std::move(decoded);
  out.reservation->lease_id = ticket;
  out.reservation->tenant = request.tenant;
  absl::MutexLock lock(&state_mu_);
  leases_.emplace(ticket, LiveLease{out.reservation->worker.id, request.tenant});
  return out;
}

absl::StatusOr<Reservation> DecodeGrant(std::string_view ticket, std::string_view grant) {
  std::vector<std::string> f = absl::StrSplit(absl::string_view(grant.data(), grant.size()), '\n');
  if (f.size() != 9) return absl::InvalidArgumentError("a queue grant has not 9 fields");
  Reservation out;
  out.worker.id = f[0];
  absl::StatusOr<BrowserType> browser = ParseBrowserType(f[0].substr(0, f[0].find(':')));
  if (!browser.ok()) return absl::InvalidArgumentError("a queue grant names no browser type");
  out.worker.browser = *browser;
  if (!absl::SimpleAtoi(f[1], &out.active) || !absl::SimpleAtoi(f[2], &out.lifetime)) {
    return absl::InvalidArgumentError("a queue grant has bad counters");
  }
  out.worker.endpoint = f[4];
  absl::StatusOr<WorkerStatus> status = ParseWorkerStatus(f[5]);
  out.worker.status = status.ok() ? *status : WorkerStatus::kAvailable;
  (void)absl::SimpleAtoi(f[6], &out.worker.started_at_ms);
  out.worker.playwright_version = f[7];
  out.tenant = f[8];
  out.lease_id = std::string(ticket);
  return out;
}

absl::StatusOr<std::vector<SharedQueue::Grant>> RedisWorkerRegistry::TakeGrants() {
  const std::vector<std::string> args = {proxy_tag_};
  std::vector<Grant> out;
  // The connection stays held until the grants are off the ticket list: a renewal in between
  // would queue a granted ticket again.
  absl::MutexLock conn_lock(&conn_mu_);
  PWGRID_ASSIGN_OR_RETURN(RedisValue r, EvalLocked(take_grants_, args));
  absl::MutexLock lock(&state_mu_);
  for (size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    const std::string& ticket = r.elements[i].str;
    tickets_.erase(ticket);
    absl::StatusOr<Reservation> grant = DecodeGrant(ticket, r.elements[i + 1].str);
    if (!grant.ok()) {
      PWGRID_LOG(options_.logger, LogLevel::kError,
                 absl::StrCat("Dropped a queue grant: ", grant.status().message()));
      continue;  // its lease expires
    }
    leases_.emplace(ticket, LiveLease{grant->worker.id, grant->tenant});
    out.push_back({ticket, *std::move(grant)});
  }
  return out;
}

absl::Status RedisWorkerRegistry::Leave(std::string_view ticket) {
  {
    absl::MutexLock lock(&state_mu_);
    tickets_.erase(Str(ticket));
  }
  const std::vector<std::string> args = {Str(ticket), proxy_tag_};
  PWGRID_ASSIGN_OR_RETURN(RedisValue r, Eval(&RedisWorkerRegistry::leave_, args));
  if (ToInt(r) == 2) Notify({RegistryEvent::Kind::kCapacityChanged, ""});
  return absl::OkStatus();
}

absl::StatusOr<std::vector<QueueStats>> RedisWorkerRegistry::Stats() {
  PWGRID_ASSIGN_OR_RETURN(RedisValue r, Eval(&RedisWorkerRegistry::queue_stats_, {}));
  std::vector<QueueStats> out;
  if (r.elements.empty()) return out;
  const int64_t now = ToInt(r.elements[0]);
  auto waited = [now](const RedisValue& arrival) {
    return absl::Milliseconds(std::max<int64_t>(0, now - ToInt(arrival)));
  };
  for (size_t i = 1; i < r.elements.size(); ++i) {
    const std::vector<RedisValue>& g = r.elements[i].elements;
    if (g.size() < 3) continue;
    const std::vector<std::string> group = absl::StrSplit(g[0].str, absl::MaxSplits('@', 1));
    absl::StatusOr<BrowserType> browser = ParseBrowserType(group[0]);
    if (!browser.ok()) continue;
    QueueStats stats;
    stats.browser = *browser;
    if (group.size() > 1) stats.version = group[1];
    stats.waiting = ToInt(g[1]);
    stats.oldest_wait = waited(g[2]);
    for (size_t j = 3; j < g.size(); ++j) {
      const std::vector<RedisValue>& t = g[j].elements;
      if (t.size() < 3) continue;
      stats.tenants.push_back({t[0].str, ToInt(t[1]), waited(t[2])});
    }
    out.push_back(std::move(stats));
  }
  return out;
}

absl::Status RedisWorkerRegistry::Release(const Reservation& reservation, bool rollback_lifetime) {
  {
    absl::MutexLock lock(&state_mu_);
    // Whatever Redis answers, stop renewing: a lease Redis could not release now expires.
    leases_.erase(reservation.lease_id);
  }
  PendingRelease release{reservation.worker.id, reservation.lease_id, rollback_lifetime,
                         reservation.tenant};
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

// While down, a Ping asks the upkeep thread for a reconnect attempt now (whatever the backoff)
// and waits for its outcome, at most one connect and one round trip: a worker that pings to
// see whether Redis is back gets a real answer. Selection never pings.
absl::Status RedisWorkerRegistry::Ping() {
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

absl::StatusOr<bool> RedisWorkerRegistry::ClaimReporter(std::string_view claimant,
                                                        absl::Duration ttl) {
  const std::string ms = absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(ttl)));
  // SET … NX GET (Redis 7): the holder's name when the key exists (nothing set), nil when this
  // call took it.
  PWGRID_ASSIGN_OR_RETURN(
      RedisValue r, Command({"SET", internal::kReporterKey, Str(claimant), "NX", "GET", "PX", ms}));
  if (r.is_error()) return absl::UnavailableError(r.str);
  if (r.is_nil()) return true;
  if (r.str != claimant) return false;
  PWGRID_ASSIGN_OR_RETURN(RedisValue renewed, Command({"PEXPIRE", internal::kReporterKey, ms}));
  if (renewed.is_error()) return absl::UnavailableError(renewed.str);
  return true;
}

namespace {

// A GridSession as one hash value: its fields one per line, in this order (line breaks in a
// field become spaces).
std::string EncodeSession(const GridSession& s) {
  auto clean = [](std::string v) {
    std::replace(v.begin(), v.end(), '\n', ' ');
    std::replace(v.begin(), v.end(), '\r', ' ');
    return v;
  };
  return absl::StrJoin({clean(s.id), clean(s.proxy), std::string(ToString(s.browser)),
                        clean(s.worker_id), clean(s.client), clean(s.user_agent),
                        clean(s.client_version), clean(s.tenant), absl::StrCat(s.started_at_ms)},
                       "\n");
}

std::optional<GridSession> DecodeSession(const std::string& v) {
  std::vector<std::string> f = absl::StrSplit(v, '\n');
  if (f.size() < 9) return std::nullopt;
  absl::StatusOr<BrowserType> browser = ParseBrowserType(f[2]);
  if (!browser.ok()) return std::nullopt;
  GridSession s{f[0], f[1], *browser, f[3], f[4], f[5], f[6], f[7], 0};
  if (!absl::SimpleAtoi(f[8], &s.started_at_ms)) return std::nullopt;
  return s;
}

}  // namespace

absl::Status RedisWorkerRegistry::AnnounceSession(const Reservation& reservation,
                                                  const GridSession& session) {
  PWGRID_ASSIGN_OR_RETURN(RedisValue r, Command({"HSET", internal::kSessionsHash,
                                                 reservation.lease_id, EncodeSession(session)}));
  if (r.is_error()) return absl::UnavailableError(r.str);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<GridSession>> RedisWorkerRegistry::Sessions() {
  PWGRID_ASSIGN_OR_RETURN(std::vector<RedisValue> replies,
                          Pipeline({{"HGETALL", internal::kSessionsHash},
                                    {"ZRANGE", internal::kLeasesKey, "0", "-1"}}));
  if (replies[0].is_error()) return absl::UnavailableError(replies[0].str);
  if (replies[1].is_error()) return absl::UnavailableError(replies[1].str);
  absl::flat_hash_set<std::string> live;
  for (const RedisValue& m : replies[1].elements) {
    const size_t bar = m.str.rfind('|');
    if (bar != std::string::npos) live.insert(m.str.substr(bar + 1));
  }
  std::vector<GridSession> out;
  std::vector<std::string> stale = {"HDEL", internal::kSessionsHash};
  for (const auto& [lease, record] : HashFromArray(replies[0])) {
    std::optional<GridSession> s = DecodeSession(record);
    if (!live.contains(lease) || !s) {
      stale.push_back(lease);
      continue;
    }
    out.push_back(*std::move(s));
  }
  if (stale.size() > 2) (void)Command(stale);  // the next reader tries again if this fails
  std::sort(out.begin(), out.end(), [](const GridSession& a, const GridSession& b) {
    return a.started_at_ms < b.started_at_ms;
  });
  return out;
}

absl::StatusOr<std::unique_ptr<WorkerRegistry>> NewRedisWorkerRegistryWithHooks(
    const RedisRegistryOptions& options, RedisRegistryTestHooks hooks) {
  PWGRID_RETURN_IF_ERROR(options.Validate());
  auto registry = std::make_unique<RedisWorkerRegistry>(options, std::move(hooks));
  registry->Start();
  return std::unique_ptr<WorkerRegistry>(std::move(registry));
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<WorkerRegistry>> NewRedisWorkerRegistry(
    const RedisRegistryOptions& options) {
  return internal::NewRedisWorkerRegistryWithHooks(options, {});
}

}  // namespace pwgrid
