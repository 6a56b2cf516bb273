// In-memory registry: the shared conformance suite, plus expiry and reaping on a manual clock.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>

#include "pwgrid/testing/manual_clock.h"
#include "pwgrid/testing/registry_conformance.h"
#include "pwgrid/testing/status_macros.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid {
namespace {

WorkerInfo Info(const std::string& id) {
  WorkerInfo w;
  w.id = id;
  w.endpoint = "ws://127.0.0.1:9/playwright/x";
  return w;
}

struct Fixture {
  testing::ManualClock clock;
  std::unique_ptr<WorkerRegistry> registry;
  Fixture() {
    RegistryOptions o;
    o.clock = &clock;
    o.reap_after = absl::Seconds(30);
    registry = NewInMemoryWorkerRegistry(o).value();
  }
  std::optional<Reservation> Reserve(int64_t c = 5, int64_t l = 50) {
    return registry->Reserve(ReserveRequest{BrowserType::kChromium, {c, l}}).value();
  }
};

struct ConformanceFixture : Fixture {
  void ExpireAll() { clock.Advance(absl::Seconds(11)); }  // TTLs in the suite are 10 s
};
PWGRID_REGISTRY_CONFORMANCE(ConformanceFixture);

TEST_CASE("heartbeat expiry with a manual clock") {
  Fixture f;
  PWGRID_REQUIRE_OK(f.registry->Register(Info("chromium:1"), absl::Seconds(10)));
  f.clock.Advance(absl::Seconds(9));
  PWGRID_CHECK_OK(f.registry->Heartbeat("chromium:1", absl::Seconds(10)));  // now alive until t=19
  f.clock.Advance(absl::Seconds(9));
  CHECK(f.Reserve().has_value());
  f.clock.Advance(absl::Seconds(2));  // t=20: expired
  CHECK(!f.Reserve().has_value());
  CHECK(absl::IsNotFound(f.registry->Heartbeat("chromium:1", absl::Seconds(10))));
  auto snap = f.registry->Snapshot().value();
  REQUIRE(snap.size() == 1);
  CHECK(!snap[0].alive);
  CHECK(snap[0].active == 1);  // the record, with its lease, is kept until reaped

  SUBCASE("coming back before the reap keeps counters and leases") {
    PWGRID_REQUIRE_OK(f.registry->Register(Info("chromium:1"), absl::Seconds(10)));
    snap = f.registry->Snapshot().value();
    CHECK(snap[0].alive);
    CHECK(snap[0].active == 1);
    CHECK(snap[0].lifetime == 1);
  }
  SUBCASE("after reap_after the record is gone") {
    f.clock.Advance(absl::Seconds(31));
    CHECK(f.registry->Snapshot().value().empty());
  }
}

TEST_CASE("a shutdown request for an unknown worker is NotFound") {
  Fixture f;
  CHECK(absl::IsNotFound(f.registry->RequestShutdown("chromium:2").status()));
}

}  // namespace
}  // namespace pwgrid
