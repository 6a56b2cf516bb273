// RedisAsyncConnection: one hiredis asynchronous connection run on an EventLoop (the caller's
// thread), with replies copied into plain values. Used by the Redis registry's loop reservers
// (lib/selector/loop_acquire.h), one per relay I/O thread, so that a connect's selection script
// is sent and answered on the I/O thread itself. Internal to libpwgrid.
//
// A connection error ends the connection for good: every reply still pending gets Unavailable,
// broken() turns true, and the owner makes a new connection when it wants one.
//
// Thread-safety: not thread-safe; used on the loop's thread only, where the reply callbacks run.
// Ownership: owns its hiredis context; the EventLoop must outlive it. Destroying it drops the
// callbacks of pending commands without calling them.
#ifndef PWGRID_LIB_REDIS_REDIS_ASYNC_H_
#define PWGRID_LIB_REDIS_REDIS_ASYNC_H_

#include "lib/common/internal.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "lib/common/event_loop.h"
#include "lib/redis/redis_connection.h"

struct redisAsyncContext;

namespace pwgrid::internal {

class RedisAsyncConnection {
 public:
  using Reply = absl::AnyInvocable<void(absl::StatusOr<RedisValue>)>;

  // Starts connecting (AUTH and SELECT are queued first); commands may be sent at once and go
  // out when the connection is up. Unavailable: the connection could not even be started.
  static absl::StatusOr<std::unique_ptr<RedisAsyncConnection>> Open(const RedisEndpoint& endpoint,
                                                                    EventLoop* loop);
  ~RedisAsyncConnection();
  RedisAsyncConnection(const RedisAsyncConnection&) = delete;
  RedisAsyncConnection& operator=(const RedisAsyncConnection&) = delete;

  // Sends `args`; `done` gets the reply (a Redis error reply is a value of Type::kError) or
  // Unavailable when the connection ends first. False when the connection is broken (`done` is
  // not kept).
  bool Command(const std::vector<std::string>& args, Reply done);
  // Ends the connection now: pending replies get Unavailable.
  void Close();
  // Commands would fail: the connection has ended or is ending.
  bool broken() const;
  int pending() const { return pending_; }

 private:
  struct Pending;
  RedisAsyncConnection(const RedisEndpoint& endpoint, redisAsyncContext* ctx);
  static void OnReply(redisAsyncContext* ctx, void* reply, void* privdata);
  static void OnDisconnect(const redisAsyncContext* ctx, int status);

  const RedisEndpoint endpoint_;
  redisAsyncContext* ctx_;  // null once the connection ended
  std::unique_ptr<FdWatch> watch_;
  bool dropping_ = false;  // destroying: pending callbacks are dropped, not called
  int pending_ = 0;
};

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_REDIS_REDIS_ASYNC_H_
