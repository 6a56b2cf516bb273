// NextInQueue(): see include/pwgrid/queue_policy.h.
#include "pwgrid/queue_policy.h"

namespace pwgrid {

std::optional<size_t> NextInQueue(absl::Span<const QueuedClient> queue,
                                  std::string_view last_tenant) {
  std::optional<size_t> best;
  for (size_t i = 0; i < queue.size(); ++i) {
    const QueuedClient& c = queue[i];
    if (c.tenant_at_quota) continue;
    if (!best) {
      best = i;
      continue;
    }
    const std::string_view b = queue[*best].tenant;
    if (c.tenant == b) continue;  // the tenant's earlier client comes first
    // Rotated name order: names after last_tenant first, then the rest from the smallest.
    const bool c_after = c.tenant > last_tenant;
    const bool b_after = b > last_tenant;
    if (c_after != b_after ? c_after : c.tenant < b) best = i;
  }
  return best;
}

}  // namespace pwgrid
