// Selector: turns "a chromium session, before this deadline" into a session Lease on one worker,
// or a clear refusal.
//
// Waiting clients are queued and woken as soon as the registry reports freed capacity; a slow
// safety poll covers changes nobody reported (a worker's TTL running out). The queue is bounded.
// Order: queue_policy.h, per group (a browser type and the client's Playwright major.minor, so
// that clients of one version never wait behind clients of another): tenants (SelectRequest::tenant) with waiting clients
// take turns, and each tenant's clients are served first come, first served; a tenant at its
// quota (tenant_max_sessions) waits behind its own sessions and never holds up another tenant,
// nor does a group without a free slot hold up another group. Anonymous clients ("") are
// one tenant. With a registry that has a SharedQueue (Redis) the queue is the grid's: the order
// holds across every proxy, and max_waiting bounds the grid's waiting clients.
//
// Thread-safety: Selector implementations are thread-safe. Acquire() and TryAcquire() never block
// the caller; the `done` callback runs on a selector thread and must not block (post work
// elsewhere).
// Ownership: a Lease borrows its Selector, which must outlive every Lease it handed out.
#ifndef PWGRID_SELECTOR_H_
#define PWGRID_SELECTOR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pwgrid/clock.h"
#include "pwgrid/logging.h"
#include "pwgrid/types.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid {

// A reserved session slot. Move-only. It gives its slot back exactly once: on Release() or in its
// destructor, whichever comes first. Thread-safety: distinct objects are safe, a shared object is
// unsafe.
class Lease {
 public:
  // Receives a Lease's commit and release. Implemented by selectors.
  class Owner {
   public:
    virtual ~Owner() = default;
    virtual void OnCommit(const Reservation& reservation) = 0;
    // `committed`: Commit() was called before; otherwise the lifetime count is rolled back too.
    virtual void OnRelease(const Reservation& reservation, bool committed) = 0;
    // ReleaseWorkerUnreachable(): called before OnRelease().
    virtual void OnWorkerUnreachable(const Reservation& reservation) = 0;
  };

  Lease() = default;  // an empty lease: valid() is false
  Lease(Owner* owner, Reservation reservation);
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  bool valid() const { return owner_ != nullptr; }
  const Reservation& reservation() const { return reservation_; }
  const WorkerInfo& worker() const { return reservation_.worker; }

  // The session is established (the worker accepted the client's handshake). It now counts
  // towards the worker's lifetime for good, and may trigger the worker's recycle. At most once.
  void Commit();
  // Gives the slot back. Idempotent.
  void Release();
  // The worker could not be reached (connect, send or the handshake answer failed): it is taken
  // out of selection until it heartbeats again (WorkerRegistry::MarkUnreachable), then the slot
  // is given back as by Release(). Nothing happens when the lease is already released.
  void ReleaseWorkerUnreachable();

 private:
  Owner* owner_ = nullptr;
  Reservation reservation_;
  bool committed_ = false;
};

struct SelectRequest {
  BrowserType browser = BrowserType::kChromium;
  absl::Time deadline = absl::InfiniteFuture();
  std::string client_version;       // Playwright version of the client, e.g. "1.65.1"; may be empty
  std::string tenant;               // Tenant::name (auth.h); "" for an anonymous client
  int64_t tenant_max_sessions = 0;  // Tenant::max_sessions; 0: no quota
};

class Selector {
 public:
  virtual ~Selector() = default;

  using Callback = absl::AnyInvocable<void(absl::StatusOr<Lease>)>;

  // Calls `done` exactly once, never from inside Acquire():
  //   a Lease                  — a slot was reserved;
  //   DeadlineExceeded         — no slot became free before request.deadline (or the tenant
  //                              stayed at its quota until then);
  //   ResourceExhausted        — too many clients are waiting already;
  //   Cancelled                — Cancel() was called for this ticket;
  //   FailedPrecondition       — the selector is shutting down;
  //   Unavailable / other      — the registry failed (e.g. its backend is unreachable).
  // Returns a ticket for Cancel().
  virtual uint64_t Acquire(SelectRequest request, Callback done) = 0;

  // The fast path of Acquire(), on the caller's thread: a Lease when a slot can be reserved at
  // once without blocking and no client is waiting before this one; nullopt otherwise (then call
  // Acquire(), which also gives the reason of a refusal). Skipping it changes nothing but
  // latency. The default never reserves.
  virtual std::optional<Lease> TryAcquire(const SelectRequest& request) {
    (void)request;
    return std::nullopt;
  }

  // Stops waiting for `ticket`: its callback gets Cancelled, unless it already ran or is running.
  virtual void Cancel(uint64_t ticket) = 0;

  // Clients waiting now.
  virtual int64_t waiting() const = 0;

  // This selector's waiting clients by group (browser type and Playwright version): how many, the oldest wait, and the same by
  // tenant (QueueStats, worker_registry.h). With a registry that has a SharedQueue, the whole
  // grid's queue is SharedQueue::Stats() (one registry round trip; this call never blocks).
  virtual std::vector<QueueStats> queue_stats() const { return {}; }
};

struct SelectorOptions {
  SessionLimits limits;        // C and L
  int64_t max_waiting = 1000;  // queued clients before ResourceExhausted, >= 0
  absl::Duration poll_interval =
      absl::Milliseconds(500);  // safety re-check while clients wait, > 0
  // Ask a worker to recycle once a committed session brings its lifetime to limits.max_lifetime
  // (upstream's recycle trigger).
  bool recycle_at_lifetime_limit = true;
  Clock* clock = SystemClock();   // must outlive the selector
  Logger* logger = NullLogger();  // must outlive the selector

  absl::Status Validate() const;
};

// A Selector over any WorkerRegistry, which must outlive it. Owns one thread, which makes every
// registry call, except with a registry that NeverBlocks(): then TryAcquire() reserves and a
// Lease releases on the caller's thread, which saves two thread hops per session. Destroying it
// answers every waiting client with FailedPrecondition; leases already handed out must be
// released before it is destroyed.
absl::StatusOr<std::unique_ptr<Selector>> NewRegistrySelector(WorkerRegistry* registry,
                                                              const SelectorOptions& options);

}  // namespace pwgrid

#endif  // PWGRID_SELECTOR_H_
