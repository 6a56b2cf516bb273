// The grid-wide queue of the Redis registry (SharedQueue), with a real redis-server: parity of
// the Lua rule with NextInQueue(), and several registries (each one proxy) sharing one queue.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "lib/redis/redis_registry_hooks.h"
#include "pwgrid/queue_policy.h"
#include "pwgrid/selector.h"
#include "pwgrid/testing/registry_conformance.h"
#include "pwgrid/testing/status_macros.h"
#include "tests/queue_vectors.h"
#include "tests/redis_test_util.h"

namespace pwgrid {
namespace {

using testing::conformance::TestWorker;
using testing::conformance::WaitUntil;

std::optional<size_t> CppRule(const testvectors::QueueVector& v) {
  std::vector<QueuedClient> queue;
  for (const std::string& t : v.tenants) {
    auto q = v.quota.find(t);
    auto h = v.held.find(t);
    queue.push_back(
        {t, q != v.quota.end() && q->second > 0 && h != v.held.end() && h->second >= q->second});
  }
  return NextInQueue(queue, v.last);
}

// The Lua queue on one vector: the clients are queued (no worker yet), the tenants' sessions
// are written as live leases of their tenant sets, then one worker with one slot registers and
// the queue serves exactly one ticket. Returns its index, or nullopt when it served none.
std::optional<size_t> LuaRule(const testvectors::QueueVector& v) {
  Call({"FLUSHALL"});
  std::unique_ptr<WorkerRegistry> r = NewRegistry();
  SharedQueue* q = r->shared_queue();
  REQUIRE(q != nullptr);
  const std::string future = absl::StrCat(absl::ToUnixMillis(absl::Now()) + 600'000);
  for (const auto& [tenant, n] : v.held) {
    for (int i = 0; i < n; ++i) {
      Call({"ZADD", absl::StrCat("pwgrid:tenant:", tenant), future, absl::StrCat("x|", i)});
    }
  }
  std::vector<std::string> tickets;
  for (const std::string& t : v.tenants) {
    auto quota = v.quota.find(t);
    ReserveRequest req{
        BrowserType::kChromium, {1, 1000}, t, quota == v.quota.end() ? 0 : quota->second};
    absl::StatusOr<SharedQueue::EnterResult> e =
        q->Enter(req, absl::Now() + absl::Seconds(60), 100);
    REQUIRE(e.ok());
    REQUIRE(!e->reservation.has_value());
    tickets.push_back(e->ticket);
  }
  Call({"SET", "pwgrid:queue:chromium:last", v.last});
  PWGRID_REQUIRE_OK(r->Register(TestWorker("chromium:1"), absl::Seconds(30)));
  absl::StatusOr<std::vector<SharedQueue::Grant>> grants = q->TakeGrants();
  REQUIRE(grants.ok());
  REQUIRE(grants->size() <= 1);
  if (grants->empty()) return std::nullopt;
  for (size_t i = 0; i < tickets.size(); ++i) {
    if (tickets[i] == (*grants)[0].ticket) return i;
  }
  FAIL("a grant for an unknown ticket");
  return std::nullopt;
}

TEST_CASE("queue parity: the Lua queue and NextInQueue agree on the shared table") {
  for (const testvectors::QueueVector& v : testvectors::QueueTable()) {
    CAPTURE(v.name);
    CHECK(CppRule(v) == v.expected);
    CHECK(LuaRule(v) == v.expected);
  }
}

TEST_CASE("queue parity: 150 random vectors") {
  int i = 0;
  for (const testvectors::QueueVector& v : testvectors::RandomQueueVectors(150)) {
    CAPTURE(i++);
    CHECK(LuaRule(v) == CppRule(v));
  }
}

// Clients of several selectors (each with its own registry: one proxy each) on one worker with
// one slot, which the test holds and releases; records the order in which they are served.
struct Grid {
  explicit Grid(int proxies, RedisRegistryOptions o = Options(), int64_t max_waiting = 1000) {
    Call({"FLUSHALL"});
    for (int i = 0; i < proxies; ++i) {
      registries.push_back(NewRegistry(o));
      SelectorOptions so;
      so.limits = {1, 1'000'000};
      so.max_waiting = max_waiting;
      so.poll_interval = absl::Seconds(60);  // pub/sub and the queue must do it all
      so.recycle_at_lifetime_limit = false;
      selectors.push_back(NewRegistrySelector(registries.back().get(), so).value());
    }
    PWGRID_CHECK_OK(registries[0]->Register(TestWorker("chromium:1"), absl::Seconds(60)));
  }
  ~Grid() {
    std::vector<Lease> release;
    {
      absl::MutexLock lock(&mu);
      closing = true;  // a lease granted from now on is given straight back
      release.swap(held);
    }
    release.clear();
    selectors.clear();
  }

  // Client `name` asks proxy `proxy` for a session.
  uint64_t Ask(int proxy, const std::string& name, absl::Duration timeout = absl::Seconds(20),
               const std::string& tenant = "", int64_t quota = 0) {
    return selectors[proxy]->Acquire(
        {BrowserType::kChromium, absl::Now() + timeout, "", tenant, quota},
        [this, name](absl::StatusOr<Lease> l) {
          absl::MutexLock lock(&mu);
          if (l.ok() && closing) {
            l->Release();
          } else if (l.ok()) {
            order.push_back(name);
            held.push_back(*std::move(l));
          } else {
            refused.push_back({name, l.status()});
          }
        });
  }
  size_t Served() {
    absl::MutexLock lock(&mu);
    return order.size();
  }
  size_t Refused() {
    absl::MutexLock lock(&mu);
    return refused.size();
  }
  // Releases the session held longest.
  void ReleaseOne() {
    absl::MutexLock lock(&mu);
    REQUIRE(!held.empty());
    held.front().Release();
    held.erase(held.begin());
  }
  // Serves everyone in turn: each release lets exactly one more client in.
  void ServeAll(size_t total) {
    for (size_t i = Served(); i < total; ++i) {
      REQUIRE(WaitUntil([&] { return Served() == i; }, absl::Seconds(10)));
      absl::SleepFor(absl::Milliseconds(30));
      CHECK(Served() == i);  // nobody is served without a free slot
      ReleaseOne();
      REQUIRE(WaitUntil([&] { return Served() == i + 1; }, absl::Seconds(10)));
    }
  }

  std::vector<std::unique_ptr<WorkerRegistry>> registries;
  std::vector<std::unique_ptr<Selector>> selectors;
  absl::Mutex mu;
  std::vector<std::string> order;
  std::vector<Lease> held;
  std::vector<std::pair<std::string, absl::Status>> refused;
  bool closing = false;
};

// Arrivals on alternating proxies, `gap` apart, behind a held slot: the service order is the
// arrival order.
void Interleaved(int proxies) {
  Grid g(proxies);
  g.Ask(0, "holder");
  REQUIRE(WaitUntil([&] { return g.Served() == 1; }));
  std::vector<std::string> arrival = {"holder"};
  for (int i = 0; i < 9; ++i) {
    // Proxy order B, A, C, B, A, ...: the last proxy to receive a client is not the one that
    // releases, so a proxy's own waiters get no head start.
    const int proxy = (i + 1) % proxies;
    const std::string name = absl::StrCat("c", i, "@", proxy);
    g.Ask(proxy, name);
    arrival.push_back(name);
    absl::SleepFor(absl::Milliseconds(20));
  }
  REQUIRE(WaitUntil([&] { return Call({"ZCARD", "pwgrid:ticket-expiry"}) == "9"; }));
  g.ServeAll(arrival.size());
  absl::MutexLock lock(&g.mu);
  CHECK(g.order == arrival);
  CHECK(g.refused.empty());
}

TEST_CASE("grid-wide queue: 2 proxies serve interleaved arrivals in arrival order") {
  Interleaved(2);
}

TEST_CASE("grid-wide queue: 3 proxies serve interleaved arrivals in arrival order") {
  Interleaved(3);
  CHECK(Call({"EXISTS", "pwgrid:queue:chromium"}) == "0");
  CHECK(Call({"HLEN", "pwgrid:tickets"}) == "0");
}

TEST_CASE("grid-wide queue: a client that leaves takes its ticket out at once") {
  Grid g(2);
  g.Ask(0, "holder");
  REQUIRE(WaitUntil([&] { return g.Served() == 1; }));
  g.Ask(1, "first");
  absl::SleepFor(absl::Milliseconds(20));
  const uint64_t middle = g.Ask(0, "middle");
  absl::SleepFor(absl::Milliseconds(20));
  g.Ask(1, "last");
  REQUIRE(WaitUntil([&] { return Call({"ZCARD", "pwgrid:ticket-expiry"}) == "3"; }));
  g.selectors[0]->Cancel(middle);
  CHECK(WaitUntil([&] { return Call({"ZCARD", "pwgrid:ticket-expiry"}) == "2"; }));
  g.ServeAll(3);
  absl::MutexLock lock(&g.mu);
  CHECK(g.order == std::vector<std::string>{"holder", "first", "last"});
  REQUIRE(g.refused.size() == 1);
  CHECK(absl::IsCancelled(g.refused[0].second));
}

TEST_CASE("grid-wide queue: a deadline passing mid-queue drops the ticket; the rest move on") {
  Grid g(2);
  g.Ask(0, "holder");
  REQUIRE(WaitUntil([&] { return g.Served() == 1; }));
  g.Ask(1, "impatient", absl::Milliseconds(400));
  absl::SleepFor(absl::Milliseconds(20));
  g.Ask(0, "patient");
  REQUIRE(WaitUntil([&] { return g.Refused() == 1; }, absl::Seconds(5)));
  {
    absl::MutexLock lock(&g.mu);
    CHECK(absl::IsDeadlineExceeded(g.refused[0].second));
  }
  CHECK(WaitUntil([&] { return Call({"ZCARD", "pwgrid:ticket-expiry"}) == "1"; }));
  g.ServeAll(2);
  absl::MutexLock lock(&g.mu);
  CHECK(g.order == std::vector<std::string>{"holder", "patient"});
}

TEST_CASE("grid-wide queue: the bound counts the grid's waiting clients") {
  Grid g(2, Options(), /*max_waiting=*/3);
  g.Ask(0, "holder");
  REQUIRE(WaitUntil([&] { return g.Served() == 1; }));
  g.Ask(0, "w1");
  g.Ask(1, "w2");
  g.Ask(1, "w3");
  REQUIRE(WaitUntil([&] { return Call({"ZCARD", "pwgrid:ticket-expiry"}) == "3"; }));
  g.Ask(0, "too many");  // proxy 0 itself has only one waiter
  REQUIRE(WaitUntil([&] { return g.Refused() == 1; }));
  absl::MutexLock lock(&g.mu);
  CHECK(g.refused[0].first == "too many");
  CHECK(absl::IsResourceExhausted(g.refused[0].second));
}

TEST_CASE("grid-wide queue: a flooding tenant does not hold up another") {
  Grid g(2);
  g.Ask(0, "holder", absl::Seconds(20), "flood");
  REQUIRE(WaitUntil([&] { return g.Served() == 1; }));
  std::vector<std::string> arrival;
  for (int i = 0; i < 6; ++i) {
    g.Ask(0, absl::StrCat("f", i), absl::Seconds(20), "flood");
    absl::SleepFor(absl::Milliseconds(5));
  }
  for (int i = 0; i < 3; ++i) {
    g.Ask(1, absl::StrCat("o", i), absl::Seconds(20), "other");
    absl::SleepFor(absl::Milliseconds(5));
  }
  REQUIRE(WaitUntil([&] { return Call({"ZCARD", "pwgrid:ticket-expiry"}) == "9"; }));
  g.ServeAll(10);
  absl::MutexLock lock(&g.mu);
  CAPTURE(absl::StrJoin(g.order, " "));
  // Turns alternate from the first pass (no tenant was served from the queue before: "flood"
  // sorts first); the flood's rest comes after the other tenant's last client.
  CHECK(g.order ==
        std::vector<std::string>{"holder", "f0", "o0", "f1", "o1", "f2", "o2", "f3", "f4", "f5"});
}

TEST_CASE("grid-wide queue: a dead proxy's tickets expire and the rest move on in order") {
  RedisRegistryOptions o = Options();
  o.lease_ttl = absl::Seconds(1);
  o.lease_sweep_interval = absl::Milliseconds(100);
  Grid g(1, o);
  g.Ask(0, "holder");
  REQUIRE(WaitUntil([&] { return g.Served() == 1; }));
  {
    // The doomed proxy queues three clients first, then dies without a word (no Leave).
    std::unique_ptr<WorkerRegistry> doomed = NewRegistry(o);
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<SharedQueue::EnterResult> e = doomed->shared_queue()->Enter(
          {BrowserType::kChromium, {1, 1'000'000}}, absl::Now() + absl::Seconds(60), 100);
      REQUIRE(e.ok());
      REQUIRE(!e->reservation.has_value());
    }
    g.Ask(0, "a");
    absl::SleepFor(absl::Milliseconds(20));
    g.Ask(0, "b");
    REQUIRE(WaitUntil([&] { return Call({"ZCARD", "pwgrid:ticket-expiry"}) == "5"; }));
  }
  const absl::Time died = absl::Now();
  g.ReleaseOne();
  // The freed slot may go to a dead ticket that has not expired yet; its grant's lease expires
  // too. Within two lease TTLs (and sweeps), the living clients are served, in order.
  REQUIRE(WaitUntil([&] { return g.Served() == 2; }, absl::Seconds(6)));
  CHECK(absl::Now() - died < absl::Seconds(4));
  g.ReleaseOne();
  REQUIRE(WaitUntil([&] { return g.Served() == 3; }, absl::Seconds(5)));
  {
    absl::MutexLock lock(&g.mu);
    CHECK(g.order == std::vector<std::string>{"holder", "a", "b"});
  }
  CHECK(Call({"ZCARD", "pwgrid:ticket-expiry"}) == "0");
  // No slot is lost: b holds the only one, and the worker counts exactly that.
  CHECK(WaitUntil(
      [&] {
        return Call({"HGET", "cluster:active_connections", "chromium:1"}) == "1";
      },
      absl::Seconds(5)));
}

TEST_CASE("grid-wide queue: one queue per Playwright version") {
  Call({"FLUSHALL"});
  std::unique_ptr<WorkerRegistry> r = NewRegistry();
  SharedQueue* q = r->shared_queue();
  REQUIRE(q != nullptr);
  WorkerInfo old_worker = TestWorker("chromium:old");
  old_worker.playwright_version = "1.64.0";
  WorkerInfo new_worker = TestWorker("chromium:new");
  new_worker.playwright_version = "1.65.1";
  PWGRID_REQUIRE_OK(r->Register(old_worker, absl::Seconds(30)));
  PWGRID_REQUIRE_OK(r->Register(new_worker, absl::Seconds(30)));
  auto req = [](const std::string& version) {
    ReserveRequest request{BrowserType::kChromium, {1, 1000}};
    request.client_version = version;
    return request;
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  absl::StatusOr<SharedQueue::EnterResult> holder = q->Enter(req("1.64.1"), deadline, 100);
  REQUIRE(holder.ok());
  REQUIRE(holder->reservation.has_value());
  CHECK(holder->reservation->worker.id == "chromium:old");
  absl::StatusOr<SharedQueue::EnterResult> waiting = q->Enter(req("1.64.1"), deadline, 100);
  REQUIRE(waiting.ok());
  REQUIRE(!waiting->reservation.has_value());  // the 1.64 slot is taken: it queues
  CHECK(Call({"SMEMBERS", "pwgrid:queue-groups"}) == "chromium@1.64");
  // A 1.65 client is served at once, past the waiting 1.64 one.
  absl::StatusOr<SharedQueue::EnterResult> other = q->Enter(req("1.65.0"), deadline, 100);
  REQUIRE(other.ok());
  REQUIRE(other->reservation.has_value());
  CHECK(other->reservation->worker.id == "chromium:new");
  absl::StatusOr<std::vector<QueueStats>> stats = q->Stats();
  REQUIRE(stats.ok());
  REQUIRE(stats->size() == 1);
  CHECK(stats->at(0).version == "1.64");
  CHECK(stats->at(0).waiting == 1);
  // The 1.65 slot freed is not the 1.64 client's; the 1.64 one is.
  PWGRID_REQUIRE_OK(r->Release(*other->reservation, false));
  absl::StatusOr<std::vector<SharedQueue::Grant>> none = q->TakeGrants();
  REQUIRE(none.ok());
  CHECK(none->empty());
  PWGRID_REQUIRE_OK(r->Release(*holder->reservation, false));
  absl::StatusOr<std::vector<SharedQueue::Grant>> grants = q->TakeGrants();
  REQUIRE(grants.ok());
  REQUIRE(grants->size() == 1);
  CHECK(grants->at(0).ticket == waiting->ticket);
  CHECK(grants->at(0).reservation.worker.id == "chromium:old");
  PWGRID_REQUIRE_OK(r->Release(grants->at(0).reservation, false));
  CHECK(Call({"EXISTS", "pwgrid:queue-groups"}) == "0");
}

TEST_CASE("grid-wide queue: the queue's statistics, grid-wide and per selector") {
  Grid g(2);
  g.Ask(0, "holder");
  REQUIRE(WaitUntil([&] { return g.Served() == 1; }));
  g.Ask(0, "x", absl::Seconds(20), "ci", 0);
  g.Ask(1, "y", absl::Seconds(20), "ci", 0);
  g.Ask(1, "z");
  REQUIRE(WaitUntil([&] { return Call({"ZCARD", "pwgrid:ticket-expiry"}) == "3"; }));
  absl::SleepFor(absl::Milliseconds(50));
  absl::StatusOr<std::vector<QueueStats>> grid = g.registries[0]->shared_queue()->Stats();
  REQUIRE(grid.ok());
  REQUIRE(grid->size() == 1);
  CHECK((*grid)[0].browser == BrowserType::kChromium);
  CHECK((*grid)[0].waiting == 3);
  CHECK((*grid)[0].oldest_wait >= absl::Milliseconds(40));
  REQUIRE((*grid)[0].tenants.size() == 2);
  CHECK((*grid)[0].tenants[0].name == "");
  CHECK((*grid)[0].tenants[0].waiting == 1);
  CHECK((*grid)[0].tenants[1].name == "ci");
  CHECK((*grid)[0].tenants[1].waiting == 2);
  std::vector<QueueStats> local = g.selectors[1]->queue_stats();
  REQUIRE(local.size() == 1);
  CHECK(local[0].waiting == 2);
  CHECK(local[0].tenants.size() == 2);
}

}  // namespace
}  // namespace pwgrid

namespace pwgrid {
namespace {

// A regression: the queue once served a ticket under the limits of the proxy that happened to
// run the dispatch (its sweep), so a proxy with C=5 filled a worker beyond another proxy's C=2.
TEST_CASE("grid-wide queue: a ticket is served under its own proxy's limits") {
  Call({"FLUSHALL"});
  RedisRegistryOptions o = Options();
  o.lease_sweep_interval = absl::Milliseconds(50);
  std::unique_ptr<WorkerRegistry> a = NewRegistry(o);
  std::unique_ptr<WorkerRegistry> b = NewRegistry(o);
  PWGRID_REQUIRE_OK(a->Register(TestWorker("chromium:1"), absl::Seconds(60)));
  std::vector<Reservation> on_a;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<SharedQueue::EnterResult> e = a->shared_queue()->Enter(
        {BrowserType::kChromium, {5, 1000}}, absl::Now() + absl::Seconds(60), 100);
    REQUIRE(e.ok());
    REQUIRE(e->reservation.has_value());
    on_a.push_back(*e->reservation);
  }
  absl::StatusOr<SharedQueue::EnterResult> queued = b->shared_queue()->Enter(
      {BrowserType::kChromium, {2, 1000}}, absl::Now() + absl::Seconds(60), 100);
  REQUIRE(queued.ok());
  REQUIRE(!queued->reservation.has_value());  // the worker is full for C=2
  // a's sweeps and a's own calls serve the queue: still not under a's C=5.
  absl::SleepFor(absl::Milliseconds(300));
  REQUIRE(a->shared_queue()->TakeGrants().ok());
  absl::StatusOr<std::vector<SharedQueue::Grant>> none = b->shared_queue()->TakeGrants();
  REQUIRE(none.ok());
  CHECK(none->empty());
  CHECK(Call({"HGET", "cluster:active_connections", "chromium:1"}) == "2");
  PWGRID_REQUIRE_OK(a->Release(on_a[0], false));  // now it fits under C=2
  absl::StatusOr<std::vector<SharedQueue::Grant>> one = b->shared_queue()->TakeGrants();
  REQUIRE(one.ok());
  REQUIRE(one->size() == 1);
  CHECK((*one)[0].ticket == queued->ticket);
  CHECK((*one)[0].reservation.active == 2);
  PWGRID_CHECK_OK(b->Release((*one)[0].reservation, false));
  PWGRID_CHECK_OK(a->Release(on_a[1], false));
  CHECK(Call({"HGET", "cluster:active_connections", "chromium:1"}) == "0");
}

}  // namespace
}  // namespace pwgrid
