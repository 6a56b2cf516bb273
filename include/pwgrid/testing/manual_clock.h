// ManualClock: a Clock whose time moves only when a test calls Advance() or Set().
//
// Thread-safety: thread-safe.
#ifndef PWGRID_TESTING_MANUAL_CLOCK_H_
#define PWGRID_TESTING_MANUAL_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pwgrid/clock.h"

namespace pwgrid::testing {

class ManualClock : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pwgrid::testing

#endif  // PWGRID_TESTING_MANUAL_CLOCK_H_
