// Test seams of the Redis registry: points in its threads where an internal test can run code to
// force an interleaving that is otherwise rare. Internal to libpwgrid and its internal tests.
#ifndef PWGRID_LIB_REDIS_REDIS_REGISTRY_HOOKS_H_
#define PWGRID_LIB_REDIS_REDIS_REGISTRY_HOOKS_H_

#include "lib/common/internal.h"

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "pwgrid/redis_worker_registry.h"

namespace pwgrid::internal {

struct RedisRegistryTestHooks {
  // Runs on the upkeep thread after it took the list of leases to renew, before it renews them.
  std::function<void()> after_renew_snapshot;
  // Runs on the upkeep thread after each periodic renewal round (leases or none), so that a test
  // can wait for "one more renewal" instead of sleeping.
  std::function<void()> after_renewal;
};

// NewRedisWorkerRegistry() with hooks.
absl::StatusOr<std::unique_ptr<WorkerRegistry>> NewRedisWorkerRegistryWithHooks(
    const RedisRegistryOptions& options, RedisRegistryTestHooks hooks);

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_REDIS_REDIS_REGISTRY_HOOKS_H_
