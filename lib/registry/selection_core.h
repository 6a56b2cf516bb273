// The selection rule of selection_policy.h over light views of workers, for registries that keep
// their own records and should not copy every WorkerInfo per selection. Not a public header.
// Thread-safety: pure functions, reentrant.
#ifndef PWGRID_LIB_REGISTRY_SELECTION_CORE_H_
#define PWGRID_LIB_REGISTRY_SELECTION_CORE_H_

#include "lib/common/internal.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "pwgrid/types.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid::internal {

struct LoadView {
  std::string_view id;  // borrowed from the caller's record
  BrowserType browser = BrowserType::kChromium;
  WorkerStatus status = WorkerStatus::kAvailable;
  int64_t active = 0;
  int64_t lifetime = 0;
  bool alive = false;
  std::string_view minor;  // PlaywrightMinor() of the worker's version, borrowed; "" unknown
};

// ChooseWorker() over views: the index of the chosen view, or nullopt. `client_minor`:
// PlaywrightMinor() of the client's version ("" for any worker).
std::optional<size_t> ChooseLoad(const std::vector<LoadView>& loads, BrowserType browser,
                                 std::string_view client_minor, const SessionLimits& limits);

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_REGISTRY_SELECTION_CORE_H_
