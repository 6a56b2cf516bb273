// The relay's operator endpoints that read its state: /readyz, GET /api/v1/status, the answer to
// a browser type no worker serves, and the status page (/ui/). Built from the GridMonitor's last
// view of the registry and the relay's own sessions, so no I/O thread waits on the registry.
// C++17 (the relay's island). Internal header.
#ifndef PWGRID_LIB_RELAY_OPERATOR_API_H_
#define PWGRID_LIB_RELAY_OPERATOR_API_H_

#include "lib/common/internal.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/relay/grid_monitor.h"
#include "lib/relay/http_surface.h"
#include "lib/relay/io_thread.h"

namespace pwgrid::internal {

// A view older than this many status intervals means the monitor is stuck on the registry.
inline constexpr int kStaleViewIntervals = 5;

// /readyz: 200 {"status":"ready",…}, or 503 {"status":"not ready"|"draining","reason":…}.
HttpAnswer ReadinessAnswer(const RelayShared& shared, bool keep_alive);

// GET /api/v1/status: the grid as this relay sees it (the README's "Operating pwgrid" lists the
// fields).
std::string StatusJson(const RelayShared& shared);

// When the registry, as last read, has no worker of `browser` at all (alive or not yet reaped):
// the message of the answer, naming the browser types it has. nullopt: some worker serves it, or
// the view cannot tell (no registry, not read yet, registry down).
std::optional<std::string> UnservedBrowserMessage(const GridView& view, BrowserType browser);

// When the registry, as last read, has workers of `browser` but none that may serve a client of
// Playwright `client_version` (VersionsMatch() of types.h): the answer's message and the
// major.minor versions those workers have, sorted. nullopt: one may, the client's version is
// unknown, no worker of `browser` is known (UnservedBrowserMessage()), or the view cannot tell.
struct UnservedVersion {
  std::string message;
  std::vector<std::string> grid_versions;
};
std::optional<UnservedVersion> UnservedVersionOf(const GridView& view, BrowserType browser,
                                                 std::string_view client_version);

// The status page: one HTML document with its script and style, no external resource.
std::string_view StatusPageHtml();

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_RELAY_OPERATOR_API_H_
