// The worker selection rule of playwright-distributed v0.3, as one pure function.
//
// Eligible: alive, status available, exact browser type, active < C, lifetime < L.
// margin = max(1, floor(L / N)), N = number of known workers of that browser type (alive or not,
// any status: upstream counts every counter entry with the browser's prefix).
// Primary pool: eligible with lifetime < L - margin. Fallback: every eligible worker.
// In each pool the best worker has the highest lifetime, then the lower active count, then the
// smaller id (upstream left this last tie to Lua's hash order; pwgrid makes it deterministic).
// The result is the best primary worker, else the best fallback worker, else none.
//
// pwgrid adds one rule, the recycle stagger: while a worker of the browser type is recycling
// (alive, and draining, shutting down, or at its lifetime limit), a worker whose next session
// would reach L (lifetime == L - 1) is not eligible. So at most one worker per browser type
// recycles at a time, also under full load, where upstream's margin alone lets every worker
// reach L together. The cost: that worker's remaining slots wait until the other recycle ends.
//
// The Redis selection script implements the same rule; a parity test holds them together.
// Thread-safety: a pure function, reentrant.
#ifndef PWGRID_SELECTION_POLICY_H_
#define PWGRID_SELECTION_POLICY_H_

#include <cstddef>
#include <optional>
#include <vector>

#include "pwgrid/types.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid {

// Returns the index in `workers` of the chosen worker, or nullopt when none is eligible.
std::optional<size_t> ChooseWorker(const std::vector<WorkerLoad>& workers, BrowserType browser,
                                   const SessionLimits& limits);

}  // namespace pwgrid

#endif  // PWGRID_SELECTION_POLICY_H_
