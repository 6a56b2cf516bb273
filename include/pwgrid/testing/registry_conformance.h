// A conformance suite for WorkerRegistry implementations, written with doctest.
//
// Every registry pwgrid ships (in-memory, Redis) passes it; a downstream implementation can run it
// too. Define a fixture type F with
//   std::unique_ptr<WorkerRegistry> registry;   // a fresh, empty registry
//   void ExpireAll();                           // every worker's TTL runs out (records stay)
// then, in one test source file:
//   PWGRID_REGISTRY_CONFORMANCE(F);
// Events may be delivered on another thread (pub/sub): the suite waits for them, at most 5 s.
//
// Thread-safety: test code; not for concurrent use.
#ifndef PWGRID_TESTING_REGISTRY_CONFORMANCE_H_
#define PWGRID_TESTING_REGISTRY_CONFORMANCE_H_

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "pwgrid/testing/status_macros.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid::testing::conformance {

inline WorkerInfo TestWorker(const std::string& id,
                             WorkerStatus status = WorkerStatus::kAvailable) {
  WorkerInfo w;
  w.id = id;
  w.endpoint = "ws://127.0.0.1:9/playwright/x";
  w.status = status;
  w.started_at_ms = 1'700'000'000'000;
  return w;
}

inline std::optional<Reservation> Reserve(WorkerRegistry& r, int64_t c = 5, int64_t l = 50) {
  ReserveRequest request;
  request.limits = {c, l};
  absl::StatusOr<std::optional<Reservation>> out = r.Reserve(request);
  REQUIRE(out.ok());
  return *out;
}

inline std::optional<WorkerLoad> Load(WorkerRegistry& r, const std::string& id) {
  absl::StatusOr<std::vector<WorkerLoad>> snap = r.Snapshot();
  REQUIRE(snap.ok());
  for (const WorkerLoad& w : *snap) {
    if (w.info.id == id) return w;
  }
  return std::nullopt;
}

// Polls `done` every 5 ms for at most `limit`.
inline bool WaitUntil(const std::function<bool()>& done, absl::Duration limit = absl::Seconds(5)) {
  const absl::Time deadline = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

}  // namespace pwgrid::testing::conformance

