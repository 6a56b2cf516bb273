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
// Playwright versions: the rule applies within the client's group, the workers of its browser
// type whose Playwright version matches the client's (VersionsMatch(), types.h: same
// major.minor, or either version unknown). N, the margin, the pools and the recycle stagger are
// all of that group. A client of unknown version (and a fleet without versions, like
// upstream's) has every worker of its browser type in its group: upstream's rule exactly.
//
// The Redis selection script implements the same rule; a parity test holds them together.
// Thread-safety: a pure function, reentrant.
#ifndef PWGRID_SELECTION_POLICY_H_
#define PWGRID_SELECTION_POLICY_H_

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "pwgrid/types.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid {

// Returns the index in `workers` of the chosen worker, or nullopt when none is eligible.
// `client_version`: the client's Playwright version ("1.65.1", "1.65"; "" when unknown).
std::optional<size_t> ChooseWorker(const std::vector<WorkerLoad>& workers, BrowserType browser,
                                   std::string_view client_version, const SessionLimits& limits);
// A client of unknown version: ChooseWorker(workers, browser, "", limits).
std::optional<size_t> ChooseWorker(const std::vector<WorkerLoad>& workers, BrowserType browser,
                                   const SessionLimits& limits);

}  // namespace pwgrid

#endif  // PWGRID_SELECTION_POLICY_H_
