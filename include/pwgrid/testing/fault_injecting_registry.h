// FaultInjectingRegistry: a WorkerRegistry that forwards every call to another one, except the
// calls it has been told to fail. For tests of code built on a registry (pwgrid's own, and a
// host's): "the 2nd Reserve fails with Unavailable", "every Release fails", then check that
// nothing leaked.
//
//   auto inner = pwgrid::NewInMemoryWorkerRegistry({});
//   pwgrid::testing::FaultInjectingRegistry faulty(inner->get());
//   faulty.FailNext(FaultInjectingRegistry::Method::kReserve, absl::UnavailableError("down"), 1);
//
// A failed call does not reach the wrapped registry (as when a backend is down: nothing is
// changed). Watch/Unwatch, NeverBlocks and the event stream are passed through and never fail.
// NeverBlocks() is the wrapped registry's.
//
// Thread-safety: thread-safe. Ownership: the wrapped registry is borrowed and must outlive it.
#ifndef PWGRID_TESTING_FAULT_INJECTING_REGISTRY_H_
#define PWGRID_TESTING_FAULT_INJECTING_REGISTRY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid::testing {

class FaultInjectingRegistry : public WorkerRegistry {
 public:
  // The methods that can be failed.
  enum class Method {
    kRegister,
    kHeartbeat,
    kSetStatus,
    kDeregister,
    kRequestShutdown,
    kTakeShutdownCommand,
    kSnapshot,
    kReserve,
    kRelease,
    kMarkUnreachable,
    kPing,
  };
  static constexpr int kMethodCount = 11;

  explicit FaultInjectingRegistry(WorkerRegistry* inner);

  // The next `times` calls of `method` return `status` (which must not be OK) instead of being
  // forwarded. Adds to failures already queued for that method.
  void FailNext(Method method, absl::Status status, int times = 1);
  // Every call of `method` fails with `status` until Heal().
  void FailAlways(Method method, absl::Status status);
  // Clears every queued and permanent failure.
  void Heal();

  // Calls of `method` so far, failed ones included.
  int64_t calls(Method method) const;
  // Calls of `method` that were failed.
  int64_t failures(Method method) const;

  absl::Status Register(const WorkerInfo& info, absl::Duration ttl) override;
  absl::Status Heartbeat(std::string_view id, absl::Duration ttl) override;
  absl::Status SetStatus(std::string_view id, WorkerStatus status) override;
  absl::Status Deregister(std::string_view id) override;
  absl::StatusOr<bool> RequestShutdown(std::string_view id) override;
  absl::StatusOr<bool> TakeShutdownCommand(std::string_view id) override;
  absl::StatusOr<std::vector<WorkerLoad>> Snapshot() override;
  absl::StatusOr<std::optional<Reservation>> Reserve(const ReserveRequest& request) override;
  absl::Status Release(const Reservation& reservation, bool rollback_lifetime) override;
  absl::Status MarkUnreachable(std::string_view id) override;
  int64_t Watch(RegistryListener listener) override;
  void Unwatch(int64_t watch_id) override;
  absl::Status Ping() override;
  bool NeverBlocks() const override;

 private:
  // The failure for this call of `method`, OK to forward it.
  absl::Status Injected(Method method);

  WorkerRegistry* const inner_;
  mutable absl::Mutex mu_;
  std::vector<absl::Status> queued_[kMethodCount] ABSL_GUARDED_BY(mu_);  // front = next
  std::optional<absl::Status> always_[kMethodCount] ABSL_GUARDED_BY(mu_);
  int64_t calls_[kMethodCount] ABSL_GUARDED_BY(mu_) = {};
  int64_t failures_[kMethodCount] ABSL_GUARDED_BY(mu_) = {};
};

}  // namespace pwgrid::testing

#endif  // PWGRID_TESTING_FAULT_INJECTING_REGISTRY_H_
