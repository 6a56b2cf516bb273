// The whole path register -> heartbeat -> acquire -> relay -> release over a registry that fails
// on command (pwgrid::testing::FaultInjectingRegistry), with 0, 1, 2, 3 failures injected at each
// call: every failure gets its documented answer, and afterwards no lease, session or worker
// record is left behind.
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "pwgrid/relay.h"
#include "pwgrid/selector.h"
#include "pwgrid/testing/fake_worker.h"
#include "pwgrid/testing/fault_injecting_registry.h"
#include "pwgrid/testing/manual_clock.h"
#include "pwgrid/testing/status_macros.h"
#include "pwgrid/testing/ws_test_client.h"
#include "pwgrid/worker_agent.h"
#include "pwgrid/worker_registry.h"
#include "tests/relay_grid.h"

namespace pwgrid {
namespace {

using testing::FaultInjectingRegistry;
using Method = FaultInjectingRegistry::Method;

constexpr char kRegistry503[] =
    "HTTP 503: {\"error\":{\"code\":503,\"message\":\"Worker registry unavailable\"}}\n";

// A grid over a fault-injecting registry: an agent running one FakeWorker, a selector, a relay.
struct FaultyGrid {
  // `lifetime`: L. `registry_clock`: the inner registry's (TTL and reaping).
  explicit FaultyGrid(int64_t lifetime = 1000, Clock* registry_clock = SystemClock()) {
    RegistryOptions registry_options;
    registry_options.clock = registry_clock;
    inner = NewInMemoryWorkerRegistry(registry_options).value();
    faulty = std::make_unique<FaultInjectingRegistry>(inner.get());
    SelectorOptions so;
    so.limits = {5, lifetime};
    so.poll_interval = absl::Milliseconds(50);  // how often refused releases are retried
    selector = NewRegistrySelector(faulty.get(), so).value();
    RelayOptions ro = RelayOptions::ForTesting();
    relay = Relay::Create(ro, selector.get()).value();
    REQUIRE(relay->Start().ok());
    WorkerAgentOptions ao;
    BrowserFactory factory = []() -> absl::StatusOr<std::unique_ptr<BrowserServer>> {
      PWGRID_ASSIGN_OR_REQUIRE(auto w, testing::FakeWorker::Start());
      return std::unique_ptr<BrowserServer>(std::move(w));
    };
    ao.heartbeat_interval = absl::Milliseconds(20);
    ao.key_ttl = absl::Seconds(30);  // failed heartbeats never let it expire here
    agent = WorkerAgent::Create(faulty.get(), factory, ao).value();
  }
  ~FaultyGrid() {
    agent->Stop();
    relay->Stop(absl::ZeroDuration());
  }

  std::string Url() const { return "ws://127.0.0.1:" + std::to_string(relay->port()) + "/"; }
  int64_t Active() {
    int64_t sum = 0;
    const std::vector<WorkerLoad> snapshot = inner->Snapshot().value();
    for (const WorkerLoad& l : snapshot) sum += l.active;
    return sum;
  }
  size_t Records() { return inner->Snapshot().value().size(); }

  // One client: connects (until served, at most `attempts` times, each refusal checked against
  // the documented answer), echoes a message, closes.
  int Session(int attempts) {
    int refused = 0;
    for (int i = 0; i < attempts; ++i) {
      auto client = testing::WsTestClient::Connect(Url());
      if (!client.ok()) {
        CHECK(client.status().message() == kRegistry503);
        ++refused;
        continue;
      }
      PWGRID_CHECK_OK((*client)->SendText("ping"));
      auto echo = (*client)->Receive();
      PWGRID_REQUIRE_OK(echo.status());
      CHECK(echo->data == "ping");
      PWGRID_CHECK_OK((*client)->Close(1000));
      CHECK((*client)->WaitClosed().value() == 1000);
      return refused;
    }
    FAIL("never served");
    return refused;
  }

  // After every session ended: no slot held, one worker record, no relayed session open.
  void CheckNothingLeft() {
    CHECK(Eventually([&] { return Active() == 0; }, absl::Seconds(10)));
    CHECK(Records() == 1);
    CHECK(Eventually([&] { return relay->stats().active_sessions == 0; }, absl::Seconds(10)));
  }

