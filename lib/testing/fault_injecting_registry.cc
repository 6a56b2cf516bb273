// FaultInjectingRegistry (see pwgrid/testing/fault_injecting_registry.h).
#include "pwgrid/testing/fault_injecting_registry.h"

#include <utility>

namespace pwgrid::testing {

FaultInjectingRegistry::FaultInjectingRegistry(WorkerRegistry* inner) : inner_(inner) {}

void FaultInjectingRegistry::FailNext(Method method, absl::Status status, int times) {
  if (status.ok()) status = absl::InternalError("FailNext was given an OK status");
  absl::MutexLock lock(&mu_);
  for (int i = 0; i < times; ++i) queued_[static_cast<int>(method)].push_back(status);
}

void FaultInjectingRegistry::FailAlways(Method method, absl::Status status) {
  if (status.ok()) status = absl::InternalError("FailAlways was given an OK status");
  absl::MutexLock lock(&mu_);
  always_[static_cast<int>(method)] = std::move(status);
}

void FaultInjectingRegistry::Heal() {
  absl::MutexLock lock(&mu_);
  for (int m = 0; m < kMethodCount; ++m) {
    queued_[m].clear();
    always_[m].reset();
  }
}

int64_t FaultInjectingRegistry::calls(Method method) const {
  absl::MutexLock lock(&mu_);
  return calls_[static_cast<int>(method)];
}

int64_t FaultInjectingRegistry::failures(Method method) const {
  absl::MutexLock lock(&mu_);
  return failures_[static_cast<int>(method)];
}

absl::Status FaultInjectingRegistry::Injected(Method method) {
  const int m = static_cast<int>(method);
  absl::MutexLock lock(&mu_);
  ++calls_[m];
  absl::Status s;
  if (!queued_[m].empty()) {
    s = queued_[m].front();
    queued_[m].erase(queued_[m].begin());
  } else if (always_[m]) {
    s = *always_[m];
  }
  if (!s.ok()) ++failures_[m];
  return s;
}

absl::Status FaultInjectingRegistry::Register(const WorkerInfo& info, absl::Duration ttl) {
  if (absl::Status s = Injected(Method::kRegister); !s.ok()) return s;
  return inner_->Register(info, ttl);
}

absl::Status FaultInjectingRegistry::Heartbeat(std::string_view id, absl::Duration ttl) {
  if (absl::Status s = Injected(Method::kHeartbeat); !s.ok()) return s;
  return inner_->Heartbeat(id, ttl);
}

absl::Status FaultInjectingRegistry::SetStatus(std::string_view id, WorkerStatus status) {
  if (absl::Status s = Injected(Method::kSetStatus); !s.ok()) return s;
  return inner_->SetStatus(id, status);
}

absl::Status FaultInjectingRegistry::Deregister(std::string_view id) {
  if (absl::Status s = Injected(Method::kDeregister); !s.ok()) return s;
  return inner_->Deregister(id);
}

absl::StatusOr<bool> FaultInjectingRegistry::RequestShutdown(std::string_view id) {
  if (absl::Status s = Injected(Method::kRequestShutdown); !s.ok()) return s;
  return inner_->RequestShutdown(id);
}

absl::StatusOr<bool> FaultInjectingRegistry::TakeShutdownCommand(std::string_view id) {
  if (absl::Status s = Injected(Method::kTakeShutdownCommand); !s.ok()) return s;
  return inner_->TakeShutdownCommand(id);
}

absl::StatusOr<std::vector<WorkerLoad>> FaultInjectingRegistry::Snapshot() {
  if (absl::Status s = Injected(Method::kSnapshot); !s.ok()) return s;
  return inner_->Snapshot();
}

absl::StatusOr<std::optional<Reservation>> FaultInjectingRegistry::Reserve(
    const ReserveRequest& request) {
  if (absl::Status s = Injected(Method::kReserve); !s.ok()) return s;
  return inner_->Reserve(request);
}

absl::Status FaultInjectingRegistry::Release(const Reservation& reservation,
                                             bool rollback_lifetime) {
  if (absl::Status s = Injected(Method::kRelease); !s.ok()) return s;
  return inner_->Release(reservation, rollback_lifetime);
}

absl::Status FaultInjectingRegistry::MarkUnreachable(std::string_view id) {
  if (absl::Status s = Injected(Method::kMarkUnreachable); !s.ok()) return s;
  return inner_->MarkUnreachable(id);
}

int64_t FaultInjectingRegistry::Watch(RegistryListener listener) {
  return inner_->Watch(std::move(listener));
}

void FaultInjectingRegistry::Unwatch(int64_t watch_id) { inner_->Unwatch(watch_id); }

absl::Status FaultInjectingRegistry::Ping() {
  if (absl::Status s = Injected(Method::kPing); !s.ok()) return s;
  return inner_->Ping();
}

bool FaultInjectingRegistry::NeverBlocks() const { return inner_->NeverBlocks(); }

}  // namespace pwgrid::testing
