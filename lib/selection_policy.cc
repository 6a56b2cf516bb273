#include "pwgrid/selection_policy.h"

#include <algorithm>

namespace pwgrid {
namespace {

// True when `a` ranks before `b` within one pool.
bool Better(const WorkerLoad& a, const WorkerLoad& b) {
  if (a.lifetime != b.lifetime) return a.lifetime > b.lifetime;
  if (a.active != b.active) return a.active < b.active;
  return a.info.id < b.info.id;
}

}  // namespace

std::optional<size_t> ChooseWorker(const std::vector<WorkerLoad>& workers, BrowserType browser,
                                   const SessionLimits& limits) {
  const int64_t c = limits.max_concurrent;
  const int64_t l = limits.max_lifetime;
  int64_t n = 0;
  bool recycling = false;  // the recycle stagger (see the header)
  for (const WorkerLoad& w : workers) {
    if (w.info.browser != browser) continue;
    ++n;
    if (w.alive && (w.info.status != WorkerStatus::kAvailable || w.lifetime >= l)) recycling = true;
  }
  if (n == 0) return std::nullopt;
  const int64_t margin = std::max<int64_t>(1, l / n);

  std::optional<size_t> primary;
  std::optional<size_t> fallback;
  for (size_t i = 0; i < workers.size(); ++i) {
    const WorkerLoad& w = workers[i];
    const bool eligible = w.alive && w.info.browser == browser &&
                          w.info.status == WorkerStatus::kAvailable && w.active < c &&
                          w.lifetime < l && !(recycling && w.lifetime == l - 1);
    if (!eligible) continue;
    if (w.lifetime < l - margin && (!primary || Better(w, workers[*primary]))) primary = i;
    if (!fallback || Better(w, workers[*fallback])) fallback = i;
  }
  return primary ? primary : fallback;
}

}  // namespace pwgrid
