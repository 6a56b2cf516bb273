// WorkerRegistry: the set of browser workers and their session load.
//
// Workers register (id, browser type, endpoint, status), heartbeat to stay alive, drain, receive
// commands (shutdown) and deregister. Selectors reserve sessions on workers atomically through
// Reserve() and give them back through Release(). Two implementations sit behind this interface:
// the in-memory one here (one process, the embedded default) and a Redis one (many proxies).
//
// Redis implementation: redis_worker_registry.h.
//
// Thread-safety: implementations are thread-safe; every method may be called from any thread.
// Ownership: factories return owned objects; Options pointers are borrowed and must outlive the
// registry.
//
// Liveness: a worker is alive until `ttl` passes without Register() or Heartbeat(), and while it
// is not marked unreachable (MarkUnreachable(), until its next heartbeat). A dead worker is never
// selected; its record (with its counters and leases) is kept for
// RegistryOptions::reap_after and then removed, so a worker that comes back in time keeps its
// counters, as upstream's counter hashes do until the reaper runs.
#ifndef PWGRID_WORKER_REGISTRY_H_
#define PWGRID_WORKER_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pwgrid/clock.h"
#include "pwgrid/logging.h"
#include "pwgrid/types.h"

namespace pwgrid {

// Limits applied when reserving a session (upstream's MAX_CONCURRENT_SESSIONS and
// MAX_LIFETIME_SESSIONS, per worker).
struct SessionLimits {
  int64_t max_concurrent = 5;  // C: sessions open at once on one worker, >= 1
  int64_t max_lifetime = 50;   // L: sessions over a worker's life before it is recycled, >= 1
};

struct ReserveRequest {
  BrowserType browser = BrowserType::kChromium;
  SessionLimits limits;
  // The client's tenant (Tenant::name, auth.h); "" for none. The reservation carries it.
  std::string tenant;
  // The tenant's quota: sessions it may hold at once through this registry (every proxy of a
  // Redis grid); 0: none.
  int64_t tenant_max_sessions = 0;
  // The client's Playwright version ("1.65.1"): only workers of its major.minor, or of no
  // version, are chosen (selection_policy.h). "": any worker of `browser`.
  std::string client_version;
};

// One reserved session slot on one worker.
struct Reservation {
  WorkerInfo worker;
  std::string lease_id;  // unique per reservation
  int64_t active = 0;    // the worker's active count including this reservation
  int64_t lifetime = 0;  // the worker's lifetime count including this reservation
  std::string tenant;    // ReserveRequest::tenant
};

// Something a listener should react to. Listeners are woken, they do not get a full diff.
struct RegistryEvent {
  enum class Kind {
    kCapacityChanged,    // a slot was released, or a worker registered or became available
    kShutdownRequested,  // RequestShutdown(worker_id) succeeded
    kQueueGrant,         // the shared queue gave a slot to a ticket of this registry object:
                         // SharedQueue::TakeGrants() has it
  };
  Kind kind = Kind::kCapacityChanged;
  std::string worker_id;
};
using RegistryListener = std::function<void(const RegistryEvent&)>;

// A relayed session as the operator views list it (GET /api/v1/status): what the proxy that
// relays it knows of it.
struct GridSession {
  std::string id;     // the relay's session id (also sent to the worker, X-Pwgrid-Session-Id)
  std::string proxy;  // the relaying proxy's name
  BrowserType browser = BrowserType::kChromium;
  std::string worker_id;
  std::string client;          // the client's address, "ip:port"
  std::string user_agent;      // the client's User-Agent
  std::string client_version;  // the client's Playwright version, "" when unknown
  std::string tenant;          // "" for anonymous clients
  int64_t started_at_ms = 0;   // Unix epoch milliseconds of the worker's 101
};

// One group's waiting clients: a queue's length, its oldest wait, and the same by tenant.
struct QueueStats {
  struct Tenant {
    std::string name;  // "" for anonymous clients
    int64_t waiting = 0;
    absl::Duration oldest_wait;
  };
  BrowserType browser = BrowserType::kChromium;  // the group: a browser type
  std::string version;  // and the clients' Playwright major.minor ("" for an unknown version)
  int64_t waiting = 0;
  absl::Duration oldest_wait;   // how long the group's earliest waiting client has waited
  std::vector<Tenant> tenants;  // tenants with waiting clients, by name
};

// A queue of waiting clients shared by every user of one registry: with Redis, the grid-wide
// queue of every proxy. Clients are served in the order of queue_policy.h (arrival order, tenants
// in turn), whichever proxy holds them; the order is decided atomically in the registry's backend.
// A queued client holds a ticket, a lease of its own: renewed by the registry object that made it,
// and dropped when it is not renewed (its proxy died) or its deadline passes, so the queue never
// waits for a client that is gone. When a slot frees, the backend reserves it for the head ticket
// at once and tells the registry object that holds it (RegistryEvent::kQueueGrant).
// Thread-safety: as WorkerRegistry. Every call is one backend round trip.
class SharedQueue {
 public:
  virtual ~SharedQueue() = default;

