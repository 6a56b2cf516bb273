// RegistrySelector over the in-memory registry: leases, FIFO wake-ups, deadlines, the queue bound.
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "pwgrid/selector.h"
#include "pwgrid/testing/manual_clock.h"
#include "pwgrid/testing/status_macros.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid {
namespace {

// Collects Acquire results; Wait() blocks until `n` arrived (bounded).
class Results {
 public:
  Selector::Callback Callback(std::string name) {
    return [this, name](absl::StatusOr<Lease> r) {
      absl::MutexLock lock(&mu_);
      order_.push_back(name);
      results_.emplace(name, std::move(r));
    };
  }
  bool Wait(size_t n, absl::Duration timeout = absl::Seconds(5)) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return order_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  absl::StatusOr<Lease> Take(const std::string& name) {
    absl::MutexLock lock(&mu_);
    auto it = results_.find(name);
    if (it == results_.end()) return absl::NotFoundError(name);
    absl::StatusOr<Lease> r = std::move(it->second);
    results_.erase(it);
    return r;
  }
  std::vector<std::string> order() {
    absl::MutexLock lock(&mu_);
    return order_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::StatusOr<Lease>> results_ ABSL_GUARDED_BY(mu_);
};

struct Fixture {
  std::unique_ptr<WorkerRegistry> registry = NewInMemoryWorkerRegistry({}).value();
  std::unique_ptr<Selector> selector;
  explicit Fixture(int64_t c = 1, int64_t l = 100, int64_t max_waiting = 100) {
    SelectorOptions o;
    o.limits = {c, l};
    o.max_waiting = max_waiting;
    o.poll_interval = absl::Seconds(30);  // wake-ups must come from events, not from polling
    selector = NewRegistrySelector(registry.get(), o).value();
  }
  void AddWorker(const std::string& id, const std::string& playwright_version = "") {
    WorkerInfo w;
    w.id = id;
    w.endpoint = "ws://127.0.0.1:9/p";
    w.playwright_version = playwright_version;
    PWGRID_REQUIRE_OK(registry->Register(w, absl::Seconds(60)));
  }
  int64_t Active(const std::string& id) {
    const std::vector<WorkerLoad> snapshot = registry->Snapshot().value();
    for (const WorkerLoad& l : snapshot) {
      if (l.info.id == id) return l.active;
    }
    return -1;
  }
  SelectRequest Req(absl::Duration timeout = absl::Seconds(5)) {
    return SelectRequest{BrowserType::kChromium, absl::Now() + timeout, ""};
  }
  SelectRequest TenantReq(const std::string& tenant, int64_t max = 0,
                          absl::Duration timeout = absl::Seconds(5)) {
    return SelectRequest{BrowserType::kChromium, absl::Now() + timeout, "", tenant, max};
  }
};

bool Eventually(const std::function<bool()>& f) {
  for (int i = 0; i < 500; ++i) {
    if (f()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

TEST_CASE("a lease holds a slot until released, exactly once") {
  Fixture f;
  f.AddWorker("chromium:1");
  Results r;
  f.selector->Acquire(f.Req(), r.Callback("a"));
  REQUIRE(r.Wait(1));
  absl::StatusOr<Lease> lease = r.Take("a");
  PWGRID_REQUIRE_OK(lease.status());
  CHECK(lease->worker().id == "chromium:1");
  CHECK(f.Active("chromium:1") == 1);
  Lease moved = std::move(*lease);
  moved.Release();
  moved.Release();
  CHECK(Eventually([&] { return f.Active("chromium:1") == 0; }));
}

TEST_CASE("TryAcquire reserves on the caller's thread, but never ahead of a waiting client") {
  Fixture f;                                            // C = 1
  CHECK(!f.selector->TryAcquire(f.Req()).has_value());  // no worker
  f.AddWorker("chromium:1");
  std::optional<Lease> lease = f.selector->TryAcquire(f.Req());
  REQUIRE(lease.has_value());
  CHECK(lease->worker().id == "chromium:1");
  CHECK(f.Active("chromium:1") == 1);
  CHECK(!f.selector->TryAcquire(f.Req()).has_value());  // the only slot is taken
  // A client queues; a slot freed now is the queued client's, not a newcomer's.
  Results r;
  f.selector->Acquire(f.Req(), r.Callback("queued"));
  CHECK(Eventually([&] { return f.selector->waiting() == 1; }));
  lease->Release();
  CHECK(!f.selector->TryAcquire(f.Req()).has_value());
  REQUIRE(r.Wait(1));
  absl::StatusOr<Lease> queued = r.Take("queued");
  PWGRID_REQUIRE_OK(queued.status());
  // The in-memory registry never blocks: a Lease gives its slot back before Release() returns.
  queued->Release();
  CHECK(f.Active("chromium:1") == 0);
  std::optional<Lease> again = f.selector->TryAcquire(f.Req());
  REQUIRE(again.has_value());
  again->Release();
  CHECK(f.Active("chromium:1") == 0);
}

TEST_CASE("a waiting client gets the slot another releases, first come first served") {
  Fixture f;
  f.AddWorker("chromium:1");
  Results r;
  f.selector->Acquire(f.Req(), r.Callback("first"));
  REQUIRE(r.Wait(1));
  absl::StatusOr<Lease> held = r.Take("first");
  PWGRID_REQUIRE_OK(held.status());
  f.selector->Acquire(f.Req(), r.Callback("second"));
  f.selector->Acquire(f.Req(), r.Callback("third"));
  CHECK(Eventually([&] { return f.selector->waiting() == 2; }));
  CHECK(!r.Wait(2, absl::Milliseconds(100)));
  const absl::Time released = absl::Now();
  held->Release();
  REQUIRE(r.Wait(2));
  // Woken by the release itself, not by the 30 s safety poll.
  CHECK(absl::Now() - released < absl::Seconds(5));
  CHECK(r.order()[1] == "second");
  absl::StatusOr<Lease> second = r.Take("second");
  PWGRID_REQUIRE_OK(second.status());
  second->Release();
  REQUIRE(r.Wait(3));
  CHECK(r.order()[2] == "third");
}

TEST_CASE("queues are per Playwright version: a waiting 1.64 client never holds up a 1.65 one") {
  Fixture f;  // C = 1
  f.AddWorker("chromium:old", "1.64.0");
  f.AddWorker("chromium:new", "1.65.1");
  auto req = [&](const std::string& version) {
    SelectRequest q = f.Req();
    q.client_version = version;
    return q;
  };
  std::optional<Lease> held = f.selector->TryAcquire(req("1.64.1"));
  REQUIRE(held.has_value());
  CHECK(held->worker().id == "chromium:old");
  Results r;
  f.selector->Acquire(req("1.64.0"), r.Callback("old-waiting"));
  CHECK(Eventually([&] { return f.selector->waiting() == 1; }));
  const std::vector<QueueStats> stats = f.selector->queue_stats();
  REQUIRE(stats.size() == 1);
  CHECK(stats[0].version == "1.64");
  // The 1.65 client is served at once, past the waiting 1.64 client.
  f.selector->Acquire(req("1.65.0"), r.Callback("new"));
  REQUIRE(r.Wait(1));
  CHECK(r.order()[0] == "new");
  absl::StatusOr<Lease> fresh = r.Take("new");
  PWGRID_REQUIRE_OK(fresh.status());
  CHECK(fresh->worker().id == "chromium:new");
  // The 1.64 client gets the 1.64 slot when it frees, not the 1.65 one (also free now).
  fresh->Release();
  CHECK(!r.Wait(2, absl::Milliseconds(100)));
  held->Release();
  REQUIRE(r.Wait(2));
  absl::StatusOr<Lease> old = r.Take("old-waiting");
  PWGRID_REQUIRE_OK(old.status());
  CHECK(old->worker().id == "chromium:old");
}

TEST_CASE("a newly registered worker wakes waiting clients") {
  Fixture f;
  Results r;
  f.selector->Acquire(f.Req(), r.Callback("a"));
  CHECK(!r.Wait(1, absl::Milliseconds(50)));
  f.AddWorker("chromium:late");
  REQUIRE(r.Wait(1));
  CHECK(r.Take("a").ok());
}

TEST_CASE("deadline passes: DeadlineExceeded") {
  Fixture f;
  Results r;
  f.selector->Acquire(f.Req(absl::Milliseconds(100)), r.Callback("a"));
  REQUIRE(r.Wait(1));
  CHECK(absl::IsDeadlineExceeded(r.Take("a").status()));
  CHECK(f.selector->waiting() == 0);
}

TEST_CASE("queue bound: ResourceExhausted; cancel: Cancelled") {
  Fixture f(1, 100, /*max_waiting=*/1);
  Results r;
  uint64_t t = f.selector->Acquire(f.Req(), r.Callback("waits"));
  f.selector->Acquire(f.Req(), r.Callback("refused"));
  REQUIRE(r.Wait(1));
  CHECK(absl::IsResourceExhausted(r.Take("refused").status()));
  f.selector->Cancel(t);
  REQUIRE(r.Wait(2));
  CHECK(absl::IsCancelled(r.Take("waits").status()));
}

TEST_CASE("a committed lease that reaches L requests the worker's recycle") {
  Fixture f(5, /*l=*/2);
  f.AddWorker("chromium:1");
  Results r;
  for (const char* name : {"a", "b"}) {
    f.selector->Acquire(f.Req(), r.Callback(name));
  }
  REQUIRE(r.Wait(2));
  absl::StatusOr<Lease> a = r.Take("a");
  absl::StatusOr<Lease> b = r.Take("b");
  PWGRID_REQUIRE_OK(a.status());
  PWGRID_REQUIRE_OK(b.status());
  REQUIRE(f.registry->NeverBlocks());  // so a commit's recycle request runs inline, in Commit()
  a->Commit();
  CHECK(f.registry->TakeShutdownCommand("chromium:1").value() == false);  // lifetime 1 < 2
  (b->reservation().lifetime == 2 ? *b : *a).Commit();
  CHECK(Eventually([&] { return f.registry->TakeShutdownCommand("chromium:1").value(); }));
}

TEST_CASE("an uncommitted lease rolls lifetime back") {
  Fixture f(5, 10);
  f.AddWorker("chromium:1");
  Results r;
  f.selector->Acquire(f.Req(), r.Callback("a"));
  REQUIRE(r.Wait(1));
  { absl::StatusOr<Lease> a = r.Take("a"); }  // destroyed without Commit: the dial failed
  CHECK(Eventually([&] {
    auto s = f.registry->Snapshot().value();
    return s[0].active == 0 && s[0].lifetime == 0;
  }));
}

// Forwards to a registry, except that each Reserve() takes `reserve_takes` on `clock` (a slow
// backend) and it never claims to be non-blocking, so that the selector thread makes the calls.
class SlowRegistry : public WorkerRegistry {
 public:
  SlowRegistry(WorkerRegistry* inner, testing::ManualClock* clock, absl::Duration reserve_takes)
      : inner_(inner), clock_(clock), reserve_takes_(reserve_takes) {}
  absl::Status Register(const WorkerInfo& info, absl::Duration ttl) override {
    return inner_->Register(info, ttl);
  }
  absl::Status Heartbeat(std::string_view id, absl::Duration ttl) override {
    return inner_->Heartbeat(id, ttl);
  }
  absl::Status SetStatus(std::string_view id, WorkerStatus s) override {
    return inner_->SetStatus(id, s);
  }
  absl::Status Deregister(std::string_view id) override { return inner_->Deregister(id); }
  absl::StatusOr<bool> RequestShutdown(std::string_view id) override {
    return inner_->RequestShutdown(id);
  }
  absl::StatusOr<bool> TakeShutdownCommand(std::string_view id) override {
    return inner_->TakeShutdownCommand(id);
  }
  absl::StatusOr<std::vector<WorkerLoad>> Snapshot() override { return inner_->Snapshot(); }
  absl::StatusOr<std::optional<Reservation>> Reserve(const ReserveRequest& r) override {
    clock_->Advance(reserve_takes_);
    return inner_->Reserve(r);
  }
  absl::Status Release(const Reservation& r, bool rollback) override {
    return inner_->Release(r, rollback);
  }
  int64_t Watch(RegistryListener l) override { return inner_->Watch(std::move(l)); }
  void Unwatch(int64_t id) override { inner_->Unwatch(id); }

 private:
  WorkerRegistry* const inner_;
  testing::ManualClock* const clock_;
  const absl::Duration reserve_takes_;
};

TEST_CASE("a reservation the registry grants after the client's deadline is given back") {
  testing::ManualClock clock;
  std::unique_ptr<WorkerRegistry> inner = NewInMemoryWorkerRegistry({}).value();
  WorkerInfo w;
  w.id = "chromium:1";
  w.endpoint = "ws://127.0.0.1:1/x";
  PWGRID_REQUIRE_OK(inner->Register(w, absl::Hours(1)));
  SlowRegistry slow(inner.get(), &clock, absl::Seconds(6));
  SelectorOptions o;
  o.limits = {5, 100};
  o.clock = &clock;
  std::unique_ptr<Selector> selector = NewRegistrySelector(&slow, o).value();
  Results r;
  selector->Acquire(SelectRequest{BrowserType::kChromium, clock.Now() + absl::Seconds(5), ""},
                    r.Callback("late"));
  REQUIRE(r.Wait(1));
  CHECK(absl::IsDeadlineExceeded(r.Take("late").status()));
  const std::vector<WorkerLoad> s = inner->Snapshot().value();
  CHECK(s[0].active == 0);
  CHECK(s[0].lifetime == 0);
}

TEST_CASE("waiting tenants are served round robin, each tenant first come, first served") {
  Fixture f(/*c=*/1);
  f.AddWorker("chromium:w1");
  Results held;
  f.selector->Acquire(f.Req(), held.Callback("holder"));
  REQUIRE(held.Wait(1));
  absl::StatusOr<Lease> slot = held.Take("holder");
  REQUIRE(slot.ok());
  Results r;
  // Arrival order: three of tenant a, then one each of b and c.
  for (const char* name : {"a1", "a2", "a3"})
    f.selector->Acquire(f.TenantReq("a"), r.Callback(name));
  f.selector->Acquire(f.TenantReq("b"), r.Callback("b1"));
  f.selector->Acquire(f.TenantReq("c"), r.Callback("c1"));
  REQUIRE(Eventually([&] { return f.selector->waiting() == 5; }));
  // One slot: each release serves exactly one waiter, in the order the selector picks.
  std::vector<std::string> served;
  Lease current = *std::move(slot);
  for (size_t i = 1; i <= 5; ++i) {
    current.Release();
    REQUIRE(r.Wait(i));
    served.push_back(r.order().back());
    absl::StatusOr<Lease> next = r.Take(served.back());
    REQUIRE(next.ok());
    current = *std::move(next);
  }
  CHECK(served == std::vector<std::string>{"a1", "b1", "c1", "a2", "a3"});
}

// A worker with room for 5, and tenant a (quota 1) holding one session on it: "a1" in `r`.
absl::StatusOr<Lease> TenantAtQuota(Fixture& f, Results& r) {
  f.AddWorker("chromium:w1");
  f.selector->Acquire(f.TenantReq("a", 1), r.Callback("a1"));
  REQUIRE(r.Wait(1));
  absl::StatusOr<Lease> a1 = r.Take("a1");
  REQUIRE(a1.ok());
  CHECK(a1->reservation().tenant == "a");
  return a1;
}

TEST_CASE("a tenant at its quota waits behind its own sessions, not in front of others") {
  Fixture f(/*c=*/5);
  Results r;
  absl::StatusOr<Lease> a1 = TenantAtQuota(f, r);
  // a2 is over a's quota and waits, though the worker has room; b1 arrives later and is served.
  CHECK_FALSE(f.selector->TryAcquire(f.TenantReq("a", 1)).has_value());
  f.selector->Acquire(f.TenantReq("a", 1), r.Callback("a2"));
  f.selector->Acquire(f.TenantReq("b", 1), r.Callback("b1"));
  REQUIRE(r.Wait(2));
  CHECK(r.order()[1] == "b1");
  CHECK(r.Take("b1").ok());
  CHECK(f.selector->waiting() == 1);
  a1->Release();  // a's own session ends: its waiter gets the place
  REQUIRE(r.Wait(3));
  CHECK(r.order()[2] == "a2");
  CHECK(r.Take("a2").ok());
}

TEST_CASE("a tenant that stays at its quota until its deadline gets DeadlineExceeded") {
  Fixture f(/*c=*/5);
  Results r;
  absl::StatusOr<Lease> a1 = TenantAtQuota(f, r);
  f.selector->Acquire(f.TenantReq("a", 1, absl::Milliseconds(200)), r.Callback("a2"));
  REQUIRE(r.Wait(2));
  CHECK(absl::IsDeadlineExceeded(r.Take("a2").status()));
  CHECK(f.Active("chromium:w1") == 1);
}

}  // namespace
}  // namespace pwgrid
