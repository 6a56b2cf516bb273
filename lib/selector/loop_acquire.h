// Reservations made on the caller's own event loop: the fast path of a connect in Redis mode.
//
// With a registry behind a network (Redis), Selector::Acquire() hands the request to the
// selector's thread, which makes the round trip and posts the lease back: two thread wake-ups
// per connect, each of which waits for a CPU on a busy machine. A registry that can also answer
// on an event loop (LoopReserveSource: the Redis registry, with one asynchronous connection per
// loop) lets the selector offer the same fast path as TryAcquire() without blocking: the relay's
// I/O thread sends the selection script itself and reads the answer on its own loop, and no
// other thread runs. Only the uncontended case goes this way: a reservation when a slot is free
// and nobody waits (locally or grid-wide) before the client; anything else (no slot, a waiting
// client, a tenant at its quota, Redis away, an index to rebuild) answers nullopt, and the caller
// falls back to Acquire(), which queues and gives the reasons of refusals. Internal header.
//
// Thread-safety: a LoopReserver / LoopAcquirer is used on its loop's thread only, and its `done`
// callbacks run there (never inside the call that started them). Ownership: the source (registry,
// selector) must outlive what it opened; destroying one drops the callbacks of requests still in
// flight without calling them (a reservation Redis made meanwhile expires with its lease TTL).
#ifndef PWGRID_LIB_SELECTOR_LOOP_ACQUIRE_H_
#define PWGRID_LIB_SELECTOR_LOOP_ACQUIRE_H_

#include "lib/common/internal.h"

#include <memory>
#include <optional>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "lib/common/event_loop.h"
#include "pwgrid/selector.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid::internal {

// Registry side.
class LoopReserver {
 public:
  using Done = absl::AnyInvocable<void(std::optional<Reservation>)>;
  virtual ~LoopReserver() = default;
  // False: not now (the connection is down or still connecting); `done` is not kept. True: `done`
  // gets the reservation, or nullopt when there was none to make at once or the call failed.
  virtual bool Reserve(const ReserveRequest& request, Done done) = 0;
  // How long an answer may take; a caller that waited that long calls Abandon() and goes on.
  virtual absl::Duration timeout() const = 0;
  // The caller stopped waiting for an answer: the connection is dropped (callbacks get nullopt)
  // and made again on a later Reserve().
  virtual void Abandon() = 0;
};

class LoopReserveSource {
 public:
  virtual ~LoopReserveSource() = default;
  virtual std::unique_ptr<LoopReserver> OpenLoopReserver(EventLoop* loop) = 0;
};

// Selector side: TryAcquire() on a loop.
class LoopAcquirer {
 public:
  using Done = absl::AnyInvocable<void(std::optional<Lease>)>;
  virtual ~LoopAcquirer() = default;
  // False: not now (clients are waiting, the selector stops, the connection is down): call
  // Selector::Acquire(). True: `done` runs later with a Lease, or with nullopt (then Acquire()).
  virtual bool TryAcquire(const SelectRequest& request, Done done) = 0;
  virtual absl::Duration timeout() const = 0;
  virtual void Abandon() = 0;
};

class LoopAcquireSource {
 public:
  virtual ~LoopAcquireSource() = default;
  // Null when the selector's registry cannot reserve on a loop.
  virtual std::unique_ptr<LoopAcquirer> OpenLoopAcquirer(EventLoop* loop) = 0;
};

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_SELECTOR_LOOP_ACQUIRE_H_