  struct EnterResult {
    std::optional<Reservation> reservation;  // served at once (nobody waited before it)
    std::string ticket;                      // otherwise: queued under this ticket
  };
  // Serves the request at once when the queue lets it (a slot is free and no client comes before
  // it), else queues it until `deadline`. ResourceExhausted: `max_waiting` clients wait in the
  // whole queue already (nothing queued).
  virtual absl::StatusOr<EnterResult> Enter(const ReserveRequest& request, absl::Time deadline,
                                            int64_t max_waiting) = 0;

  struct Grant {
    std::string ticket;
    Reservation reservation;  // the caller owns it now: Release() it like any other
  };
  // Serves what the queue can serve now (a slot nobody reported free), and returns the slots
  // given to this object's tickets since the last call; those tickets have left the queue. A
  // ticket is served under the limits of the request that queued it, whoever serves it.
  virtual absl::StatusOr<std::vector<Grant>> TakeGrants() = 0;

  // The ticket's client left (or its deadline passed): the ticket leaves the queue now; a slot
  // already granted to it and not yet taken is given back. OK when the ticket is unknown.
  virtual absl::Status Leave(std::string_view ticket) = 0;

  // Every group with waiting clients, in the whole queue.
  virtual absl::StatusOr<std::vector<QueueStats>> Stats() = 0;
};

class WorkerRegistry {
 public:
  virtual ~WorkerRegistry() = default;

  // Adds or refreshes a worker; its status is taken from `info` (a draining worker that
  // re-registers stays draining). Existing counters and leases of the same id are kept.
  // InvalidArgument: bad info or ttl <= 0.
  virtual absl::Status Register(const WorkerInfo& info, absl::Duration ttl) = 0;

  // Extends the worker's life by `ttl`. NotFound: unknown or already expired; the caller should
  // Register() again.
  virtual absl::Status Heartbeat(std::string_view id, absl::Duration ttl) = 0;

  // NotFound: unknown or expired.
  virtual absl::Status SetStatus(std::string_view id, WorkerStatus status) = 0;

  // Removes the worker with its counters and leases. OK when the worker is unknown.
  virtual absl::Status Deregister(std::string_view id) = 0;

  // Asks the worker to drain and shut down. Returns true when this call created the request,
  // false when one was already pending (like upstream's SET NX). NotFound: unknown worker.
  virtual absl::StatusOr<bool> RequestShutdown(std::string_view id) = 0;

  // Returns true once per pending shutdown request, and clears it.
  virtual absl::StatusOr<bool> TakeShutdownCommand(std::string_view id) = 0;

  // Every known worker, alive or not yet reaped, sorted by id.
  virtual absl::StatusOr<std::vector<WorkerLoad>> Snapshot() = 0;

