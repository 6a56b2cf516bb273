// Test helpers of the Redis tests: one real redis-server per test executable, on a free
// loopback port, and registries connected to it.
#ifndef PWGRID_TESTS_REDIS_TEST_UTIL_H_
#define PWGRID_TESTS_REDIS_TEST_UTIL_H_

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "pwgrid/redis_worker_registry.h"
#include "pwgrid/testing/redis_server.h"

namespace pwgrid {

inline testing::RedisServer& Server() {
  static std::unique_ptr<testing::RedisServer> server = [] {
    absl::StatusOr<std::unique_ptr<testing::RedisServer>> s = testing::RedisServer::Start();
    if (!s.ok()) {
      FAIL("cannot start redis-server: " << s.status().ToString());
    }
    return std::move(*s);
  }();
  return *server;
}

inline std::string Call(const std::vector<std::string>& args) {
  absl::StatusOr<std::string> r = Server().Call(args);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return *r;
}

inline RedisRegistryOptions Options() {
  RedisRegistryOptions o;
  o.port = Server().port();
  o.reconnect_backoff_min = absl::Milliseconds(20);
  o.reconnect_backoff_max = absl::Milliseconds(200);
  return o;
}

inline std::unique_ptr<WorkerRegistry> NewRegistry(const RedisRegistryOptions& o = Options()) {
  absl::StatusOr<std::unique_ptr<WorkerRegistry>> r = NewRedisWorkerRegistry(o);
  REQUIRE(r.ok());
  return std::move(*r);
}

// Counts the upkeep thread's renewal rounds (RedisRegistryTestHooks::after_renewal).
class RenewalCounter {
 public:
  std::function<void()> Hook() {
    return [this] {
      absl::MutexLock lock(&mu_);
      ++rounds_;
    };
  }
  // Waits until `n` more rounds have run, at most `limit`. False on timeout.
  bool WaitForMore(int n, absl::Duration limit) {
    absl::MutexLock lock(&mu_);
    const int64_t target = rounds_ + n;
    auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return rounds_ >= target; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), limit);
  }

 private:
  absl::Mutex mu_;
  int64_t rounds_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pwgrid

#endif  // PWGRID_TESTS_REDIS_TEST_UTIL_H_
