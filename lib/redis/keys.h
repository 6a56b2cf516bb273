// Every Redis key and channel name of pwgrid, defined once: the C++ code uses the constants, and
// the Lua scripts get them as locals of a generated prelude (LuaKeyPrelude(), prepended to every
// script), so a name cannot differ between the two. Internal header.
//
// Upstream's keys (playwright-distributed v0.3; their shapes must not change):
//   worker:<browser>:<uuid>       hash of a worker (id, browserType, endpoint, status, startedAt,
//                                 lastHeartbeat; pwgrid adds playwrightVersion), with a TTL
//   worker:cmd:<browser>:<uuid>   string "shutdown" with a TTL; also the channel it is
//                                 published on
//   cluster:active_connections    hash worker id -> sessions open now
//   cluster:lifetime_connections  hash worker id -> sessions ever reserved
// pwgrid's own:
//   pwgrid:leases                 sorted set "<workerId>|<leaseId>" scored by expiry (Redis ms)
//   pwgrid:capacity               channel: a slot was released or a worker became available
//   pwgrid:unreachable            hash worker id -> its lastHeartbeat when a proxy could not
//                                 reach it; not selected while that field is unchanged
//   pwgrid:reindex-lock           string: the proxy that re-indexes everything this period
//   pwgrid:tenant:<name>          sorted set of a tenant's live leases "<workerId>|<leaseId>"
//                                 scored by expiry (Redis ms), as pwgrid:leases: what a tenant's
//                                 quota counts on every proxy; the key expires with its leases
//   pwgrid:sessions               hash lease id -> a relayed session's record (GridSession, one
//                                 field per line), for every proxy's status view; removed with
//                                 its lease (release.lua, sweep()), and an entry whose lease is
//                                 gone is dropped by the next reader
//   pwgrid:reporter               string: the proxy that reports the grid-wide metric series as
//                                 primary="true", with a TTL it renews
//
// The grid-wide queue (queue_policy.h; G is a group: the browser type B and the clients'
// Playwright major.minor m, "B@m", or "B" for clients of unknown version). A waiting client holds
// a ticket "<proxyTag>-<n>" (proxyTag: 8 hex digits, one per registry object; the same string
// becomes its lease id when it is served):
//   pwgrid:queue-groups        set of the groups with waiting clients
//   pwgrid:queue:G             sorted set of G's tickets scored by arrival (pwgrid:queue-seq)
//   pwgrid:queue:G:tenants     sorted set of the tenants with tickets in G, all scored 0, so
//                              that ZRANGEBYLEX walks them in name order ("" is anonymous)
//   pwgrid:queue:G:t:<tenant>  sorted set of one tenant's tickets in G, scored by arrival
//   pwgrid:queue:G:last        string: the tenant served last in G (the turn order)
//   pwgrid:tickets             hash ticket -> "<G> <deadlineMs> <tenantMax> <arrivalMs> <tenant>"
//   pwgrid:ticket-expiry       sorted set of every ticket scored by min(renewal expiry,
//                              deadline) (Redis ms): its size is the grid's waiting count
//   pwgrid:queue-seq           counter: arrival order
//   pwgrid:grants:<proxyTag>   hash ticket -> the reservation the queue made for it, until its
//                              proxy takes it (expires after a lease TTL with its lease)
//   pwgrid:grant:<proxyTag>    channel: a grant for that proxy is waiting
//
// The selection index (so that a selection costs O(log N) instead of upstream's scan of every
// worker). Per worker group G: a browser type B and the workers' Playwright major.minor m,
// spelled "B@m" ("chromium@1.65"), or "B" for workers without a version (upstream's):
//   pwgrid:idx:G       sorted set of the workers believed alive and available, scored
//                      -lifetime * 2^21 + min(active, 2^21 - 1): best first (highest lifetime,
//                      then fewest active, then smallest id, which is the set's own tie order);
//   pwgrid:known:G     set of G's entries in the active hash (N for the margin is the sum over
//                      the groups a client may use);
//   pwgrid:draining:G  set of G's workers believed alive and not available (the recycle stagger);
//   pwgrid:groups:B    set of B's groups that have entries in the active hash;
//   pwgrid:worker-group  hash worker id -> the group it is indexed in (kept while its counters
//                      are, so that a worker whose key expired still counts in its group).
// A client of version m selects over the indexes of "B@m" and "B"; a client of unknown version
// over every group of B.
// `pwgrid:indexed` counts the active hash's entries the index has seen. Every script keeps all
// of it up to date. A writer that bypasses them (upstream's worker registering itself) changes
// HLEN of the active hash; selection notices the difference and asks for a full re-index first.
// Selection re-reads the authoritative hashes of each candidate it looks at and repairs entries
// that disagree, so stale entries (a worker whose key expired) cost one visit each.
#ifndef PWGRID_LIB_REDIS_KEYS_H_
#define PWGRID_LIB_REDIS_KEYS_H_

#include "lib/common/internal.h"

#include <string>

namespace pwgrid::internal {

inline constexpr char kWorkerKeyPrefix[] = "worker:";
inline constexpr char kCommandKeyPrefix[] = "worker:cmd:";
inline constexpr char kCommandPattern[] = "worker:cmd:*";
inline constexpr char kActiveHash[] = "cluster:active_connections";
inline constexpr char kLifetimeHash[] = "cluster:lifetime_connections";
inline constexpr char kLeasesKey[] = "pwgrid:leases";
inline constexpr char kCapacityChannel[] = "pwgrid:capacity";
inline constexpr char kUnreachableHash[] = "pwgrid:unreachable";
inline constexpr char kReindexLock[] = "pwgrid:reindex-lock";
inline constexpr char kIndexedKey[] = "pwgrid:indexed";
inline constexpr char kIndexPrefix[] = "pwgrid:idx:";
inline constexpr char kKnownPrefix[] = "pwgrid:known:";
inline constexpr char kDrainingPrefix[] = "pwgrid:draining:";
inline constexpr char kGroupsPrefix[] = "pwgrid:groups:";
inline constexpr char kWorkerGroupHash[] = "pwgrid:worker-group";
inline constexpr char kQueueGroupsKey[] = "pwgrid:queue-groups";
inline constexpr char kTenantPrefix[] = "pwgrid:tenant:";
inline constexpr char kSessionsHash[] = "pwgrid:sessions";
inline constexpr char kReporterKey[] = "pwgrid:reporter";
inline constexpr char kQueuePrefix[] = "pwgrid:queue:";
inline constexpr char kTicketsHash[] = "pwgrid:tickets";
inline constexpr char kTicketExpiryKey[] = "pwgrid:ticket-expiry";
inline constexpr char kQueueSeqKey[] = "pwgrid:queue-seq";
inline constexpr char kGrantsPrefix[] = "pwgrid:grants:";
inline constexpr char kGrantChannelPrefix[] = "pwgrid:grant:";

// The TTL a worker's key gets when it is set shutting-down, as upstream's graceful shutdown.
inline constexpr int kShuttingDownTtlSeconds = 10;

// The names above as Lua locals (local ACTIVE = 'cluster:active_connections', …), one per line.
std::string LuaKeyPrelude();

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_REDIS_KEYS_H_
