// ChooseWorker: upstream's lifetime-first selection rule as one pure function (see
// pwgrid/selection_policy.h).
#include "pwgrid/selection_policy.h"

#include <algorithm>

#include "lib/registry/selection_core.h"

namespace pwgrid {
namespace internal {
namespace {

// True when `a` ranks before `b` within one pool.
bool Better(const LoadView& a, const LoadView& b) {
  if (a.lifetime != b.lifetime) return a.lifetime > b.lifetime;
  if (a.active != b.active) return a.active < b.active;
  return a.id < b.id;
}

}  // namespace

std::optional<size_t> ChooseLoad(const std::vector<LoadView>& loads, BrowserType browser,
                                 std::string_view client_minor, const SessionLimits& limits) {
  const int64_t c = limits.max_concurrent;
  const int64_t l = limits.max_lifetime;
  // The client's group: workers of its browser type and of its version or of none.
  auto in_group = [&](const LoadView& w) {
    return w.browser == browser &&
           (client_minor.empty() || w.minor.empty() || w.minor == client_minor);
  };
  int64_t n = 0;
  bool recycling = false;  // the recycle stagger (see selection_policy.h)
  for (const LoadView& w : loads) {
    if (!in_group(w)) continue;
    ++n;
    if (w.alive && (w.status != WorkerStatus::kAvailable || w.lifetime >= l)) recycling = true;
  }
  if (n == 0) return std::nullopt;
  const int64_t margin = std::max<int64_t>(1, l / n);

  std::optional<size_t> primary;
  std::optional<size_t> fallback;
  for (size_t i = 0; i < loads.size(); ++i) {
    const LoadView& w = loads[i];
    const bool eligible = w.alive && in_group(w) && w.status == WorkerStatus::kAvailable &&
                          w.active < c && w.lifetime < l && !(recycling && w.lifetime == l - 1);
    if (!eligible) continue;
    if (w.lifetime < l - margin && (!primary || Better(w, loads[*primary]))) primary = i;
    if (!fallback || Better(w, loads[*fallback])) fallback = i;
  }
  return primary ? primary : fallback;
}

}  // namespace internal

std::optional<size_t> ChooseWorker(const std::vector<WorkerLoad>& workers, BrowserType browser,
                                   const SessionLimits& limits) {
  return ChooseWorker(workers, browser, "", limits);
}

std::optional<size_t> ChooseWorker(const std::vector<WorkerLoad>& workers, BrowserType browser,
                                   std::string_view client_version, const SessionLimits& limits) {
  std::vector<std::string> minors;
  minors.reserve(workers.size());
  for (const WorkerLoad& w : workers) minors.push_back(PlaywrightMinor(w.info.playwright_version));
  std::vector<internal::LoadView> views;
  views.reserve(workers.size());
  for (size_t i = 0; i < workers.size(); ++i) {
    const WorkerLoad& w = workers[i];
    views.push_back(
        {w.info.id, w.info.browser, w.info.status, w.active, w.lifetime, w.alive, minors[i]});
  }
  return internal::ChooseLoad(views, browser, PlaywrightMinor(client_version), limits);
}

}  // namespace pwgrid
