// Lease: one reserved session slot, released exactly once (see pwgrid/selector.h). Its owner (a
// selector) does the registry work; the lease only makes sure that happens once.
#include <utility>

#include "pwgrid/selector.h"

namespace pwgrid {

Lease::Lease(Owner* owner, Reservation reservation)
    : owner_(owner), reservation_(std::move(reservation)) {}

Lease::Lease(Lease&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      reservation_(std::move(other.reservation_)),
      committed_(other.committed_) {}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = std::exchange(other.owner_, nullptr);
    reservation_ = std::move(other.reservation_);
    committed_ = other.committed_;
  }
  return *this;
}

Lease::~Lease() { Release(); }

void Lease::Commit() {
  if (owner_ == nullptr || committed_) return;
  committed_ = true;
  owner_->OnCommit(reservation_);
}

void Lease::Release() {
  if (Owner* owner = std::exchange(owner_, nullptr)) owner->OnRelease(reservation_, committed_);
}

void Lease::ReleaseWorkerUnreachable() {
  if (owner_ == nullptr) return;
  owner_->OnWorkerUnreachable(reservation_);
  Release();
}

}  // namespace pwgrid
