// In-memory registry: lifecycle, heartbeat expiry on a manual clock, leases, commands.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>

#include "pwgrid/testing/manual_clock.h"
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

TEST_CASE("register validates its input") {
  Fixture f;
  CHECK(absl::IsInvalidArgument(f.registry->Register(Info(""), absl::Seconds(10))));
  WorkerInfo bad = Info("chromium:1");
  bad.endpoint = "http://x";
  CHECK(absl::IsInvalidArgument(f.registry->Register(bad, absl::Seconds(10))));
  CHECK(absl::IsInvalidArgument(f.registry->Register(Info("chromium:1"), absl::ZeroDuration())));
}

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

TEST_CASE("reserve counts, release is idempotent, rollback undoes lifetime") {
  Fixture f;
  PWGRID_REQUIRE_OK(f.registry->Register(Info("chromium:1"), absl::Seconds(10)));
  std::optional<Reservation> a = f.Reserve(2, 50);
  std::optional<Reservation> b = f.Reserve(2, 50);
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(b->active == 2);
  CHECK(b->lifetime == 2);
  CHECK(!f.Reserve(2, 50).has_value());  // C = 2 reached
  PWGRID_CHECK_OK(f.registry->Release(*a, /*rollback_lifetime=*/false));
  PWGRID_CHECK_OK(f.registry->Release(*a, false));  // twice: no effect
  PWGRID_CHECK_OK(f.registry->Release(*b, /*rollback_lifetime=*/true));
  auto snap = f.registry->Snapshot().value();
  CHECK(snap[0].active == 0);
  CHECK(snap[0].lifetime == 1);
  PWGRID_CHECK_OK(f.registry->Release(*b, true));  // again: counters never go negative
  CHECK(f.registry->Snapshot().value()[0].lifetime == 1);
}

TEST_CASE("release after deregistration changes nothing") {
  Fixture f;
  PWGRID_REQUIRE_OK(f.registry->Register(Info("chromium:1"), absl::Seconds(10)));
  std::optional<Reservation> a = f.Reserve();
  REQUIRE(a.has_value());
  PWGRID_CHECK_OK(f.registry->Deregister("chromium:1"));
  PWGRID_CHECK_OK(f.registry->Release(*a, true));
  CHECK(f.registry->Snapshot().value().empty());
}

TEST_CASE("draining workers are not selected; status survives re-registration") {
  Fixture f;
  PWGRID_REQUIRE_OK(f.registry->Register(Info("chromium:1"), absl::Seconds(10)));
  PWGRID_REQUIRE_OK(f.registry->SetStatus("chromium:1", WorkerStatus::kDraining));
  CHECK(!f.Reserve().has_value());
  WorkerInfo again = Info("chromium:1");
  again.status = WorkerStatus::kDraining;
  PWGRID_REQUIRE_OK(f.registry->Register(again, absl::Seconds(10)));
  CHECK(f.registry->Snapshot().value()[0].info.status == WorkerStatus::kDraining);
  CHECK(absl::IsNotFound(f.registry->SetStatus("chromium:none", WorkerStatus::kAvailable)));
}

TEST_CASE("shutdown commands are delivered once and wake watchers") {
  Fixture f;
  std::atomic<int> shutdowns{0}, capacity{0};
  int64_t id = f.registry->Watch([&](const RegistryEvent& e) {
    (e.kind == RegistryEvent::Kind::kShutdownRequested ? shutdowns : capacity)++;
  });
  PWGRID_REQUIRE_OK(f.registry->Register(Info("chromium:1"), absl::Seconds(10)));
  CHECK(capacity == 1);
  CHECK(f.registry->RequestShutdown("chromium:1").value() == true);
  CHECK(f.registry->RequestShutdown("chromium:1").value() == false);  // already pending (SET NX)
  CHECK(shutdowns == 1);
  CHECK(f.registry->TakeShutdownCommand("chromium:1").value() == true);
  CHECK(f.registry->TakeShutdownCommand("chromium:1").value() == false);
  CHECK(absl::IsNotFound(f.registry->RequestShutdown("chromium:2").status()));
  f.registry->Unwatch(id);
  PWGRID_REQUIRE_OK(f.registry->Register(Info("chromium:3"), absl::Seconds(10)));
  CHECK(capacity == 1);
}

}  // namespace
}  // namespace pwgrid
