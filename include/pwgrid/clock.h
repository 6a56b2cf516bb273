// Clock: the source of time for registries (heartbeat expiry), selectors (deadlines) and agents.
//
// Injected through Options structs so that tests can drive time by hand
// (pwgrid::testing::ManualClock). Implementations are thread-safe.
#ifndef PWGRID_CLOCK_H_
#define PWGRID_CLOCK_H_

#include "absl/time/time.h"

namespace pwgrid {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The real wall clock. Owned by the library: never delete it. Thread-safe.
Clock* SystemClock();

}  // namespace pwgrid

#endif  // PWGRID_CLOCK_H_
