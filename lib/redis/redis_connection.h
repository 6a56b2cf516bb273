// RedisConnection: one synchronous hiredis connection, with replies copied into plain values.
//
// Internal to libpwgrid. Every call blocks the calling thread for at most the command timeout,
// so callers keep these calls off relay I/O threads (the selector and agent threads make them).
// A connection error closes the connection: the next call fails fast with Unavailable until the
// owner calls Connect() again (RedisWorkerRegistry paces reconnects with a backoff).
//
// Thread-safety: not thread-safe; the owner serialises calls. Ownership: owns its hiredis context.
#ifndef PWGRID_LIB_REDIS_REDIS_CONNECTION_H_
#define PWGRID_LIB_REDIS_REDIS_CONNECTION_H_

#include "lib/common/internal.h"

#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct redisContext;
struct redisReader;
struct redisReply;

namespace pwgrid::internal {

// A RESP2 reply.
struct RedisValue {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };
  Type type = Type::kNil;
  int64_t integer = 0;
  std::string str;  // kString, kStatus and kError
  std::vector<RedisValue> elements;

  bool is_nil() const { return type == Type::kNil; }
  bool is_error() const { return type == Type::kError; }
};

// A hiredis reply as a value.
RedisValue RedisValueOf(const redisReply* reply);

// Bounds the array replies `reader` accepts (hiredis 0.14 allocates an array's element table
// from the count the server announces, before any element arrives).
void BoundReplies(redisReader* reader);

// hiredis' argv form of `args` (pointers into `args`, which must outlive them).
void ToArgv(const std::vector<std::string>& args, std::vector<const char*>& argv,
            std::vector<size_t>& lens);

// hiredis writes with write(2): a peer that went away (Redis killed) raises SIGPIPE, whose default
// action ends the whole host process, and a library must not change the process's signal
// dispositions. So SIGPIPE is blocked in the calling thread for the duration of each hiredis call
// that writes, and one raised meanwhile is taken off this thread's pending set before the mask is
// restored (the write then simply fails with EPIPE, which hiredis reports).
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock();
  ~ScopedSigpipeBlock();
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

// Parses RESP2 bytes into the complete replies they hold, with hiredis' reader and the same
// conversion a connection applies to what it reads. InvalidArgument: a protocol error.
absl::StatusOr<std::vector<RedisValue>> DecodeRedisReplies(std::string_view bytes);

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;  // empty: no AUTH
  int db = 0;
  absl::Duration connect_timeout = absl::Seconds(1);
  absl::Duration command_timeout = absl::Seconds(2);  // ZeroDuration(): block without limit
};

// A Lua script run with EVALSHA; loaded on first use and again whenever Redis answers NOSCRIPT
// (after a restart or SCRIPT FLUSH).
struct RedisScript {
  std::string source;
  std::string sha;  // filled in by RedisConnection::Eval
};

class RedisConnection {
 public:
  explicit RedisConnection(RedisEndpoint endpoint) : endpoint_(std::move(endpoint)) {}
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Connects, authenticates and selects the database. Unavailable on failure.
  absl::Status Connect();
  void Close();
  bool connected() const { return ctx_ != nullptr; }

  // One command. A Redis error reply is returned as a value of Type::kError; connection errors
  // and timeouts are Unavailable (and close the connection).
  absl::StatusOr<RedisValue> Command(const std::vector<std::string>& args);
  // Several commands in one round trip; replies in order.
  absl::StatusOr<std::vector<RedisValue>> Pipeline(
      const std::vector<std::vector<std::string>>& cmds);
  // EVALSHA with a NOSCRIPT fallback. A script error is Internal.
  absl::StatusOr<RedisValue> Eval(RedisScript& script, const std::vector<std::string>& keys,
                                  const std::vector<std::string>& args);

  // For pub/sub: sends a command without waiting for its reply.
  absl::Status Send(const std::vector<std::string>& args);
  // For pub/sub: waits up to `timeout` for the next pushed reply. nullopt-like: returns a kNil
  // value with `*got = false` when nothing arrived in time.
  absl::StatusOr<RedisValue> Receive(absl::Duration timeout, bool* got);

  const RedisEndpoint& endpoint() const { return endpoint_; }

 private:
  absl::Status IoError(std::string_view what);

  const RedisEndpoint endpoint_;
  redisContext* ctx_ = nullptr;
};

// "host:port" for messages.
std::string Describe(const RedisEndpoint& endpoint);

// Exponential backoff between reconnect attempts: min, 2 min, 4 min, … up to max; Reset() after
// a success. Used by the registry's command connection and by its subscriber. Not thread-safe.
class Backoff {
 public:
  Backoff(absl::Duration min, absl::Duration max) : min_(min), max_(max), next_(min) {}
  // The wait before the next attempt; doubles the one after it.
  absl::Duration Next() {
    const absl::Duration d = next_;
    next_ = std::min(next_ * 2, max_);
    return d;
  }
  void Reset() { next_ = min_; }

 private:
  const absl::Duration min_;
  const absl::Duration max_;
  absl::Duration next_;
};

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_REDIS_REDIS_CONNECTION_H_
