// The relay's operator views (operator_api.h): readiness and the status document, as JSON built
// from the monitor's last view of the registry and the relay's own sessions.
#include "lib/relay/operator_api.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "lib/common/json_util.h"
#include "lib/relay/session.h"
#include "pwgrid/version.h"

namespace pwgrid::internal {
namespace {

std::string Name(BrowserType b) { return std::string(ToString(b)); }

std::string Quoted(std::string_view s) { return absl::StrCat("\"", GoJsonEscape(s, false), "\""); }

std::string Seconds(absl::Duration d) {
  return absl::StrFormat("%.3f", absl::ToDoubleSeconds(std::max(d, absl::ZeroDuration())));
}

// Why a view cannot say the grid is ready; "" when it can.
std::string NotReadyReason(const RelayShared& shared, const GridView& view, absl::Time now) {
  if (!view.refreshed) return "the worker registry has not been read yet";
  if (!view.registry.ok()) {
    return absl::StrCat("worker registry unavailable: ", view.registry.message());
  }
  if (now - view.at > kStaleViewIntervals * shared.options.status_interval) {
    return absl::StrCat("the worker registry has not answered for ",
                        absl::FormatDuration(absl::Trunc(now - view.at, absl::Seconds(1))));
  }
  const BrowserType b = shared.options.default_browser;
  for (const WorkerLoad& w : view.workers) {
    if (w.info.browser == b && w.alive && w.info.status == WorkerStatus::kAvailable) return "";
  }
  return absl::StrCat("no ", Name(b), " worker is registered and available");
}

}  // namespace

HttpAnswer ReadinessAnswer(const RelayShared& shared, bool keep_alive) {
  if (shared.stopping.load()) {
    return JsonAnswer(503, "{\"status\":\"draining\",\"reason\":\"the server is shutting down\"}\n",
                      keep_alive);
  }
  if (shared.options.registry == nullptr) {
    return JsonAnswer(200, "{\"status\":\"ready\"}\n", keep_alive);
  }
  std::shared_ptr<const GridView> view = shared.monitor->view();
  const std::string reason = NotReadyReason(shared, *view, absl::Now());
  if (!reason.empty()) {
    return JsonAnswer(503,
                      absl::StrCat("{\"status\":\"not ready\",\"reason\":", Quoted(reason), "}\n"),
                      keep_alive);
  }
  int64_t available = 0;
  for (const WorkerLoad& w : view->workers) {
    if (w.alive && w.info.status == WorkerStatus::kAvailable) ++available;
  }
  return JsonAnswer(200,
                    absl::StrCat("{\"status\":\"ready\",\"availableWorkers\":", available, "}\n"),
                    keep_alive);
}

std::optional<std::string> UnservedBrowserMessage(const GridView& view, BrowserType browser) {
  if (!view.refreshed || !view.registry.ok()) return std::nullopt;
  std::set<std::string> types;
  for (const WorkerLoad& w : view.workers) {
    if (w.info.browser == browser) return std::nullopt;
    types.insert(std::string(ToString(w.info.browser)));
  }
  if (types.empty()) {
    return absl::StrCat("No worker serves browser type ", Name(browser),
                        ": the grid has no workers");
  }
  return absl::StrCat("No worker serves browser type ", Name(browser),
                      " - available: ", absl::StrJoin(types, ", "));
}

std::optional<UnservedVersion> UnservedVersionOf(const GridView& view, BrowserType browser,
                                                 std::string_view client_version) {
  const std::string minor = PlaywrightMinor(client_version);
  if (minor.empty() || !view.refreshed || !view.registry.ok()) return std::nullopt;
  std::set<std::string> versions;
  for (const WorkerLoad& w : view.workers) {
    if (w.info.browser != browser) continue;
    if (VersionsMatch(client_version, w.info.playwright_version)) return std::nullopt;
    versions.insert(PlaywrightMinor(w.info.playwright_version));
  }
  if (versions.empty()) return std::nullopt;  // no worker of the browser: UnservedBrowserMessage
  UnservedVersion out;
  out.grid_versions.assign(versions.begin(), versions.end());
  out.message = absl::StrCat(
      "No worker serves Playwright ", minor,
      minor == client_version ? "" : absl::StrCat(" (client ", std::string(client_version), ")"),
      " for browser type ", Name(browser),
      " - the grid has: ", absl::StrJoin(out.grid_versions, ", "));
  return out;
}

std::string StatusJson(const RelayShared& shared) {
  const absl::Time now = absl::Now();
  const RelayOptions& o = shared.options;
  std::shared_ptr<const GridView> view = shared.monitor->view();
  const bool has_registry = o.registry != nullptr;
  const Metrics& metrics = o.metrics != nullptr ? *o.metrics : *shared.own_metrics;
  std::string out =
      absl::StrCat("{\"mode\":", Quoted(metrics.mode()), ",\"version\":", Quoted(VersionString()),
                   ",\"playwrightVersion\":", Quoted(metrics.playwright_version()),
                   ",\"uptimeSeconds\":", Seconds(now - shared.started),
                   ",\"draining\":", shared.stopping.load() ? "true" : "false");
  const std::string reason = has_registry ? NotReadyReason(shared, *view, now) : "";
  absl::StrAppend(&out, ",\"ready\":", reason.empty() && !shared.stopping.load() ? "true" : "false",
                  ",\"notReadyReason\":", Quoted(reason));
  absl::StrAppend(
      &out, ",\"registry\":{\"up\":", !has_registry || view->registry.ok() ? "true" : "false",
      ",\"error\":", Quoted(has_registry ? std::string(view->registry.message()) : ""),
      ",\"readAgeSeconds\":", has_registry && view->refreshed ? Seconds(now - view->at) : "null",
      "}");
  absl::StrAppend(&out, ",\"limits\":{\"maxConcurrentSessions\":", o.limits.max_concurrent,
                  ",\"maxLifetimeSessions\":", o.limits.max_lifetime, "}");

  out += ",\"workers\":[";
  bool first = true;
  for (const WorkerLoad& w : view->workers) {
    const std::string status = !w.alive ? "unreachable" : std::string(ToString(w.info.status));
    absl::StrAppend(
        &out, first ? "" : ",", "{\"id\":", Quoted(w.info.id),
        ",\"browser\":", Quoted(ToString(w.info.browser)),
        ",\"playwrightVersion\":", Quoted(w.info.playwright_version),
        ",\"endpoint\":", Quoted(w.info.endpoint), ",\"status\":", Quoted(status),
        ",\"active\":", w.active, ",\"lifetime\":", w.lifetime,
        ",\"maxConcurrent\":", o.limits.max_concurrent, ",\"maxLifetime\":", o.limits.max_lifetime,
        ",\"lastHeartbeatAgeSeconds\":",
        w.last_heartbeat_ms > 0 ? Seconds(now - absl::FromUnixMillis(w.last_heartbeat_ms)) : "null",
        "}");
    first = false;
  }
  out += "]";

  // The workers per browser and Playwright major.minor ("" for workers of no version), with the
  // clients waiting for each (the grid's queue when it is shared, else this relay's).
  const std::vector<QueueStats> queue =
      has_registry && view->shared_queue ? view->queue : shared.selector->queue_stats();
  struct VersionCounts {
    int64_t workers = 0, available = 0, free_slots = 0, waiting = 0;
  };
  std::map<std::pair<std::string, std::string>, VersionCounts> versions;
  for (const WorkerLoad& w : view->workers) {
    VersionCounts& c = versions[{Name(w.info.browser), PlaywrightMinor(w.info.playwright_version)}];
    ++c.workers;
    if (w.alive && w.info.status == WorkerStatus::kAvailable) {
      ++c.available;
      c.free_slots += FreeSlots(w, o.limits);
    }
  }
  for (const QueueStats& q : queue) {
    versions[{Name(q.browser), PlaywrightMinor(q.version)}].waiting += q.waiting;
  }
  absl::StrAppend(&out, ",\"versionPolicy\":", Quoted(ToString(o.version_policy)),
                  ",\"versions\":[");
  first = true;
  for (const auto& [key, c] : versions) {
    absl::StrAppend(&out, first ? "" : ",", "{\"browser\":", Quoted(key.first),
                    ",\"playwrightVersion\":", Quoted(key.second), ",\"workers\":", c.workers,
                    ",\"available\":", c.available, ",\"freeSlots\":", c.free_slots,
                    ",\"waiting\":", c.waiting, "}");
    first = false;
  }
  out += "]";

  // This relay's sessions, then those other proxies announced (Redis mode).
  std::vector<std::shared_ptr<Session>> local;
  {
    absl::MutexLock lock(&shared.mu);
    for (const auto& [id, weak] : shared.relayed) {
      if (auto s = weak.lock()) local.push_back(std::move(s));
    }
  }
  std::sort(local.begin(), local.end(),
            [](const auto& a, const auto& b) { return a->info().started < b->info().started; });
  out += ",\"sessions\":[";
  first = true;
  std::set<std::string> listed;
  for (const auto& s : local) {
    const SessionInfo& i = s->info();
    listed.insert(i.id);
    absl::StrAppend(
        &out, first ? "" : ",", "{\"id\":", Quoted(i.id),
        ",\"proxy\":", Quoted(shared.monitor->name()), ",\"browser\":", Quoted(ToString(i.browser)),
        ",\"workerId\":", Quoted(i.worker_id), ",\"client\":", Quoted(i.client),
        ",\"userAgent\":", Quoted(i.user_agent), ",\"clientVersion\":", Quoted(i.client_version),
        ",\"tenant\":", Quoted(i.tenant), ",\"startedAt\":",
        Quoted(absl::FormatTime(absl::RFC3339_sec, i.started, absl::UTCTimeZone())),
        ",\"durationSeconds\":", Seconds(now - i.started),
        ",\"queueWaitSeconds\":", Seconds(i.queue_wait),
        ",\"bytesToWorker\":", s->bytes_to_worker(), ",\"bytesToClient\":", s->bytes_to_client(),
        "}");
    first = false;
  }
  for (const GridSession& g : view->sessions) {
    // This proxy's own are listed above, live (the view may still hold one that ended).
    if (listed.count(g.id) != 0 || g.proxy == shared.monitor->name()) continue;
    const absl::Time started = absl::FromUnixMillis(g.started_at_ms);
    absl::StrAppend(&out, first ? "" : ",", "{\"id\":", Quoted(g.id),
                    ",\"proxy\":", Quoted(g.proxy), ",\"browser\":", Quoted(ToString(g.browser)),
                    ",\"workerId\":", Quoted(g.worker_id), ",\"client\":", Quoted(g.client),
                    ",\"userAgent\":", Quoted(g.user_agent),
                    ",\"clientVersion\":", Quoted(g.client_version),
                    ",\"tenant\":", Quoted(g.tenant), ",\"startedAt\":",
                    Quoted(absl::FormatTime(absl::RFC3339_sec, started, absl::UTCTimeZone())),
                    ",\"durationSeconds\":", Seconds(now - started),
                    ",\"queueWaitSeconds\":null,\"bytesToWorker\":null,\"bytesToClient\":null}");
    first = false;
  }
  out += "]";

  // Waiting clients per browser: the grid's queue when it is shared, else this relay's.
  std::map<BrowserType, std::pair<int64_t, absl::Duration>> waiting;
  for (BrowserType b : kAllBrowsers) waiting[b] = {0, absl::ZeroDuration()};
  for (const QueueStats& q : queue) {
    waiting[q.browser].first += q.waiting;
    waiting[q.browser].second = std::max(waiting[q.browser].second, q.oldest_wait);
  }
  out += ",\"waiting\":[";
  first = true;
  for (const auto& [b, w] : waiting) {
    absl::StrAppend(&out, first ? "" : ",", "{\"browser\":", Quoted(ToString(b)),
                    ",\"clients\":", w.first, ",\"oldestWaitSeconds\":", Seconds(w.second), "}");
    first = false;
  }
  absl::StrAppend(&out, "],\"totals\":{\"sessionsActive\":", shared.active.load(),
                  ",\"sessionsTotal\":", shared.total.load(),
                  ",\"rejectedRequests\":", shared.rejected.load(), "}}\n");
  return out;
}

}  // namespace pwgrid::internal
