// The Redis WorkerRegistry: one registry shared by many proxies and workers on many machines,
// wire-compatible with playwright-distributed v0.3.
//
// Keys, fields and formats are upstream's: a hash `worker:<browser>:<uuid>` per worker {id,
// browserType, endpoint, status, startedAt, lastHeartbeat (Unix ms)} with a TTL, the counter
// hashes `cluster:active_connections` and `cluster:lifetime_connections`, and the shutdown
// command key and channel `worker:cmd:<browser>:<uuid>`. pwgrid adds an optional
// `playwrightVersion` field (upstream ignores it), a sorted set `pwgrid:leases` and a channel
// `pwgrid:capacity`.
//
// Leases: every Reserve() adds a lease `<workerId>|<leaseId>` to `pwgrid:leases`, scored with its
// expiry (Redis time). The registry that made the reservation renews it every lease_ttl / 3 until
// Release(). A lease that is not renewed (its proxy was killed) expires: the next Reserve() of any
// proxy, or the periodic sweep, removes it and decrements the worker's active count, exactly once.
// The counter hashes therefore equal "live leases + sessions counted by upstream proxies", and
// never go negative: decrements skip a counter that is 0 or missing (a reaped worker is never
// re-created).
//
// Selection runs inside Redis as one Lua script (EVALSHA, reloaded on NOSCRIPT) that applies the
// same rule as ChooseWorker() (selection_policy.h) to the workers listed in the active hash. It
// reads them through pwgrid's index (`pwgrid:idx:<browser>` and friends, see lib/redis/scripts.h):
// O(log N) per lifetime level instead of upstream's scan of every worker. Workers registered by
// upstream's own worker are indexed as soon as a selection sees the active hash change size; a
// status an upstream worker sets by itself, or counters an upstream proxy changes, are picked up
// when selection visits that worker or by the periodic re-index (reindex_interval).
//
// The grid-wide queue: shared_queue() is the registry itself. Waiting clients of every proxy
// hold tickets in one queue per browser type in Redis, served in the order of queue_policy.h:
// the release, sweep and leave scripts reserve a freed slot for the head ticket in the same step
// and hand it to the ticket's proxy (a grants hash and a channel per registry object). Tickets
// are renewed with the leases and expire like them (lib/redis/keys.h lists the keys).
//
// Outages: calls never connect or reconnect themselves. Every round trip is bounded by
// command_timeout, and while the connection is down every call fails at once with Unavailable.
// The registry's upkeep thread reconnects with an exponential backoff and, before any other call
// can use the new connection, gives back the slots released while Redis was away and writes
// again every live lease this registry holds (also when Redis came back empty), so a busy worker
// never looks idle after an outage. Ping() while down asks for an attempt at once (whatever the
// backoff) and waits for it: at most connect_timeout + command_timeout.
//
// Thread-safety: thread-safe. The registry owns two threads (lease upkeep and reaper; pub/sub
// listener). Every call blocks its caller for at most one Redis round trip (command_timeout), so
// never call it from a relay I/O thread: the Selector and WorkerAgent call it from their own.
// Ownership: clock and logger are borrowed and must outlive the registry.
#ifndef PWGRID_REDIS_WORKER_REGISTRY_H_
#define PWGRID_REDIS_WORKER_REGISTRY_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pwgrid/clock.h"
#include "pwgrid/logging.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid {

struct RedisRegistryOptions {
  std::string host = "127.0.0.1";
  int port = 6379;                                    // 1..65535
  std::string password;                               // empty: no AUTH
  int db = 0;                                         // SELECT index, >= 0; upstream always uses 0
  absl::Duration connect_timeout = absl::Seconds(1);  // > 0; only the upkeep thread connects
  // Bound of every round trip, > 0. Keep it well below the clients' select timeout: a Redis that
  // stops answering (SIGSTOP, a hung host) is then noticed, and refused with Unavailable, before
  // the waiting clients' deadlines.
  absl::Duration command_timeout = absl::Milliseconds(500);
  absl::Duration reconnect_backoff_min = absl::Milliseconds(100);  // > 0
  absl::Duration reconnect_backoff_max = absl::Seconds(5);         // >= min
  // A lease not renewed for this long frees its slot; renewed every lease_ttl / 3. >= 1 s.
  absl::Duration lease_ttl = absl::Seconds(30);
  // How often expired leases are collected even when nobody selects, > 0.
  absl::Duration lease_sweep_interval = absl::Seconds(1);
  // Upstream's REAPER_RUN_INTERVAL: removes counter entries of workers whose key is gone, > 0.
  absl::Duration reaper_interval = absl::Seconds(300);
  // Full re-index of the selection index, by one proxy per interval (a Redis lock key), > 0.
  absl::Duration reindex_interval = absl::Seconds(10);
  // Upstream's SHUTDOWN_COMMAND_TTL: lifetime of the `worker:cmd:` key, >= 1 s.
  absl::Duration shutdown_command_ttl = absl::Seconds(60);
  // Listen on pub/sub for capacity and shutdown events (Watch). Off: Watch() listeners are only
  // called for changes made through this registry object.
  bool subscribe = true;
  Clock* clock = SystemClock();   // must outlive the registry
  Logger* logger = NullLogger();  // must outlive the registry

  absl::Status Validate() const;
};

// Creates the registry and tries to connect once. An unreachable Redis is not an error here: calls
// fail with Unavailable until a reconnect succeeds (see Ping()).
absl::StatusOr<std::unique_ptr<WorkerRegistry>> NewRedisWorkerRegistry(
    const RedisRegistryOptions& options);

}  // namespace pwgrid

#endif  // PWGRID_REDIS_WORKER_REGISTRY_H_
