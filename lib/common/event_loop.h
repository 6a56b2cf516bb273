// EventLoop: what a connection that runs on someone else's event loop needs from it, without the
// loop's types: readiness watches on one descriptor. The relay implements it over each I/O
// thread's io_context (lib/relay/asio_event_loop.h), so that the Redis registry's asynchronous
// connection (lib/redis/redis_async.h) runs on that thread and wakes no other. Internal header.
//
// Thread-safety: an EventLoop and its watches are used on the loop's thread only; the callbacks
// run there. Ownership: a FdWatch does not own its descriptor, and must be stopped (Stop() or
// destroyed) before the descriptor is closed: a loop that still holds a closed descriptor's
// registration would later drop the registration of whatever socket reuses its number. The
// callbacks are not called after Stop() or destruction.
#ifndef PWGRID_LIB_COMMON_EVENT_LOOP_H_
#define PWGRID_LIB_COMMON_EVENT_LOOP_H_

#include "lib/common/internal.h"

#include <functional>
#include <memory>

namespace pwgrid::internal {

class FdWatch {
 public:
  virtual ~FdWatch() = default;
  // Start or stop calling on_readable / on_writable whenever the descriptor is ready for it.
  // Idempotent.
  virtual void WantRead(bool on) = 0;
  virtual void WantWrite(bool on) = 0;
  // Forgets the descriptor for good (the loop drops its registration), so that it may be closed
  // right after. Idempotent; may be called from inside one of the watch's own callbacks.
  virtual void Stop() = 0;
};

class EventLoop {
 public:
  virtual ~EventLoop() = default;
  // Watches `fd`, with neither direction wanted yet.
  virtual std::unique_ptr<FdWatch> Watch(int fd, std::function<void()> on_readable,
                                         std::function<void()> on_writable) = 0;
};

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_COMMON_EVENT_LOOP_H_