  // Atomically chooses a worker with ChooseWorker() (selection_policy.h) and reserves a slot on it:
  // active + 1, lifetime + 1. nullopt: no eligible worker right now. ResourceExhausted: the
  // request's tenant already holds tenant_max_sessions live reservations (nothing reserved).
  virtual absl::StatusOr<std::optional<Reservation>> Reserve(const ReserveRequest& request) = 0;

  // Gives a reserved slot back: active - 1, and lifetime - 1 too when `rollback_lifetime`
  // (the session never started: dial or handshake failed). Idempotent: releasing a lease twice,
  // or a lease of a worker that is gone, is OK and changes nothing. Counters never go negative.
  virtual absl::Status Release(const Reservation& reservation, bool rollback_lifetime) = 0;

  // The worker could not be reached (its endpoint refused or dropped the connection, or did not
  // answer the handshake): it is not selected again until its next Register() or Heartbeat(), so
  // that no other client is sent to a worker that died. For every user of the registry (in Redis:
  // every proxy). Its counters are unchanged. OK when the worker is unknown. Unimplemented: the
  // registry cannot do this (the default); the worker stays selectable until its TTL runs out.
  virtual absl::Status MarkUnreachable(std::string_view id) {
    (void)id;
    return absl::UnimplementedError("this registry cannot mark workers unreachable");
  }

  // Calls `listener` after every change listed in RegistryEvent, on the thread that made the
  // change, with no registry lock held. Listeners must be quick and must not call Watch/Unwatch.
  // Returns an id for Unwatch().
  virtual int64_t Watch(RegistryListener listener) = 0;
  // After Unwatch returns, the listener is not running and will not be called again.
  virtual void Unwatch(int64_t watch_id) = 0;

  // The queue shared by every user of this registry, or null (the default) when the registry
  // has none: then each Selector queues its own clients. Owned by the registry.
  virtual SharedQueue* shared_queue() { return nullptr; }

  // Views several proxies report (grid-wide metrics): true for exactly one `claimant` at a time,
  // the one that claimed first and has claimed again within every `ttl` since. The default
  // (one process, the in-memory registry) is always true.
  virtual absl::StatusOr<bool> ClaimReporter(std::string_view claimant, absl::Duration ttl) {
    (void)claimant;
    (void)ttl;
    return true;
  }
  // The sessions of every proxy, as they were announced (AnnounceSession), so that any proxy's
  // status view lists the whole fleet's. Unimplemented (the default): the registry keeps none;
  // each proxy lists its own.
  virtual absl::StatusOr<std::vector<GridSession>> Sessions() {
    return absl::UnimplementedError("this registry keeps no sessions");
  }
  // Stores `session` with the lease of `reservation`: it expires with the lease (a proxy that
  // dies takes its sessions' records with it) and is removed by Release(). The default keeps
  // nothing.
  virtual absl::Status AnnounceSession(const Reservation& reservation, const GridSession& session) {
    (void)reservation;
    (void)session;
    return absl::OkStatus();
  }
  // OK when the registry's backend answers now; Unavailable with the reason otherwise. The
  // in-memory registry is always OK.
  virtual absl::Status Ping() { return absl::OkStatus(); }

  // True when every call completes in this process without I/O or waiting on anything but a
  // short internal lock (the in-memory registry), so that Reserve() and Release() may run on a
  // relay I/O thread. False (the default) for registries with a network backend.
  virtual bool NeverBlocks() const { return false; }
};

struct RegistryOptions {
  Clock* clock = SystemClock();   // must outlive the registry
  Logger* logger = NullLogger();  // must outlive the registry
  // How long a dead worker's record is kept before it is removed, >= 0.
  absl::Duration reap_after = absl::Seconds(60);

  absl::Status Validate() const;
};

// The in-process registry: the embedded default.
absl::StatusOr<std::unique_ptr<WorkerRegistry>> NewInMemoryWorkerRegistry(
    const RegistryOptions& options);

}  // namespace pwgrid

#endif  // PWGRID_WORKER_REGISTRY_H_
