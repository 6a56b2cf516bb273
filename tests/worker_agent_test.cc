// WorkerAgent with the in-memory registry, a ManualClock and fake browsers: a crashed browser is
// retired and replaced; a recycle drains until active is 0, or until drain_timeout; the
// replacement is registered before the old worker drains (make before break); a draining worker
// that re-registers after its key expired stays draining. Waits are on conditions with a bound.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "pwgrid/testing/manual_clock.h"
#include "pwgrid/testing/status_macros.h"
#include "pwgrid/types.h"
#include "pwgrid/worker_agent.h"
#include "pwgrid/worker_registry.h"
#include "tests/relay_grid.h"

namespace pwgrid {
namespace {

// What a test sees of a fake browser; it outlives the browser (which the agent deletes when it
// retires its worker). Crash() makes Running() false.
struct BrowserState {
  std::atomic<bool> running{true};
  std::atomic<bool> stopped{false};
  void Crash() { running = false; }
};

// A browser server that is only an endpoint.
class FakeBrowser : public BrowserServer {
 public:
  explicit FakeBrowser(std::shared_ptr<BrowserState> state)
      : endpoint_("ws://127.0.0.1:9/playwright/" + NewUuid()), state_(std::move(state)) {}
  std::string ws_endpoint() const override { return endpoint_; }
  std::string playwright_version() const override { return "1.65.1"; }
  bool Running() override { return state_->running.load(); }
  absl::Status Stop() override {
    state_->running = false;
    state_->stopped = true;
    return absl::OkStatus();
  }

 private:
  const std::string endpoint_;
  const std::shared_ptr<BrowserState> state_;
};

// The agent, its registry and every browser it launched.
struct Fixture {
  explicit Fixture(Replacement replacement, absl::Duration drain_timeout = absl::Minutes(5)) {
    RegistryOptions ro;
    ro.clock = &clock;
    registry = *NewInMemoryWorkerRegistry(ro);
    WorkerAgentOptions o;
    BrowserFactory factory = [this]() -> absl::StatusOr<std::unique_ptr<BrowserServer>> {
      auto state = std::make_shared<BrowserState>();
      absl::MutexLock lock(&mu);
      browsers.push_back(state);
      return std::unique_ptr<BrowserServer>(std::make_unique<FakeBrowser>(state));
    };
    // The agent's loop runs every heartbeat_interval of real time; heartbeats and deadlines
    // follow the manual clock, which only the test moves.
    o.heartbeat_interval = absl::Milliseconds(20);
    o.key_ttl = absl::Seconds(1);
    o.drain_timeout = drain_timeout;
    o.replacement = replacement;
    o.clock = &clock;
    agent = *WorkerAgent::Create(registry.get(), factory, o);
  }

  std::shared_ptr<BrowserState> browser(size_t i) {
    absl::MutexLock lock(&mu);
    return i < browsers.size() ? browsers[i] : nullptr;
  }
  size_t launched() {
    absl::MutexLock lock(&mu);
    return browsers.size();
  }
  std::optional<WorkerLoad> Load(const std::string& id) {
    const std::vector<WorkerLoad> snapshot = registry->Snapshot().value();
    for (const WorkerLoad& l : snapshot) {
      if (l.info.id == id) return l;
    }
    return std::nullopt;
  }
  Reservation ReserveOne() {
    auto r = registry->Reserve(ReserveRequest{BrowserType::kChromium, SessionLimits{5, 100}});
    REQUIRE(r.ok());
    REQUIRE(r->has_value());
    return **r;
  }

  // Starts the agent, opens one session on its worker, asks for a recycle and waits until the
  // worker drains. Returns its id.
  std::string StartDrainingWithOneSession() {
    PWGRID_REQUIRE_OK(agent->Start());
    const std::string id = agent->current_worker_id();
    (void)ReserveOne();
    PWGRID_REQUIRE_OK(registry->RequestShutdown(id).status());
    REQUIRE(Eventually([&] { return Load(id)->info.status == WorkerStatus::kDraining; }, kBound));
    return id;
  }

  // Bounds for waits on the agent's loop, with real slack over its 20 ms rounds.
  static constexpr absl::Duration kBound = absl::Seconds(10);

