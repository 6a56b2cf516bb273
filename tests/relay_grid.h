// Test helpers of the relay tests: an in-memory grid (registry, selector, relay on 127.0.0.1:0)
// and a bounded polling wait.
#ifndef PWGRID_TESTS_RELAY_GRID_H_
#define PWGRID_TESTS_RELAY_GRID_H_

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pwgrid/relay.h"
#include "pwgrid/selector.h"
#include "pwgrid/testing/status_macros.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid {

inline bool Eventually(const std::function<bool()>& f, absl::Duration limit = absl::Seconds(5)) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    if (f()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return f();
}

struct GridOptions {
  int64_t c = 5;  // MAX_CONCURRENT_SESSIONS
  absl::Duration select_timeout = absl::Seconds(2);
  int io_threads = 1;
  int64_t max_waiting = 1000;
  Logger* logger = NullLogger();             // relay and selector logs; must outlive the grid
  std::function<void(RelayOptions&)> relay;  // changes to RelayOptions::ForTesting()
};

struct Grid {
  std::unique_ptr<WorkerRegistry> registry = NewInMemoryWorkerRegistry({}).value();
  std::unique_ptr<Selector> selector;
  std::unique_ptr<Relay> relay;

  explicit Grid(const GridOptions& o) {
    SelectorOptions so;
    so.limits = {o.c, 1000};
    so.max_waiting = o.max_waiting;
    so.logger = o.logger;
    selector = NewRegistrySelector(registry.get(), so).value();
    RelayOptions ro = RelayOptions::ForTesting();
    ro.select_timeout = o.select_timeout;
    ro.io_threads = o.io_threads;
    ro.logger = o.logger;
    if (o.relay) o.relay(ro);
    relay = Relay::Create(ro, selector.get()).value();
    REQUIRE(relay->Start().ok());
  }
  explicit Grid(int64_t c = 5, absl::Duration select_timeout = absl::Seconds(2), int io_threads = 1)
      : Grid(GridOptions{c, select_timeout, io_threads}) {}
  ~Grid() { relay->Stop(absl::ZeroDuration()); }

  void Add(const std::string& id, const std::string& endpoint) {
    WorkerInfo w;
    w.id = id;
    w.endpoint = endpoint;
    PWGRID_REQUIRE_OK(registry->Register(w, absl::Seconds(60)));
  }
  std::string Url(const std::string& query = "") const {
    return "ws://127.0.0.1:" + std::to_string(relay->port()) + "/" + query;
  }
  int64_t Active() {
    int64_t sum = 0;
    const std::vector<WorkerLoad> snapshot = registry->Snapshot().value();
    for (const WorkerLoad& l : snapshot) sum += l.active;
    return sum;
  }
  int64_t Lifetime() {
    int64_t sum = 0;
    const std::vector<WorkerLoad> snapshot = registry->Snapshot().value();
    for (const WorkerLoad& l : snapshot) sum += l.lifetime;
    return sum;
  }
};

}  // namespace pwgrid

#endif  // PWGRID_TESTS_RELAY_GRID_H_
