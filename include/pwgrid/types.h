// Value types shared by every part of pwgrid: browser types, worker descriptions and loads.
//
// Thread-safety: plain values; distinct objects are safe, a shared object is unsafe to mutate.
#ifndef PWGRID_TYPES_H_
#define PWGRID_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace pwgrid {

// The browser a worker runs. Spelled on the wire and in Redis as "chromium", "firefox", "webkit".
enum class BrowserType { kChromium, kFirefox, kWebkit };

// Lifecycle status a worker advertises. Spelled "available", "draining", "shutting-down".
//
//   kAvailable ──drain──► kDraining ──active==0 or drain timeout──► kShuttingDown ──► (deregistered)
//
// Only kAvailable workers receive new sessions.
enum class WorkerStatus { kAvailable, kDraining, kShuttingDown };

std::string_view ToString(BrowserType b);
std::string_view ToString(WorkerStatus s);
// Exact, case-sensitive parsing, as upstream. InvalidArgument for anything else.
absl::StatusOr<BrowserType> ParseBrowserType(std::string_view s);
absl::StatusOr<WorkerStatus> ParseWorkerStatus(std::string_view s);

// What a worker says about itself.
struct WorkerInfo {
  std::string id;  // unique; "<browser>:<uuid>" as upstream, e.g. "chromium:3f2c…"
  BrowserType browser = BrowserType::kChromium;
  std::string endpoint;  // ws://host:port/path of its browser server
  WorkerStatus status = WorkerStatus::kAvailable;
  std::string playwright_version;  // e.g. "1.65.1"; empty when unknown (upstream workers)
  int64_t started_at_ms = 0;       // Unix epoch milliseconds of the worker process start
};

// A worker as the registry sees it, with its session counters.
struct WorkerLoad {
  WorkerInfo info;
  int64_t active = 0;    // sessions open now (leases not yet released)
  int64_t lifetime = 0;  // sessions ever reserved on this worker (rolled back on failed dials)
  bool alive = true;     // false: heartbeats stopped and the TTL passed; kept until reaped
  int64_t last_heartbeat_ms = 0;  // Unix epoch milliseconds of its last heartbeat; 0: unknown
};

// Checks that `info` can be registered: non-empty id, ws:// endpoint with host and port, and a
// playwright_version that is empty or starts with <major>.<minor> (PlaywrightMinor()).
absl::Status ValidateWorkerInfo(const WorkerInfo& info);

// Playwright versions. Playwright's browser server refuses (HTTP 428) a client whose major.minor
// differs from its own, so pwgrid matches versions on major.minor.
//
// The major.minor of `version`, normalized ("1.65.1" -> "1.65", "1.65" -> "1.65", "01.065-next"
// -> "1.65"): `version` must start with <digits>.<digits> (at most 9 digits each), followed by
// nothing, '.' or '-'. "" for anything else (an unknown version).
std::string PlaywrightMinor(std::string_view version);
// True when a worker of `worker_version` may serve a client of `client_version`: either is
// unknown (PlaywrightMinor() is ""), or both have the same major.minor.
bool VersionsMatch(std::string_view client_version, std::string_view worker_version);

// A new random RFC 4122 version 4 UUID, lower case, 36 characters: supported API, for the
// <uuid> part of a WorkerInfo id ("chromium:" + NewUuid()).
std::string NewUuid();

}  // namespace pwgrid

#endif  // PWGRID_TYPES_H_
