// RedisServer: a real redis-server on a free loopback port, for tests.
//
// Start() runs `redis-server` (found on PATH) bound to 127.0.0.1, without persistence, and waits
// until it answers PING. The destructor stops it by its PID (SIGTERM, then SIGKILL). Stop()
// followed by Resume() is an outage: a fresh, empty server on the same port. Start() fails with
// FailedPrecondition when redis-server is not installed (a test then skips, exit 77).
//
// Thread-safety: Start/Stop/Resume from one thread; Call() and HGetAll() are thread-safe.
#ifndef PWGRID_TESTING_REDIS_SERVER_H_
#define PWGRID_TESTING_REDIS_SERVER_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pwgrid::internal {
class Subprocess;
}  // namespace pwgrid::internal

namespace pwgrid::testing {

class RedisServer {
 public:
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start();
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  // The server's PID while it runs, else -1.
  pid_t pid() const;

  // SIGKILL (crash) or SIGTERM the server; Resume() starts an empty one on the same port.
  void Stop(bool crash = false);
  absl::Status Resume();

  // Runs one command on a fresh connection. The reply is rendered as text: integers and strings
  // as they are, nil as "(nil)", arrays as their elements joined with '\n'. A Redis error
  // reply is an Internal status.
  absl::StatusOr<std::string> Call(const std::vector<std::string>& args) const;
  // HGETALL as a map.
  absl::StatusOr<std::map<std::string, std::string>> HGetAll(const std::string& key) const;

 private:
  RedisServer() = default;
  absl::Status Spawn();

  int port_ = 0;
  std::unique_ptr<internal::Subprocess> process_;
};

}  // namespace pwgrid::testing

#endif  // PWGRID_TESTING_REDIS_SERVER_H_
