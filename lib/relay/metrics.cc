// Metrics (metrics.h) and the families the relay records into (metric_families.h), built with
// prometheus-cpp's core: its registry, counters, gauges, histograms and text serializer.
#include "pwgrid/metrics.h"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <exception>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/relay/metric_families.h"
#include "pwgrid/version.h"

namespace pwgrid {
namespace internal {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// Session lengths: a test of seconds to a crawl of an hour.
const Histogram::BucketBoundaries kDurationBuckets = {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600};
// Connects: a free slot on loopback is ~1 ms, a browser's handshake a few.
const Histogram::BucketBoundaries kConnectBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,   0.25,   0.5,   1,    2.5,   5};
// Queue waits: none at all up to QUEUE_TIMEOUT's hours.
const Histogram::BucketBoundaries kWaitBuckets = {0.001, 0.01, 0.1, 0.5, 1,    5,   15,
                                                  30,    60,   300, 900, 1800, 3600};

std::string Browser(BrowserType b) { return std::string(ToString(b)); }

}  // namespace

MetricFamilies::MetricFamilies(prometheus::Registry& r, const std::string& mode,
                               const std::string& playwright_version)
    : registry(r),
      build_info(BuildGauge()
                     .Name("pwgrid_build_info")
                     .Help("pwgrid's version, mode and the Playwright version of its local workers")
                     .Register(r)),
      sessions_active_family(BuildGauge()
                                 .Name("pwgrid_sessions_active")
                                 .Help("Sessions this proxy relays now")
                                 .Register(r)),
      sessions_total_family(BuildCounter()
                                .Name("pwgrid_sessions_total")
                                .Help("Sessions this proxy has established (worker answered 101)")
                                .Register(r)),
      session_duration_family(BuildHistogram()
                                  .Name("pwgrid_session_duration_seconds")
                                  .Help("Length of ended sessions, from the worker's 101 to close")
                                  .Register(r)),
      connect_family(BuildHistogram()
                         .Name("pwgrid_connect_duration_seconds")
                         .Help("From a client's upgrade request to the worker's 101 relayed")
                         .Register(r)),
      queue_wait_family(BuildHistogram()
                            .Name("pwgrid_queue_wait_seconds")
                            .Help("How long served clients waited for a free slot")
                            .Register(r)),
      waiting_family(BuildGauge()
                         .Name("pwgrid_clients_waiting")
                         .Help("Clients waiting for a worker on this proxy")
                         .Register(r)),
      rejected_family(BuildCounter()
                          .Name("pwgrid_rejected_requests_total")
                          .Help("Upgrade requests answered with an error, by status and reason")
                          .Register(r)),
      bytes_family(BuildCounter()
                       .Name("pwgrid_relayed_bytes_total")
                       .Help("Bytes relayed after the handshake, by direction")
                       .Register(r)),
      dial_failures_family(BuildCounter()
                               .Name("pwgrid_worker_dial_failures_total")
                               .Help("Connections to workers that failed (connect or handshake)")
                               .Register(r)),
      registry_up_family(BuildGauge()
                             .Name("pwgrid_registry_up")
                             .Help("1 when the worker registry (Redis) answers, else 0")
                             .Register(r)),
      registry_errors_family(BuildCounter()
                                 .Name("pwgrid_registry_errors_total")
                                 .Help("Reads of the worker registry that failed")
                                 .Register(r)),
      grid_workers_family(BuildGauge()
                              .Name("pwgrid_grid_workers")
                              .Help("Registered workers of the whole grid by browser and status; "
                                    "sum only primary=\"true\" across proxies")
                              .Register(r)),
      grid_free_family(BuildGauge()
                           .Name("pwgrid_grid_free_slots")
                           .Help("Free session slots on available workers of the whole grid; sum "
                                 "only primary=\"true\" across proxies")
                           .Register(r)),
      grid_waiting_family(BuildGauge()
                              .Name("pwgrid_grid_clients_waiting")
                              .Help("Clients waiting in the whole grid's queue; sum only "
                                    "primary=\"true\" across proxies")
                              .Register(r)),
      grid_recycles_family(BuildCounter()
                               .Name("pwgrid_grid_worker_recycles_total")
                               .Help("Workers of the grid seen to leave service: draining (recycle "
                                     "or drain), or gone while available")
                               .Register(r)),
      grid_version_workers_family(
          BuildGauge()
              .Name("pwgrid_grid_version_workers")
              .Help("Registered workers of the whole grid by browser, Playwright major.minor "
                    "(\"any\": no version registered) and status; sum only primary=\"true\"")
              .Register(r)),
      grid_version_free_family(
          BuildGauge()
              .Name("pwgrid_grid_version_free_slots")
              .Help("Free session slots on available workers of the whole grid by browser and "
                    "Playwright major.minor; sum only primary=\"true\" across proxies")
              .Register(r)),
      mode_(mode) {
  SetPlaywrightVersion(playwright_version);
  for (BrowserType b : kAllBrowsers) {
    const size_t i = BrowserIndex(b);
    sessions_active[i] = &sessions_active_family.Add({{"browser", Browser(b)}});
    sessions_total[i] = &sessions_total_family.Add({{"browser", Browser(b)}});
    session_duration[i] = &session_duration_family.Add({{"browser", Browser(b)}}, kDurationBuckets);
    connect[i] = &connect_family.Add({{"browser", Browser(b)}}, kConnectBuckets);
    queue_wait[i] = &queue_wait_family.Add({{"browser", Browser(b)}}, kWaitBuckets);
    waiting[i] = &waiting_family.Add({{"browser", Browser(b)}});
  }
  bytes_to_worker = &bytes_family.Add({{"direction", "to_worker"}});
  bytes_to_client = &bytes_family.Add({{"direction", "to_client"}});
  dial_failures = &dial_failures_family.Add({});
  registry_up = &registry_up_family.Add({});
  registry_errors = &registry_errors_family.Add({});
}

