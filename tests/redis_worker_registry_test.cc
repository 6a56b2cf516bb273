// The Redis registry against a real redis-server on a free loopback port: the shared conformance
// suite, C++/Lua selection parity, upstream's key layout, leases, the reaper and outages.
#include "pwgrid/redis_worker_registry.h"
#include "lib/redis/redis_connection.h"
#include "lib/redis/redis_registry_hooks.h"

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "pwgrid/browser_server.h"
#include "pwgrid/selection_policy.h"
#include "pwgrid/selector.h"
#include "pwgrid/testing/redis_server.h"
#include "pwgrid/testing/registry_conformance.h"
#include "pwgrid/testing/status_macros.h"
#include "pwgrid/worker_agent.h"
#include "pwgrid/worker_registry.h"
#include "tests/redis_test_util.h"
#include "tests/selection_vectors.h"

namespace pwgrid {
namespace {

using testing::conformance::Load;
using testing::conformance::WaitUntil;

struct RedisFixture {
  std::unique_ptr<WorkerRegistry> registry;
  RedisFixture() {
    Call({"FLUSHALL"});
    registry = NewRegistry();
  }
  void ExpireAll() {
    const std::vector<std::string> keys = absl::StrSplit(Call({"KEYS", "worker:*"}), '\n');
    for (const std::string& key : keys) {
      if (!key.empty() && key.rfind("worker:cmd:", 0) != 0) Call({"PEXPIRE", key, "1"});
    }
    for (const std::string& key : keys) {  // gone once Redis has expired them
      if (key.empty() || key.rfind("worker:cmd:", 0) == 0) continue;
      REQUIRE(testing::conformance::WaitUntil(
          [&] {
            return Call({"PTTL", key}) == "-2";
          },
          absl::Seconds(5)));
    }
  }
};
PWGRID_REGISTRY_CONFORMANCE(RedisFixture);

// Writes `w` the way upstream's worker does: counters with HSETNX, then the six fields + EXPIRE.
void RegisterLikeUpstream(const std::string& wid, const std::string& uuid,
                          const std::string& browser, const std::string& endpoint,
                          const std::string& status, int64_t active, int64_t lifetime, bool alive) {
  Call({"HSETNX", "cluster:active_connections", wid, std::to_string(active)});
  Call({"HSETNX", "cluster:lifetime_connections", wid, std::to_string(lifetime)});
  if (!alive) return;
  Call({"HSET", "worker:" + wid, "id", uuid, "browserType", browser, "endpoint", endpoint, "status",
        status, "startedAt", "1763800000000", "lastHeartbeat", "1763800000000"});
  Call({"EXPIRE", "worker:" + wid, "60"});
}

void RunParity(const std::vector<testvectors::SelectionVector>& vectors) {
  std::unique_ptr<WorkerRegistry> registry = NewRegistry();
  for (const testvectors::SelectionVector& v : vectors) {
    CAPTURE(v.name);
    Call({"FLUSHALL"});
    // A dead worker of a known version is one whose key expired after the index saw it: it
    // stays in its version's group (and counts in its N). Such workers are registered alive,
    // indexed (a Reserve for webkit, which no vector's fleet has, re-indexes every entry), and
    // then their keys are deleted.
    bool dead_with_version = false;
    for (const WorkerLoad& w : v.workers) {
      const std::string browser(ToString(w.info.browser));
      const bool versioned_dead = !w.alive && !w.info.playwright_version.empty();
      dead_with_version |= versioned_dead;
      RegisterLikeUpstream(browser + ":" + w.info.id, w.info.id, browser, w.info.endpoint,
                           std::string(ToString(w.info.status)), w.active, w.lifetime,
                           w.alive || versioned_dead);
      if ((w.alive || versioned_dead) && !w.info.playwright_version.empty()) {
        Call({"HSET", "worker:" + browser + ":" + w.info.id, "playwrightVersion",
              w.info.playwright_version});
      }
    }
    if (dead_with_version) {
      for (const WorkerLoad& w : v.workers) REQUIRE(w.info.browser != BrowserType::kWebkit);
      absl::StatusOr<std::optional<Reservation>> none =
          registry->Reserve(ReserveRequest{BrowserType::kWebkit, {v.c, v.l}});
      REQUIRE(none.ok());
      REQUIRE(!none->has_value());
      for (const WorkerLoad& w : v.workers) {
        if (!w.alive)
          Call({"DEL", "worker:" + std::string(ToString(w.info.browser)) + ":" + w.info.id});
      }
    }
    ReserveRequest request{v.browser, {v.c, v.l}};
    request.client_version = v.client_version;
    absl::StatusOr<std::optional<Reservation>> r = registry->Reserve(request);
    REQUIRE(r.ok());
    const std::string lua =
        r->has_value() ? (*r)->worker.id.substr((*r)->worker.id.find(':') + 1) : "none";
    std::optional<size_t> cpp = ChooseWorker(v.workers, v.browser, v.client_version, {v.c, v.l});
    CHECK(lua == (cpp ? v.workers[*cpp].info.id : std::string("none")));
    CHECK(lua == v.expected);
  }
}

TEST_CASE("RESP replies: decoded as hiredis reads them; an array count is bounded") {
  auto replies = internal::DecodeRedisReplies("+OK\r\n:-2\r\n$-1\r\n*2\r\n$1\r\na\r\n:5\r\n");
  PWGRID_REQUIRE_OK(replies.status());
  REQUIRE(replies->size() == 4);
  CHECK((*replies)[1].integer == -2);
  CHECK((*replies)[2].is_nil());
  CHECK((*replies)[3].elements[0].str == "a");
  // hiredis 0.14 would allocate the announced element table at once (3.5 GB here: found by
  // tests/fuzz/redis_reply_fuzz); pwgrid's reader refuses it as a protocol error.
  CHECK(absl::IsInvalidArgument(internal::DecodeRedisReplies("*444444444\r\n").status()));
  CHECK(internal::DecodeRedisReplies("*3\r\n:1\r\n").value().empty());  // incomplete: none yet
}

TEST_CASE("selection parity: the Lua script and ChooseWorker agree on the shared table") {
  RunParity(testvectors::TableVectors());
}

TEST_CASE("selection parity: 400 random vectors") { RunParity(testvectors::RandomVectors(400)); }

TEST_CASE("selection parity: fleets of several Playwright versions") {
  RunParity(testvectors::VersionVectors());
  RunParity(testvectors::RandomVersionVectors(400));
}

// The selection index is maintained by every script; a re-index (HSCAN of the active hash) must
// not be needed to stay exact. Random registrations, reservations, releases (committed or rolled
// back), status changes, expiries and re-registrations under another Playwright version, by
// clients of several versions; every reservation is checked against ChooseWorker() on a Snapshot
// taken just before it.
TEST_CASE("the selection index stays exact through every script, without re-indexing") {
  Call({"FLUSHALL"});
  RedisRegistryOptions o = Options();
  o.reindex_interval = absl::Hours(1);
  std::unique_ptr<WorkerRegistry> registry = NewRegistry(o);
  const SessionLimits limits{3, 10};
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back("chromium:w" + std::to_string(i));
  uint32_t seed = 12345;
  auto next = [&seed](uint32_t n) {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 8) % n;
  };
  const char* worker_versions[] = {"", "1.64.0", "1.65.1", "1.66.2"};
  const char* client_versions[] = {"", "1.64.1", "1.65.1", "1.66.0", "1.67.0"};
  auto register_worker = [&](const std::string& id) {
    WorkerInfo w = testing::conformance::TestWorker(id);
    w.playwright_version = worker_versions[next(4)];
    PWGRID_REQUIRE_OK(registry->Register(w, absl::Seconds(60)));
  };
  for (const std::string& id : ids) register_worker(id);
  WorkerInfo firefox = testing::conformance::TestWorker("firefox:f0");
  firefox.browser = BrowserType::kFirefox;
  PWGRID_REQUIRE_OK(registry->Register(firefox, absl::Seconds(60)));
  Call({"CONFIG", "RESETSTAT"});
  std::vector<Reservation> held;
  int reserved = 0;
  std::set<std::string> versions_served;
  for (int step = 0; step < 600; ++step) {
    CAPTURE(step);
    const uint32_t op = next(10);
    if (op < 5) {
      const std::string client = client_versions[next(5)];
      CAPTURE(client);
      absl::StatusOr<std::vector<WorkerLoad>> snap = registry->Snapshot();
      REQUIRE(snap.ok());
      std::optional<size_t> want = ChooseWorker(*snap, BrowserType::kChromium, client, limits);
      ReserveRequest request{BrowserType::kChromium, limits};
      request.client_version = client;
      absl::StatusOr<std::optional<Reservation>> r = registry->Reserve(request);
      REQUIRE(r.ok());
      CHECK((r->has_value() ? (*r)->worker.id : "none") ==
            (want ? (*snap)[*want].info.id : "none"));
      if (r->has_value()) {
        CHECK(VersionsMatch(client, (*r)->worker.playwright_version));
        versions_served.insert((*r)->worker.playwright_version);
        held.push_back(**r);
        ++reserved;
      }
    } else if (op < 8 && !held.empty()) {
      const size_t i = next(static_cast<uint32_t>(held.size()));
      PWGRID_REQUIRE_OK(registry->Release(held[i], /*rollback_lifetime=*/next(3) == 0));
      held.erase(held.begin() + static_cast<long>(i));
    } else if (op == 8) {
      const std::string& id = ids[next(static_cast<uint32_t>(ids.size()))];
      (void)registry->SetStatus(id,
                                next(2) == 0 ? WorkerStatus::kDraining : WorkerStatus::kAvailable);
    } else {
      const std::string& id = ids[next(static_cast<uint32_t>(ids.size()))];
      if (next(2) == 0) {
        Call({"PEXPIRE", "worker:" + id, "1"});  // dies without a word
        absl::SleepFor(absl::Milliseconds(3));
      } else {
        register_worker(id);  // (re-)registers
      }
    }
  }
  CHECK(reserved > 50);
  CHECK(versions_served.size() == 4);  // every version, and the workers without one, served
  const std::string stats = Call({"INFO", "commandstats"});
  CHECK(stats.find("cmdstat_hscan") == std::string::npos);
  CHECK(Call({"GET", "pwgrid:indexed"}) == Call({"HLEN", "cluster:active_connections"}));
}

// Redis keeps an expired worker in its last version's group (and in that group's N); Snapshot()
// reports that version, so that ChooseWorker() over it sees the same fleet as the script.
TEST_CASE("a worker whose key expired keeps its version in the snapshot") {
  RedisFixture f;
  WorkerInfo old = testing::conformance::TestWorker("chromium:old");
  old.playwright_version = "1.64.0";
  PWGRID_REQUIRE_OK(f.registry->Register(old, absl::Seconds(60)));
  ReserveRequest request{BrowserType::kChromium, {5, 20}};
  request.client_version = "1.64.1";
  std::optional<Reservation> r = f.registry->Reserve(request).value();
  REQUIRE(r.has_value());
  PWGRID_REQUIRE_OK(f.registry->Release(*r, /*rollback_lifetime=*/false));
  f.ExpireAll();
  std::vector<WorkerLoad> snap = f.registry->Snapshot().value();
  REQUIRE(snap.size() == 1);
  CHECK(!snap[0].alive);
  CHECK(snap[0].info.playwright_version == "1.64");
}

TEST_CASE("registration writes upstream's keys, fields and formats") {
  RedisFixture f;
  WorkerInfo w = testing::conformance::TestWorker("chromium:0f0e6a43-0b4c-4d8b-9a5e-3f6a4b1c2d3e");
  w.playwright_version = "1.65.1";
  w.started_at_ms = 1763800000123;
  PWGRID_REQUIRE_OK(f.registry->Register(w, absl::Seconds(60)));
  const std::string key = "worker:" + w.id;
  std::map<std::string, std::string> h = Server().HGetAll(key).value();
  CHECK(h.size() == 7);
  CHECK(h["id"] == "0f0e6a43-0b4c-4d8b-9a5e-3f6a4b1c2d3e");
  CHECK(h["browserType"] == "chromium");
  CHECK(h["endpoint"] == "ws://127.0.0.1:9/playwright/x");
  CHECK(h["status"] == "available");
  CHECK(h["startedAt"] == "1763800000123");
  CHECK(h["lastHeartbeat"].size() == 13);  // Unix ms
  CHECK(h["playwrightVersion"] == "1.65.1");
  const int ttl = std::stoi(Call({"TTL", key}));
  CHECK(ttl > 55);
  CHECK(ttl <= 60);
  CHECK(Call({"HGET", "cluster:active_connections", w.id}) == "0");
  CHECK(Call({"HGET", "cluster:lifetime_connections", w.id}) == "0");
  PWGRID_REQUIRE_OK(f.registry->SetStatus(w.id, WorkerStatus::kShuttingDown));
  CHECK(std::stoi(Call({"TTL", key})) <= 10);  // upstream's graceful shutdown
  CHECK(absl::IsInvalidArgument(
      f.registry->Register(testing::conformance::TestWorker("firefox:1"), absl::Seconds(5))));
}

TEST_CASE(
    "a worker registered by hand like upstream's is reserved, and the recycle command is "
    "upstream's") {
  RedisFixture f;
  RegisterLikeUpstream("chromium:u1", "u1", "chromium", "ws://127.0.0.1:7/playwright/u1",
                       "available", 0, 0, true);
  std::optional<Reservation> r = testing::conformance::Reserve(*f.registry);
  REQUIRE(r.has_value());
  CHECK(r->worker.endpoint == "ws://127.0.0.1:7/playwright/u1");
  CHECK(Call({"HGET", "cluster:active_connections", "chromium:u1"}) == "1");
  CHECK(Call({"HGET", "cluster:lifetime_connections", "chromium:u1"}) == "1");
  CHECK(f.registry->RequestShutdown("chromium:u1").value());
  CHECK(Call({"GET", "worker:cmd:chromium:u1"}) == "shutdown");
  const int ttl = std::stoi(Call({"TTL", "worker:cmd:chromium:u1"}));
  CHECK(ttl > 0);
  CHECK(ttl <= 60);
  PWGRID_REQUIRE_OK(f.registry->Release(*r, false));
  CHECK(Call({"HGET", "cluster:active_connections", "chromium:u1"}) == "0");
}

TEST_CASE("a decrement never re-creates a reaped entry, and never goes below zero") {
  RedisFixture f;
  PWGRID_REQUIRE_OK(
      f.registry->Register(testing::conformance::TestWorker("chromium:1"), absl::Seconds(9)));
  std::optional<Reservation> r = testing::conformance::Reserve(*f.registry);
  REQUIRE(r.has_value());
  Call({"HDEL", "cluster:active_connections", "chromium:1"});
  Call({"HDEL", "cluster:lifetime_connections", "chromium:1"});
  PWGRID_REQUIRE_OK(f.registry->Release(*r, true));
  CHECK(Call({"HEXISTS", "cluster:active_connections", "chromium:1"}) == "0");
  CHECK(Call({"HEXISTS", "cluster:lifetime_connections", "chromium:1"}) == "0");
}

TEST_CASE("a lease its proxy stops renewing frees the slot by itself") {
  Call({"FLUSHALL"});
  RedisRegistryOptions o = Options();
  o.lease_ttl = absl::Seconds(1);
  o.lease_sweep_interval = absl::Milliseconds(100);
  std::unique_ptr<WorkerRegistry> survivor = NewRegistry(o);
  PWGRID_REQUIRE_OK(
      survivor->Register(testing::conformance::TestWorker("chromium:1"), absl::Seconds(30)));
  {
    RenewalCounter renewals;
    internal::RedisRegistryTestHooks hooks;
    hooks.after_renewal = renewals.Hook();
    std::unique_ptr<WorkerRegistry> doomed =
        internal::NewRedisWorkerRegistryWithHooks(o, hooks).value();
    REQUIRE(testing::conformance::Reserve(*doomed).has_value());
    REQUIRE(testing::conformance::Reserve(*doomed).has_value());
    // Held for 6 renewal rounds (2 lease TTLs): renewals keep the slots taken.
    REQUIRE(renewals.WaitForMore(6, absl::Seconds(30)));
    CHECK(Load(*survivor, "chromium:1")->active == 2);
  }  // the "proxy" dies without releasing
  CHECK(WaitUntil([&] { return Load(*survivor, "chromium:1")->active == 0; }, absl::Seconds(5)));
  CHECK(Load(*survivor, "chromium:1")->lifetime == 2);  // those sessions did happen
  CHECK(Call({"ZCARD", "pwgrid:leases"}) == "0");
}

GridSession SessionOn(const Reservation& r, std::string id, std::string proxy) {
  return GridSession{std::move(id), std::move(proxy), BrowserType::kChromium,
                     r.worker.id,   "127.0.0.1:5000", "Playwright/1.65.1 (x64; debian 12)\nX",
                     "1.65.1",      "team-a",         1763800000123};
}

TEST_CASE("sessions announced by every proxy are listed; each goes with its lease") {
  Call({"FLUSHALL"});
  RedisRegistryOptions o = Options();
  o.lease_ttl = absl::Seconds(1);
  o.lease_sweep_interval = absl::Milliseconds(100);
  std::unique_ptr<WorkerRegistry> a = NewRegistry(o);
  std::unique_ptr<WorkerRegistry> b = NewRegistry(o);
  PWGRID_REQUIRE_OK(a->Register(testing::conformance::TestWorker("chromium:1"), absl::Seconds(30)));
  std::optional<Reservation> ra = testing::conformance::Reserve(*a);
  std::optional<Reservation> rb = testing::conformance::Reserve(*b);
  REQUIRE(ra.has_value());
  REQUIRE(rb.has_value());
  PWGRID_REQUIRE_OK(a->AnnounceSession(*ra, SessionOn(*ra, "s-a", "host/1")));
  PWGRID_REQUIRE_OK(b->AnnounceSession(*rb, SessionOn(*rb, "s-b", "host/2")));
  absl::StatusOr<std::vector<GridSession>> seen = a->Sessions();
  PWGRID_REQUIRE_OK(seen.status());
  REQUIRE(seen->size() == 2);
  std::set<std::string> ids;
  for (const GridSession& s : *seen) {
    ids.insert(s.id + "@" + s.proxy);
    CHECK(s.worker_id == "chromium:1");
    CHECK(s.browser == BrowserType::kChromium);
    CHECK(s.client == "127.0.0.1:5000");
    CHECK(s.user_agent == "Playwright/1.65.1 (x64; debian 12) X");  // a line break is a space
    CHECK(s.client_version == "1.65.1");
    CHECK(s.tenant == "team-a");
    CHECK(s.started_at_ms == 1763800000123);
  }
  CHECK(ids == std::set<std::string>{"s-a@host/1", "s-b@host/2"});
  // Released: gone from every proxy's list.
  PWGRID_REQUIRE_OK(a->Release(*ra, /*rollback_lifetime=*/false));
  seen = b->Sessions();
  PWGRID_REQUIRE_OK(seen.status());
  REQUIRE(seen->size() == 1);
  CHECK(seen->front().id == "s-b");
  // A proxy that dies: its lease expires and the session's record with it.
  b.reset();
  CHECK(WaitUntil([&] { return a->Sessions().value().empty(); }, absl::Seconds(10)));
  CHECK(Call({"HLEN", "pwgrid:sessions"}) == "0");
  // An announcement that lands after its lease went (a session that ended at once) is dropped
  // by the next reader.
  PWGRID_REQUIRE_OK(a->AnnounceSession(*ra, SessionOn(*ra, "late", "host/1")));
  CHECK(Call({"HLEN", "pwgrid:sessions"}) == "1");
  CHECK(a->Sessions().value().empty());
  CHECK(Call({"HLEN", "pwgrid:sessions"}) == "0");
}

TEST_CASE("one proxy at a time reports the grid-wide series; another takes over when it stops") {
  Call({"FLUSHALL"});
  std::unique_ptr<WorkerRegistry> r = NewRegistry();
  CHECK(r->ClaimReporter("p1", absl::Milliseconds(500)).value());
  CHECK_FALSE(r->ClaimReporter("p2", absl::Milliseconds(500)).value());
  CHECK(r->ClaimReporter("p1", absl::Milliseconds(500)).value());  // renewed
  CHECK(Call({"GET", "pwgrid:reporter"}) == "p1");
  // p1 stops claiming: after its TTL, p2 gets it, and p1 is then refused.
  CHECK(WaitUntil([&] { return r->ClaimReporter("p2", absl::Milliseconds(500)).value(); },
                  absl::Seconds(5)));
  CHECK_FALSE(r->ClaimReporter("p1", absl::Milliseconds(500)).value());
  // The in-memory registry has one proxy: always the reporter, and no shared session list.
  std::unique_ptr<WorkerRegistry> memory = NewInMemoryWorkerRegistry(RegistryOptions{}).value();
  CHECK(memory->ClaimReporter("any", absl::Seconds(1)).value());
  CHECK(absl::IsUnimplemented(memory->Sessions().status()));
}

TEST_CASE("a tenant's quota counts its sessions on every proxy; a dead proxy's expire") {
  Call({"FLUSHALL"});
  RedisRegistryOptions o = Options();
  o.lease_ttl = absl::Seconds(1);
  o.lease_sweep_interval = absl::Milliseconds(100);
  std::unique_ptr<WorkerRegistry> a = NewRegistry(o);
  PWGRID_REQUIRE_OK(a->Register(testing::conformance::TestWorker("chromium:1"), absl::Seconds(30)));
  const ReserveRequest ci{BrowserType::kChromium, {10, 100}, "ci", 3};
  std::optional<Reservation> on_a = a->Reserve(ci).value();
  REQUIRE(on_a.has_value());
  {
    RenewalCounter renewals;
    internal::RedisRegistryTestHooks hooks;
    hooks.after_renewal = renewals.Hook();
    std::unique_ptr<WorkerRegistry> b = internal::NewRedisWorkerRegistryWithHooks(o, hooks).value();
    REQUIRE(b->Reserve(ci).value().has_value());
    REQUIRE(b->Reserve(ci).value().has_value());
    CHECK(Call({"ZCARD", "pwgrid:tenant:ci"}) == "3");
    // The quota is the tenant's across both proxies: neither may reserve a fourth.
    CHECK(absl::IsResourceExhausted(a->Reserve(ci).status()));
    CHECK(absl::IsResourceExhausted(b->Reserve(ci).status()));
    // Renewals keep them counted past the lease TTL.
    REQUIRE(renewals.WaitForMore(4, absl::Seconds(30)));
    CHECK(absl::IsResourceExhausted(a->Reserve(ci).status()));
  }  // proxy b dies without releasing its two
  CHECK(WaitUntil(
      [&] {
        absl::StatusOr<std::optional<Reservation>> r = a->Reserve(ci);
        return r.ok() && r->has_value();
      },
      absl::Seconds(10)));
  CHECK(Call({"ZCARD", "pwgrid:tenant:ci"}) == "2");  // a's first and the one just reserved
  PWGRID_REQUIRE_OK(a->Release(*on_a, false));
  CHECK(Call({"ZCARD", "pwgrid:tenant:ci"}) == "1");
  // Tokens never reach Redis: only the tenant's name is a key.
  CHECK(Call({"KEYS", "pwgrid:tenant:*"}) == "pwgrid:tenant:ci");
}

TEST_CASE("leases Redis lost are restored and counted again") {
  Call({"FLUSHALL"});
  RedisRegistryOptions o = Options();
  o.lease_ttl = absl::Seconds(3);  // renewed every second
  std::unique_ptr<WorkerRegistry> registry = NewRegistry(o);
  PWGRID_REQUIRE_OK(
      registry->Register(testing::conformance::TestWorker("chromium:1"), absl::Seconds(30)));
  std::optional<Reservation> r = testing::conformance::Reserve(*registry);
  REQUIRE(r.has_value());
  Call({"DEL", "pwgrid:leases"});
  Call({"HSET", "cluster:active_connections", "chromium:1", "0"});
  CHECK(WaitUntil([&] { return Load(*registry, "chromium:1")->active == 1; }, absl::Seconds(5)));
  PWGRID_REQUIRE_OK(registry->Release(*r, false));
  CHECK(Load(*registry, "chromium:1")->active == 0);
}

TEST_CASE("the reaper removes counters of workers whose key is gone, from both hashes") {
  Call({"FLUSHALL"});
  RedisRegistryOptions o = Options();
  o.reaper_interval = absl::Milliseconds(200);
  std::unique_ptr<WorkerRegistry> registry = NewRegistry(o);
  PWGRID_REQUIRE_OK(
      registry->Register(testing::conformance::TestWorker("chromium:live"), absl::Seconds(30)));
  Call({"HSET", "cluster:lifetime_connections", "chromium:ghost", "7"});
  Call({"HSET", "cluster:active_connections", "chromium:ghost", "2"});
  Call({"HSET", "cluster:active_connections", "chromium:orphan", "-1"});  // upstream defect I2
  CHECK(WaitUntil([] {
    return Server().Call({"HLEN", "cluster:active_connections"}).value_or("") == "1";
  }));
  CHECK(Call({"HLEN", "cluster:lifetime_connections"}) == "1");
  CHECK(Call({"HEXISTS", "cluster:active_connections", "chromium:live"}) == "1");
}

TEST_CASE("capacity freed by one proxy wakes a client waiting at another") {
  Call({"FLUSHALL"});
  std::unique_ptr<WorkerRegistry> a = NewRegistry();
  std::unique_ptr<WorkerRegistry> b = NewRegistry();
  PWGRID_REQUIRE_OK(a->Register(testing::conformance::TestWorker("chromium:1"), absl::Seconds(30)));
  SelectorOptions so;
  so.limits = {1, 1000};
  so.poll_interval = absl::Seconds(60);  // no safety poll within this test: pub/sub must wake it
  std::unique_ptr<Selector> sa = NewRegistrySelector(a.get(), so).value();
  std::unique_ptr<Selector> sb = NewRegistrySelector(b.get(), so).value();
  absl::Mutex mu;
  std::optional<absl::StatusOr<Lease>> got_a, got_b;
  sa->Acquire({BrowserType::kChromium, absl::Now() + absl::Seconds(5), ""},
              [&](absl::StatusOr<Lease> l) {
                absl::MutexLock lock(&mu);
                got_a = std::move(l);
              });
  REQUIRE(WaitUntil([&] {
    absl::MutexLock lock(&mu);
    return got_a.has_value();
  }));
  REQUIRE(got_a->ok());
  sb->Acquire({BrowserType::kChromium, absl::Now() + absl::Seconds(20), ""},
              [&](absl::StatusOr<Lease> l) {
                absl::MutexLock lock(&mu);
                got_b = std::move(l);
              });
  absl::SleepFor(absl::Milliseconds(300));
  {
    absl::MutexLock lock(&mu);
    CHECK(!got_b.has_value());  // the only slot is taken
    (*got_a)->Release();
  }
  REQUIRE(WaitUntil([&] {
    absl::MutexLock lock(&mu);
    return got_b.has_value();
  }));
  absl::MutexLock lock(&mu);
  REQUIRE(got_b->ok());
  CHECK((*got_b)->worker().id == "chromium:1");
  (*got_b)->Release();
  got_a.reset();
  got_b.reset();
}

TEST_CASE("a selector over Redis never reserves on the caller's thread") {
  Call({"FLUSHALL"});
  std::unique_ptr<WorkerRegistry> registry = NewRegistry();
  CHECK(!registry->NeverBlocks());
  PWGRID_REQUIRE_OK(
      registry->Register(testing::conformance::TestWorker("chromium:1"), absl::Seconds(30)));
  SelectorOptions so;
  so.limits = {5, 50};
  std::unique_ptr<Selector> selector = NewRegistrySelector(registry.get(), so).value();
  CHECK(!selector->TryAcquire({BrowserType::kChromium, absl::Now() + absl::Seconds(5), ""})
             .has_value());
  CHECK(Call({"HGET", "cluster:active_connections", "chromium:1"}) == "0");
}

TEST_CASE("an outage fails fast with Unavailable, and the registry recovers by itself") {
  Call({"FLUSHALL"});
  std::unique_ptr<WorkerRegistry> registry = NewRegistry();
  PWGRID_REQUIRE_OK(registry->Ping());
  Server().Stop(/*crash=*/true);
  absl::StatusOr<std::optional<Reservation>> r =
      registry->Reserve(ReserveRequest{BrowserType::kChromium, {5, 50}});
  CHECK(absl::IsUnavailable(r.status()));
  CHECK(absl::IsUnavailable(registry->Ping()));
  REQUIRE(Server().Resume().ok());
  CHECK(WaitUntil([&] { return registry->Ping().ok(); }, absl::Seconds(10)));
  PWGRID_CHECK_OK(
      registry->Register(testing::conformance::TestWorker("chromium:1"), absl::Seconds(30)));
  CHECK(testing::conformance::Reserve(*registry).has_value());
}

// A browser server that is only an endpoint: enough for a WorkerAgent's lifecycle.
class StubBrowser : public BrowserServer {
 public:
  StubBrowser() : endpoint_("ws://127.0.0.1:9/playwright/" + NewUuid()) {}
  std::string ws_endpoint() const override { return endpoint_; }
  std::string playwright_version() const override { return ""; }
  bool Running() override { return true; }
  absl::Status Stop() override { return absl::OkStatus(); }

