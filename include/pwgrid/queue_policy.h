// The waiting-queue rule, as one pure function: which waiting client is served next when a
// session slot frees.
//
// Clients wait in queues, one per group: a browser type and the client's Playwright major.minor
// ("" for clients of unknown version), so that no client waits behind clients another set of
// workers serves. Within a group:
//   - tenants (Tenant::name of auth.h; "" for anonymous clients, who form one tenant) take turns:
//     the next tenant is the first, in byte order of names, that comes after the tenant served
//     last in this group, wrapping around to the smallest name (so the tenant served last comes
//     last); only tenants with a waiting client that is not at its quota take part;
//   - each tenant's clients are served first come, first served (arrival order).
// A tenant at its quota (it holds tenant_max_sessions sessions) is skipped and holds up nobody;
// its clients keep their places. With one tenant (no tokens) the rule is plain first come, first
// served.
//
// Two implementations apply it: the Selector's in-memory queue (embedded mode) calls this
// function, and the Redis registry's grid-wide queue applies it in Lua (lib/redis/lua/prelude.lua,
// queue_head()) to the tickets of every proxy; a parity test holds them together on shared
// vectors. Thread-safety: a pure function, reentrant.
#ifndef PWGRID_QUEUE_POLICY_H_
#define PWGRID_QUEUE_POLICY_H_

#include <cstddef>
#include <optional>
#include <string_view>

#include "absl/types/span.h"

namespace pwgrid {

// One waiting client of a group, as the rule sees it.
struct QueuedClient {
  std::string_view tenant;       // "" for an anonymous client
  bool tenant_at_quota = false;  // the tenant holds its quota now (then it is skipped)
};

// `queue`: one group's waiting clients in arrival order. `last_tenant`: the tenant served last in
// this group ("" when none was yet: then "" itself comes last). Returns the index in `queue` of
// the client to serve next, or nullopt when every waiting client's tenant is at its quota.
std::optional<size_t> NextInQueue(absl::Span<const QueuedClient> queue,
                                  std::string_view last_tenant);

}  // namespace pwgrid

#endif  // PWGRID_QUEUE_POLICY_H_