void MetricFamilies::SessionStarted(BrowserType b, double connect_seconds,
                                    double queue_wait_seconds) {
  const size_t i = BrowserIndex(b);
  sessions_active[i]->Increment();
  sessions_total[i]->Increment();
  connect[i]->Observe(connect_seconds);
  queue_wait[i]->Observe(queue_wait_seconds);
}

void MetricFamilies::SessionEnded(BrowserType b, double duration_seconds) {
  const size_t i = BrowserIndex(b);
  sessions_active[i]->Decrement();
  session_duration[i]->Observe(duration_seconds);
}

void MetricFamilies::Rejected(int code, const std::string& reason) {
  rejected_family.Add({{"code", absl::StrCat(code)}, {"reason", reason}}).Increment();
}

void MetricFamilies::SetPlaywrightVersion(const std::string& version) {
  absl::MutexLock lock(&mu_);
  if (build_info_series_ != nullptr) build_info.Remove(build_info_series_);
  playwright_version_ = version;
  build_info_series_ = &build_info.Add(
      {{"version", VersionString()}, {"playwright_version", version}, {"mode", mode_}});
  build_info_series_->Set(1);
}

std::string MetricFamilies::playwright_version() const {
  absl::MutexLock lock(&mu_);
  return playwright_version_;
}

void MetricFamilies::SetRelayedBytes(int64_t to_workers, int64_t to_clients) {
  absl::MutexLock lock(&mu_);
  if (to_workers > bytes_to_workers_seen_) {
    bytes_to_worker->Increment(static_cast<double>(to_workers - bytes_to_workers_seen_));
    bytes_to_workers_seen_ = to_workers;
  }
  if (to_clients > bytes_to_clients_seen_) {
    bytes_to_client->Increment(static_cast<double>(to_clients - bytes_to_clients_seen_));
    bytes_to_clients_seen_ = to_clients;
  }
}