 private:
  std::string endpoint_;
};

// pwgrid-worker with RESTART_AFTER_RECYCLE: the retired worker's key (shutting-down gives it
// upstream's 10 s TTL) stays while the replacement launches, however long that takes, so every
// proxy keeps staggering recycles; a failed launch removes it at once.
TEST_CASE("restart after recycle keeps the retired worker registered through a slow launch") {
  Call({"FLUSHALL"});
  std::unique_ptr<WorkerRegistry> registry = NewRegistry();
  absl::Mutex mu;
  std::string old_id;
  std::vector<std::string> during_launch;  // "<status> <pttl>" of the old key at each launch
  int launches = 0;
  WorkerAgentOptions o;
  o.heartbeat_interval = absl::Milliseconds(100);
  o.key_ttl = absl::Milliseconds(500);
  o.launch_timeout = absl::Seconds(30);
  o.restart_backoff = absl::Milliseconds(50);
  o.replacement = Replacement::kAfterStop;
  BrowserFactory factory = [&]() -> absl::StatusOr<std::unique_ptr<BrowserServer>> {
    absl::MutexLock lock(&mu);
    if (!old_id.empty()) {
      absl::StatusOr<std::string> status = Server().Call({"HGET", "worker:" + old_id, "status"});
      absl::StatusOr<std::string> pttl = Server().Call({"PTTL", "worker:" + old_id});
      during_launch.push_back(status.value_or("?") + " " + pttl.value_or("?"));
    }
    if (++launches == 2) return absl::InternalError("the first relaunch fails");
    return std::make_unique<StubBrowser>();
  };
  absl::StatusOr<std::unique_ptr<WorkerAgent>> agent =
      WorkerAgent::Create(registry.get(), factory, o);
  PWGRID_REQUIRE_OK(agent.status());
  PWGRID_REQUIRE_OK((*agent)->Start());
  {
    absl::MutexLock lock(&mu);
    old_id = (*agent)->current_worker_id();
  }
  REQUIRE(registry->RequestShutdown(old_id).value());
  REQUIRE(WaitUntil(
      [&] {
        const std::string id = (*agent)->current_worker_id();
        return !id.empty() && id != old_id;
      },
      absl::Seconds(10)));
  {
    absl::MutexLock lock(&mu);
    REQUIRE(during_launch.size() == 2);
    // First relaunch: the old key is still there as shutting-down, with a TTL that covers the
    // whole launch (more than the 10 s of shutting-down).
    const std::vector<std::string> first = absl::StrSplit(during_launch[0], ' ');
    CHECK(first[0] == "shutting-down");
    CHECK(std::stoll(first[1]) > 29'000);
    // That launch failed, so the old key was removed before the retry.
    CHECK(during_launch[1] == "(nil) -2");
  }
  const std::string new_id = (*agent)->current_worker_id();
  CHECK(Call({"HGET", "worker:" + new_id, "status"}) == "available");
  CHECK(Call({"HEXISTS", "cluster:active_connections", old_id}) == "0");
  (*agent)->Stop();
  CHECK(Call({"EXISTS", "worker:" + new_id}) == "0");
}

}  // namespace
}  // namespace pwgrid