  std::unique_ptr<WorkerRegistry> inner;
  std::unique_ptr<FaultInjectingRegistry> faulty;
  std::unique_ptr<Selector> selector;
  std::unique_ptr<Relay> relay;
  std::unique_ptr<WorkerAgent> agent;
};

TEST_CASE("Register fails n times: the agent does not start and leaves nothing, then starts") {
  for (int n = 0; n <= 3; ++n) {
    CAPTURE(n);
    FaultyGrid g;
    g.faulty->FailNext(Method::kRegister, absl::UnavailableError("registry down"), n);
    int failed_starts = 0;
    absl::Status s;
    while (!(s = g.agent->Start()).ok() && failed_starts <= n) {
      CHECK(absl::IsUnavailable(s));
      CHECK(g.Records() == 0);
      ++failed_starts;
    }
    PWGRID_REQUIRE_OK(s);
    CHECK(failed_starts == n);
    CHECK(g.Session(1) == 0);
    g.CheckNothingLeft();
  }
}

TEST_CASE("Heartbeat fails n times: the worker stays registered and keeps serving") {
  for (int n = 0; n <= 3; ++n) {
    CAPTURE(n);
    FaultyGrid g;
    g.faulty->FailNext(Method::kHeartbeat, absl::UnavailableError("registry down"), n);
    PWGRID_REQUIRE_OK(g.agent->Start());
    REQUIRE(Eventually([&] { return g.faulty->calls(Method::kHeartbeat) > n; }, absl::Seconds(10)));
    CHECK(g.faulty->failures(Method::kHeartbeat) == n);
    CHECK(g.Session(1) == 0);
    g.CheckNothingLeft();
  }
}

TEST_CASE("Reserve fails n times: refused clients get 503 'Worker registry unavailable'") {
  for (int n = 0; n <= 3; ++n) {
    CAPTURE(n);
    FaultyGrid g;
    PWGRID_REQUIRE_OK(g.agent->Start());
    g.faulty->FailNext(Method::kReserve, absl::UnavailableError("registry down"), n);
    // Each client consumes one or two failures (the inline try, then the selector's).
    const int refused = g.Session(n + 1);
    CHECK(refused <= n);
    CHECK(refused >= n / 2);
    CHECK(g.faulty->failures(Method::kReserve) == n);
    g.CheckNothingLeft();
    CHECK(g.relay->stats().rejected_requests == refused);
  }
}

TEST_CASE("Release fails n times: the slot still comes back (the selector retries it)") {
  for (int n = 0; n <= 3; ++n) {
    CAPTURE(n);
    FaultyGrid g;
    PWGRID_REQUIRE_OK(g.agent->Start());
    g.faulty->FailNext(Method::kRelease, absl::UnavailableError("registry down"), n);
    CHECK(g.Session(1) == 0);
    g.CheckNothingLeft();
    CHECK(g.faulty->failures(Method::kRelease) == n);
    const std::vector<WorkerLoad> snapshot = g.inner->Snapshot().value();
    CHECK(snapshot[0].lifetime == 1);  // a committed session: not rolled back
    CHECK(g.Session(1) == 0);          // and the worker serves the next client
    g.CheckNothingLeft();
  }
}

TEST_CASE("every call failing at once, then healing: clients are refused, nothing leaks") {
  FaultyGrid g;
  PWGRID_REQUIRE_OK(g.agent->Start());
  for (Method m : {Method::kReserve, Method::kRelease, Method::kHeartbeat, Method::kSnapshot,
                   Method::kTakeShutdownCommand}) {
    g.faulty->FailAlways(m, absl::UnavailableError("registry down"));
  }
  auto refused = testing::WsTestClient::Connect(g.Url());
  CHECK(refused.status().message() == kRegistry503);
  g.faulty->Heal();
  CHECK(g.Session(1) == 0);
  g.CheckNothingLeft();
}

TEST_CASE("RequestShutdown fails n times: the worker at its limit is still recycled") {
  for (int n = 0; n <= 3; ++n) {
    CAPTURE(n);
    FaultyGrid g(/*lifetime=*/2);
    PWGRID_REQUIRE_OK(g.agent->Start());
    const std::string first = g.agent->current_worker_id();
    g.faulty->FailNext(Method::kRequestShutdown, absl::UnavailableError("registry down"), n);
    CHECK(g.Session(1) == 0);
    CHECK(g.Session(1) == 0);  // lifetime 2 = L: the recycle request is retried until it is taken
    REQUIRE(Eventually([&] { return g.agent->replacements() == 1; }, absl::Seconds(10)));
    CHECK(g.faulty->failures(Method::kRequestShutdown) == n);
    CHECK(Eventually([&] { return g.Records() == 1 && g.agent->current_worker_id() != first; },
                     absl::Seconds(10)));
    CHECK(g.Session(1) == 0);  // the replacement serves
    g.CheckNothingLeft();
  }
}

TEST_CASE("Deregister fails at Stop: the record is not selectable, and is reaped after its TTL") {
  for (int n = 1; n <= 3; ++n) {
    CAPTURE(n);
    testing::ManualClock clock;
    FaultyGrid g(/*lifetime=*/1000, &clock);
    PWGRID_REQUIRE_OK(g.agent->Start());
    g.faulty->FailNext(Method::kDeregister, absl::UnavailableError("registry down"), n);
    g.agent->Stop();
    CHECK(g.faulty->failures(Method::kDeregister) == 1);  // one worker, one try at Stop
    REQUIRE(g.Records() == 1);
    auto refused = testing::WsTestClient::Connect(g.Url());  // shutting-down: never selected
    CHECK(absl::IsFailedPrecondition(refused.status()));
    // No longer heartbeated: dead after key_ttl (30 s), removed after reap_after (60 s).
    clock.Advance(absl::Seconds(30 + 60 + 1));
    CHECK(Eventually([&] { return g.Records() == 0; }, absl::Seconds(5)));
  }
}

}  // namespace
}  // namespace pwgrid