void MetricFamilies::SetGrid(const GridMetricsInput& in) {
  registry_up->Set(in.registry_up ? 1 : 0);
  for (BrowserType b : kAllBrowsers) {
    int64_t waiting_here = 0;
    for (const QueueStats& q : in.local_queue) {
      if (q.browser == b) waiting_here += q.waiting;
    }
    waiting[BrowserIndex(b)]->Set(static_cast<double>(waiting_here));
  }
  // Keep the last grid figures rather than report an empty grid.
  if (!in.registry_up || in.no_registry) return;
  absl::MutexLock lock(&mu_);
  const std::string primary = in.primary ? "true" : "false";
  const std::string other = in.primary ? "false" : "true";
  const bool flipped = grid_set_ && grid_primary_ != in.primary;
  grid_set_ = true;
  grid_primary_ = in.primary;
  static const char* const kStatuses[] = {"available", "draining", "unreachable"};
  std::set<std::string> draining_now;
  for (BrowserType b : kAllBrowsers) {
    int64_t counts[3] = {0, 0, 0};
    int64_t free_slots = 0;
    for (const WorkerLoad& w : in.workers) {
      if (w.info.browser != b) continue;
      if (!w.alive) {
        ++counts[2];
      } else if (w.info.status == WorkerStatus::kAvailable) {
        ++counts[0];
        free_slots += FreeSlots(w, in.limits);
      } else {
        ++counts[1];
        draining_now.insert(w.info.id);
      }
    }
    int64_t queued = 0;
    for (const QueueStats& q : in.grid_queue) {
      if (q.browser == b) queued += q.waiting;
    }
    const std::string name = Browser(b);
    for (int s = 0; s < 3; ++s) {
      grid_workers_family.Add({{"browser", name}, {"status", kStatuses[s]}, {"primary", primary}})
          .Set(static_cast<double>(counts[s]));
      if (flipped) {
        grid_workers_family.Remove(&grid_workers_family.Add(
            {{"browser", name}, {"status", kStatuses[s]}, {"primary", other}}));
      }
    }
    grid_free_family.Add({{"browser", name}, {"primary", primary}})
        .Set(static_cast<double>(free_slots));
    if (flipped) {
      grid_free_family.Remove(&grid_free_family.Add({{"browser", name}, {"primary", other}}));
    }
    grid_waiting_family.Add({{"browser", name}, {"primary", primary}})
        .Set(static_cast<double>(queued));
    if (flipped) {
      grid_waiting_family.Remove(&grid_waiting_family.Add({{"browser", name}, {"primary", other}}));
    }
  }
  // The same per (browser, Playwright major.minor) present on the grid.
  std::map<std::pair<std::string, std::string>, std::array<int64_t, 4>> by_version;
  for (const WorkerLoad& w : in.workers) {
    std::string minor = PlaywrightMinor(w.info.playwright_version);
    if (minor.empty()) minor = "any";
    std::array<int64_t, 4>& c = by_version[{Browser(w.info.browser), minor}];
    if (!w.alive) {
      ++c[2];
    } else if (w.info.status == WorkerStatus::kAvailable) {
      ++c[0];
      c[3] += FreeSlots(w, in.limits);
    } else {
      ++c[1];
    }
  }
  std::set<prometheus::Gauge*> version_series;
  for (const auto& [key, c] : by_version) {
    for (int s = 0; s < 3; ++s) {
      prometheus::Gauge& g = grid_version_workers_family.Add({{"browser", key.first},
                                                              {"playwright_version", key.second},
                                                              {"status", kStatuses[s]},
                                                              {"primary", primary}});
      g.Set(static_cast<double>(c[s]));
      version_series.insert(&g);
    }
    prometheus::Gauge& f = grid_version_free_family.Add(
        {{"browser", key.first}, {"playwright_version", key.second}, {"primary", primary}});
    f.Set(static_cast<double>(c[3]));
    version_series.insert(&f);
  }
  for (prometheus::Gauge* g : version_series_) {
    if (version_series.count(g) != 0) continue;
    grid_version_workers_family.Remove(g);  // a no-op for the other family's series
    grid_version_free_family.Remove(g);
  }
  version_series_ = std::move(version_series);
  // A worker leaves service when it is seen draining for the first time, or when one that was
  // available at the last read is gone from the registry (a swift recycle: the embedded pool
  // swaps in a warm browser between two reads).
  prometheus::Counter& recycles = grid_recycles_family.Add({{"primary", primary}});
  if (flipped) grid_recycles_family.Remove(&grid_recycles_family.Add({{"primary", other}}));
  std::set<std::string> listed;
  std::set<std::string> available_now;
  for (const WorkerLoad& w : in.workers) {
    listed.insert(w.info.id);
    if (w.alive && w.info.status == WorkerStatus::kAvailable) available_now.insert(w.info.id);
  }
  for (const std::string& id : draining_now) {
    if (draining_seen_.count(id) == 0) recycles.Increment();
  }
  for (const std::string& id : available_seen_) {
    if (listed.count(id) == 0) recycles.Increment();
  }
  draining_seen_ = std::move(draining_now);
  available_seen_ = std::move(available_now);
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Create(const MetricsOptions& options) {
  std::shared_ptr<prometheus::Registry> registry = options.registry;
  if (registry == nullptr) registry = std::make_shared<prometheus::Registry>();
  try {
    auto families = std::make_unique<internal::MetricFamilies>(*registry, options.mode,
                                                               options.playwright_version);
    return std::unique_ptr<Metrics>(
        new Metrics(std::move(registry), std::move(families), options.mode));
  } catch (const std::exception& e) {
    return absl::AlreadyExistsError(
        absl::StrCat("cannot add pwgrid's metric families to the registry: ", e.what()));
  }
}

Metrics::Metrics(std::shared_ptr<prometheus::Registry> registry,
                 std::unique_ptr<internal::MetricFamilies> families, std::string mode)
    : registry_(std::move(registry)), mode_(std::move(mode)), families_(std::move(families)) {}

void Metrics::SetPlaywrightVersion(const std::string& version) {
  families_->SetPlaywrightVersion(version);
}

std::string Metrics::playwright_version() const { return families_->playwright_version(); }

Metrics::~Metrics() = default;

std::string Metrics::TextExposition() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace pwgrid