  testing::ManualClock clock;
  std::unique_ptr<WorkerRegistry> registry;
  std::unique_ptr<WorkerAgent> agent;
  absl::Mutex mu;
  std::vector<std::shared_ptr<BrowserState>> browsers;  // one per launch, in order
};

TEST_CASE("a crashed browser is retired, deregistered and replaced") {
  Fixture f(Replacement::kOverlap);
  PWGRID_REQUIRE_OK(f.agent->Start());
  const std::string first = f.agent->current_worker_id();
  REQUIRE(f.Load(first).has_value());
  f.browser(0)->Crash();
  REQUIRE(Eventually([&] { return f.agent->replacements() == 1 && f.launched() == 2; },
                     Fixture::kBound));
  REQUIRE(Eventually([&] { return !f.agent->current_worker_id().empty(); }, Fixture::kBound));
  CHECK(f.agent->current_worker_id() != first);
  CHECK_FALSE(f.Load(first).has_value());
  CHECK(f.browser(0)->stopped.load());
  CHECK(f.Load(f.agent->current_worker_id())->info.status == WorkerStatus::kAvailable);
  f.agent->Stop();
  CHECK(f.registry->Snapshot().value().empty());
}

TEST_CASE("with no replacement a crashed browser ends the agent with kBrowserExited") {
  Fixture f(Replacement::kNone);
  PWGRID_REQUIRE_OK(f.agent->Start());
  f.browser(0)->Crash();
  CHECK(f.agent->Wait(Fixture::kBound) == RetireReason::kBrowserExited);
  CHECK(f.registry->Snapshot().value().empty());
}

TEST_CASE("a recycle is make-before-break and drains until the active count is 0") {
  Fixture f(Replacement::kOverlap);
  PWGRID_REQUIRE_OK(f.agent->Start());
  const std::string old_id = f.agent->current_worker_id();
  const Reservation session = f.ReserveOne();
  PWGRID_REQUIRE_OK(f.registry->RequestShutdown(old_id).status());
  // The replacement is registered and available while the old worker still drains.
  REQUIRE(Eventually(
      [&] {
        const std::string now = f.agent->current_worker_id();
        return !now.empty() && now != old_id && f.Load(now).has_value();
      },
      Fixture::kBound));
  const std::optional<WorkerLoad> old_load = f.Load(old_id);
  REQUIRE(old_load.has_value());
  CHECK(old_load->info.status == WorkerStatus::kDraining);
  CHECK(old_load->active == 1);
  CHECK_FALSE(f.browser(0)->stopped.load());
  PWGRID_REQUIRE_OK(f.registry->Release(session, false));
  REQUIRE(Eventually([&] { return !f.Load(old_id).has_value(); }, Fixture::kBound));
  CHECK(f.browser(0)->stopped.load());
  CHECK(f.agent->replacements() == 1);
  f.agent->Stop();
}

TEST_CASE("a drain ends at drain_timeout with sessions still open") {
  Fixture f(Replacement::kNone, /*drain_timeout=*/absl::Seconds(30));
  const std::string id = f.StartDrainingWithOneSession();
  // Nothing ends it before the deadline on the agent's clock.
  CHECK_FALSE(f.agent->Wait(absl::Milliseconds(200)).has_value());
  f.clock.Advance(absl::Seconds(31));
  CHECK(f.agent->Wait(Fixture::kBound) == RetireReason::kDrainTimeout);
  CHECK_FALSE(f.Load(id).has_value());
  CHECK(f.browser(0)->stopped.load());
}

TEST_CASE("a draining worker whose key expired re-registers as draining") {
  Fixture f(Replacement::kNone);
  const std::string id = f.StartDrainingWithOneSession();
  // Past the key's TTL: the registry has expired it; the agent's next heartbeat finds it gone
  // and registers it again, with its own status.
  f.clock.Advance(absl::Seconds(2));
  CHECK_FALSE(f.Load(id)->alive);
  REQUIRE(Eventually([&] { return f.Load(id)->alive; }, Fixture::kBound));
  CHECK(f.Load(id)->info.status == WorkerStatus::kDraining);
  CHECK(f.Load(id)->active == 1);  // its counters were kept
  f.agent->Stop();
}

}  // namespace
}  // namespace pwgrid