#define PWGRID_CONFORMANCE_CASES_(F)                                                             \
  TEST_CASE_TEMPLATE_DEFINE("conformance: register validates its input", PwgridFixture,          \
                            pwgrid_conf_1) {                                                     \
    using namespace ::pwgrid;                                                                    \
    using namespace ::pwgrid::testing::conformance;                                              \
    PwgridFixture f;                                                                             \
    CHECK(absl::IsInvalidArgument(f.registry->Register(TestWorker(""), absl::Seconds(10))));     \
    WorkerInfo bad = TestWorker("chromium:1");                                                   \
    bad.endpoint = "http://x";                                                                   \
    CHECK(absl::IsInvalidArgument(f.registry->Register(bad, absl::Seconds(10))));                \
    CHECK(absl::IsInvalidArgument(                                                               \
        f.registry->Register(TestWorker("chromium:1"), absl::ZeroDuration())));                  \
    CHECK(f.registry->Snapshot().value().empty());                                               \
  }                                                                                              \
  TEST_CASE_TEMPLATE_DEFINE("conformance: reserve counts, release is idempotent", PwgridFixture, \
                            pwgrid_conf_2) {                                                     \
    using namespace ::pwgrid;                                                                    \
    using namespace ::pwgrid::testing::conformance;                                              \
    PwgridFixture f;                                                                             \
    WorkerRegistry& r = *f.registry;                                                             \
    PWGRID_REQUIRE_OK(r.Register(TestWorker("chromium:1"), absl::Seconds(10)));                  \
    std::optional<Reservation> a = Reserve(r, 2, 50);                                            \
    std::optional<Reservation> b = Reserve(r, 2, 50);                                            \
    REQUIRE(a.has_value());                                                                      \
    REQUIRE(b.has_value());                                                                      \
    CHECK(a->lease_id != b->lease_id);                                                           \
    CHECK(a->worker.id == "chromium:1");                                                         \
    CHECK(a->worker.endpoint == "ws://127.0.0.1:9/playwright/x");                                \
    CHECK(b->active == 2);                                                                       \
    CHECK(b->lifetime == 2);                                                                     \
    CHECK(!Reserve(r, 2, 50).has_value()); /* C reached */                                       \
    PWGRID_CHECK_OK(r.Release(*a, /*rollback_lifetime=*/false));                                 \
    PWGRID_CHECK_OK(r.Release(*a, false)); /* twice: no effect */                                \
    PWGRID_CHECK_OK(r.Release(*b, /*rollback_lifetime=*/true));                                  \
    CHECK(Load(r, "chromium:1")->active == 0);                                                   \
    CHECK(Load(r, "chromium:1")->lifetime == 1);                                                 \
    PWGRID_CHECK_OK(r.Release(*b, true)); /* never negative */                                   \
    CHECK(Load(r, "chromium:1")->active == 0);                                                   \
    CHECK(Load(r, "chromium:1")->lifetime == 1);                                                 \
    CHECK(!Reserve(r, 5, 1).has_value()); /* L reached */                                        \
  }                                                                                              \
  TEST_CASE_TEMPLATE_DEFINE("conformance: release after deregistration changes nothing",         \
                            PwgridFixture, pwgrid_conf_3) {                                      \
    using namespace ::pwgrid;                                                                    \
    using namespace ::pwgrid::testing::conformance;                                              \
    PwgridFixture f;                                                                             \
    WorkerRegistry& r = *f.registry;                                                             \
    PWGRID_REQUIRE_OK(r.Register(TestWorker("chromium:1"), absl::Seconds(10)));                  \
    std::optional<Reservation> a = Reserve(r);                                                   \
    REQUIRE(a.has_value());                                                                      \
    PWGRID_CHECK_OK(r.Deregister("chromium:1"));                                                 \
    PWGRID_CHECK_OK(r.Release(*a, true));                                                        \
    CHECK(r.Snapshot().value().empty());         /* no entry was re-created */                   \
    PWGRID_CHECK_OK(r.Deregister("chromium:1")); /* unknown: OK */                               \
  }                                                                                              \
  TEST_CASE_TEMPLATE_DEFINE(                                                                     \
      "conformance: only available workers are chosen; status survives "                         \
      "re-registration",                                                                         \
      PwgridFixture, pwgrid_conf_4) {                                                            \
    using namespace ::pwgrid;                                                                    \
    using namespace ::pwgrid::testing::conformance;                                              \
    PwgridFixture f;                                                                             \
    WorkerRegistry& r = *f.registry;                                                             \
    PWGRID_REQUIRE_OK(r.Register(TestWorker("chromium:1"), absl::Seconds(10)));                  \
    PWGRID_REQUIRE_OK(r.SetStatus("chromium:1", WorkerStatus::kDraining));                       \
    CHECK(!Reserve(r).has_value());                                                              \
    PWGRID_REQUIRE_OK(                                                                           \
        r.Register(TestWorker("chromium:1", WorkerStatus::kDraining), absl::Seconds(10)));       \
    CHECK(Load(r, "chromium:1")->info.status == WorkerStatus::kDraining);                        \
    CHECK(!Reserve(r).has_value());                                                              \
    PWGRID_REQUIRE_OK(r.SetStatus("chromium:1", WorkerStatus::kAvailable));                      \
    CHECK(Reserve(r).has_value());                                                               \
    CHECK(absl::IsNotFound(r.SetStatus("chromium:none", WorkerStatus::kAvailable)));             \
    WorkerInfo ff = TestWorker("firefox:2");                                                     \
    ff.browser = BrowserType::kFirefox;                                                          \
    PWGRID_REQUIRE_OK(r.Register(ff, absl::Seconds(10)));                                        \
    absl::StatusOr<std::optional<Reservation>> got =                                             \
        r.Reserve(ReserveRequest{BrowserType::kFirefox, {5, 50}});                               \
    REQUIRE(got.ok());                                                                           \
    REQUIRE(got->has_value());                                                                   \
    CHECK((*got)->worker.id == "firefox:2");                                                     \
    CHECK(!r.Reserve(ReserveRequest{BrowserType::kWebkit, {5, 50}}).value().has_value());        \
  }                                                                                              \
  TEST_CASE_TEMPLATE_DEFINE("conformance: expiry keeps counters until the worker returns",       \
                            PwgridFixture, pwgrid_conf_5) {                                      \
    using namespace ::pwgrid;                                                                    \
    using namespace ::pwgrid::testing::conformance;                                              \
    PwgridFixture f;                                                                             \
    WorkerRegistry& r = *f.registry;                                                             \
    PWGRID_REQUIRE_OK(r.Register(TestWorker("chromium:1"), absl::Seconds(10)));                  \
    PWGRID_CHECK_OK(r.Heartbeat("chromium:1", absl::Seconds(10)));                               \
    REQUIRE(Reserve(r).has_value());                                                             \
    f.ExpireAll();                                                                               \
    CHECK(!Reserve(r).has_value());                                                              \
    CHECK(absl::IsNotFound(r.Heartbeat("chromium:1", absl::Seconds(10))));                       \
    std::optional<WorkerLoad> dead = Load(r, "chromium:1");                                      \
    REQUIRE(dead.has_value());                                                                   \
    CHECK(!dead->alive);                                                                         \
    CHECK(dead->active == 1);                                                                    \
    PWGRID_REQUIRE_OK(r.Register(TestWorker("chromium:1"), absl::Seconds(10)));                  \
    std::optional<WorkerLoad> back = Load(r, "chromium:1");                                      \
    CHECK(back->alive);                                                                          \
    CHECK(back->active == 1);                                                                    \
    CHECK(back->lifetime == 1);                                                                  \
  }                                                                                              \
  TEST_CASE_TEMPLATE_DEFINE("conformance: shutdown commands are taken once and wake watchers",   \
                            PwgridFixture, pwgrid_conf_6) {                                      \
    using namespace ::pwgrid;                                                                    \
    using namespace ::pwgrid::testing::conformance;                                              \
    PwgridFixture f;                                                                             \
    WorkerRegistry& r = *f.registry;                                                             \
    std::atomic<int> shutdowns{0}, capacity{0};                                                  \
    const int64_t id = r.Watch([&](const RegistryEvent& e) {                                     \
      (e.kind == RegistryEvent::Kind::kShutdownRequested ? shutdowns : capacity)++;              \
    });                                                                                          \
    PWGRID_REQUIRE_OK(r.Register(TestWorker("chromium:1"), absl::Seconds(10)));                  \
    CHECK(WaitUntil([&] { return capacity.load() >= 1; }));                                      \
    CHECK(r.RequestShutdown("chromium:1").value() == true);                                      \
    CHECK(r.RequestShutdown("chromium:1").value() == false); /* pending (SET NX) */              \
    CHECK(WaitUntil([&] { return shutdowns.load() >= 1; }));                                     \
    CHECK(r.TakeShutdownCommand("chromium:1").value() == true);                                  \
    CHECK(r.TakeShutdownCommand("chromium:1").value() == false);                                 \
    std::optional<Reservation> a = Reserve(r);                                                   \
    REQUIRE(a.has_value());                                                                      \
    const int before = capacity.load();                                                          \
    PWGRID_REQUIRE_OK(r.Release(*a, false));                                                     \
    CHECK(WaitUntil([&] { return capacity.load() > before; }));                                  \
    r.Unwatch(id);                                                                               \
    absl::SleepFor(absl::Milliseconds(50)); /* let in-flight deliveries finish */                \
    const int after = capacity.load();                                                           \
    PWGRID_REQUIRE_OK(r.Register(TestWorker("chromium:3"), absl::Seconds(10)));                  \
    absl::SleepFor(absl::Milliseconds(100));                                                     \
    CHECK(capacity.load() == after);                                                             \
  }                                                                                              \
  TEST_CASE_TEMPLATE_DEFINE("conformance: an unreachable worker is skipped until it heartbeats", \
                            PwgridFixture, pwgrid_conf_7) {                                      \
    using namespace ::pwgrid;                                                                    \
    using namespace ::pwgrid::testing::conformance;                                              \
    PwgridFixture f;                                                                             \
    WorkerRegistry& r = *f.registry;                                                             \
    PWGRID_REQUIRE_OK(r.Register(TestWorker("chromium:1"), absl::Seconds(10)));                  \
    PWGRID_REQUIRE_OK(r.Register(TestWorker("chromium:2"), absl::Seconds(10)));                  \
    std::optional<Reservation> first = Reserve(r);                                               \
    REQUIRE(first.has_value());                                                                  \
    CHECK(first->worker.id == "chromium:1"); /* ties go to the smaller id */                     \
    PWGRID_REQUIRE_OK(r.Release(*first, /*rollback_lifetime=*/true));                            \
    PWGRID_REQUIRE_OK(r.MarkUnreachable("chromium:1"));                                          \
    CHECK(!Load(r, "chromium:1")->alive);                                                        \
    for (int i = 0; i < 3; ++i) {                                                                \
      std::optional<Reservation> other = Reserve(r);                                             \
      REQUIRE(other.has_value());                                                                \
      CHECK(other->worker.id == "chromium:2");                                                   \
      PWGRID_REQUIRE_OK(r.Release(*other, true));                                                \
    }                                                                                            \
    absl::SleepFor(absl::Milliseconds(2)); /* a later heartbeat time than the mark's */          \
    PWGRID_REQUIRE_OK(r.Heartbeat("chromium:1", absl::Seconds(10)));                             \
    CHECK(Load(r, "chromium:1")->alive);                                                         \
    std::optional<Reservation> back = Reserve(r);                                                \
    REQUIRE(back.has_value());                                                                   \
    CHECK(back->worker.id == "chromium:1");                                                      \
    PWGRID_CHECK_OK(r.MarkUnreachable("chromium:none")); /* unknown: OK */                       \
  }                                                                                              \
  TEST_CASE_TEMPLATE_DEFINE("conformance: a tenant's quota counts its live reservations",        \
                            PwgridFixture, pwgrid_conf_8) {                                      \
    using namespace ::pwgrid;                                                                    \
    using namespace ::pwgrid::testing::conformance;                                              \
    PwgridFixture f;                                                                             \
    WorkerRegistry& r = *f.registry;                                                             \
    PWGRID_REQUIRE_OK(r.Register(TestWorker("chromium:1"), absl::Seconds(10)));                  \
    PWGRID_REQUIRE_OK(r.Register(TestWorker("chromium:2"), absl::Seconds(10)));                  \
    const ReserveRequest ci{BrowserType::kChromium, {5, 50}, "ci", 2};                           \
    absl::StatusOr<std::optional<Reservation>> a = r.Reserve(ci);                                \
    absl::StatusOr<std::optional<Reservation>> b = r.Reserve(ci);                                \
    REQUIRE(a.ok());                                                                             \
    REQUIRE(b.ok());                                                                             \
    REQUIRE(a->has_value());                                                                     \
    REQUIRE(b->has_value());                                                                     \
    CHECK((*a)->tenant == "ci");                                                                 \
    absl::StatusOr<std::optional<Reservation>> over = r.Reserve(ci);                             \
    CHECK(absl::IsResourceExhausted(over.status()));                                             \
    /* nothing was reserved for the refused one; other tenants are not held up */                \
    CHECK(Load(r, "chromium:1")->active + Load(r, "chromium:2")->active == 2);                   \
    absl::StatusOr<std::optional<Reservation>> other =                                           \
        r.Reserve(ReserveRequest{BrowserType::kChromium, {5, 50}, "other", 1});                  \
    REQUIRE(other.ok());                                                                         \
    REQUIRE(other->has_value());                                                                 \
    CHECK(Reserve(r).has_value()); /* anonymous: no quota */                                     \
    PWGRID_REQUIRE_OK(r.Release(**a, /*rollback_lifetime=*/false));                              \
    absl::StatusOr<std::optional<Reservation>> again = r.Reserve(ci);                            \
    REQUIRE(again.ok());                                                                         \
    CHECK(again->has_value());                                                                   \
    CHECK(absl::IsResourceExhausted(r.Reserve(ci).status()));                                    \
  }                                                                                              \
  TEST_CASE_TEMPLATE_INVOKE(pwgrid_conf_1, F);                                                   \
  TEST_CASE_TEMPLATE_INVOKE(pwgrid_conf_8, F);                                                   \
  TEST_CASE_TEMPLATE_INVOKE(pwgrid_conf_7, F);                                                   \
  TEST_CASE_TEMPLATE_INVOKE(pwgrid_conf_2, F);                                                   \
  TEST_CASE_TEMPLATE_INVOKE(pwgrid_conf_3, F);                                                   \
  TEST_CASE_TEMPLATE_INVOKE(pwgrid_conf_4, F);                                                   \
  TEST_CASE_TEMPLATE_INVOKE(pwgrid_conf_5, F);                                                   \
  TEST_CASE_TEMPLATE_INVOKE(pwgrid_conf_6, F)

#define PWGRID_REGISTRY_CONFORMANCE(F) PWGRID_CONFORMANCE_CASES_(F)

#endif  // PWGRID_TESTING_REGISTRY_CONFORMANCE_H_
