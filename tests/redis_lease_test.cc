// Session leases and outages of the Redis registry against a real redis-server: release is final
// whatever the timing of renewals, a hung or restarted Redis (issue 10's defects).
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "lib/redis/redis_connection.h"
#include "lib/redis/redis_registry_hooks.h"
#include "pwgrid/redis_worker_registry.h"
#include "pwgrid/selector.h"
#include "pwgrid/testing/registry_conformance.h"
#include "pwgrid/testing/status_macros.h"
#include "tests/loopback.h"
#include "tests/redis_test_util.h"

namespace pwgrid {
namespace {

using testing::conformance::Load;
using testing::conformance::TestWorker;
using testing::conformance::WaitUntil;

// Counts the registry's "Restored N session lease(s)" warnings.
class RestoreCounter : public Logger {
 public:
  bool Enabled(LogLevel) const override { return true; }
  void Log(const LogRecord& r) override {
    if (r.message.rfind("Restored ", 0) == 0) restored_.fetch_add(1);
  }
  int restored() const { return restored_.load(); }

 private:
  std::atomic<int> restored_{0};
};

// Calls of one Redis command since the last CONFIG RESETSTAT (INFO commandstats, which counts the
// commands scripts run too).
int64_t CommandCalls(const std::string& command) {
  const std::string info = Call({"INFO", "commandstats"});
  const std::string key = "cmdstat_" + command + ":calls=";
  const size_t at = info.find(key);
  if (at == std::string::npos) return 0;
  return std::stoll(info.substr(at + key.size()));
}

TEST_CASE("a renewal round costs a few commands whatever the number of leases") {
  Call({"FLUSHALL"});
  RedisRegistryOptions o = Options();
  o.lease_ttl = absl::Seconds(3);  // renewed every second
  RenewalCounter renewals;
  internal::RedisRegistryTestHooks hooks;
  hooks.after_renewal = renewals.Hook();
  std::unique_ptr<WorkerRegistry> registry =
      internal::NewRedisWorkerRegistryWithHooks(o, hooks).value();
  PWGRID_REQUIRE_OK(registry->Register(TestWorker("chromium:1"), absl::Seconds(60)));
  std::vector<Reservation> held;
  for (int i = 0; i < 300; ++i) {
    ReserveRequest r{BrowserType::kChromium, {1000, 1 << 30}};
    r.tenant = i % 3 == 0 ? "team-a" : "";  // 100 leases of a named tenant, 200 anonymous
    r.tenant_max_sessions = i % 3 == 0 ? 1000 : 0;
    absl::StatusOr<std::optional<Reservation>> got = registry->Reserve(r);
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    held.push_back(**got);
  }
  REQUIRE(renewals.WaitForMore(1, absl::Seconds(5)));  // a round with all 300 listed
  Call({"CONFIG", "RESETSTAT"});
  REQUIRE(renewals.WaitForMore(1, absl::Seconds(5)));
  // One ZADD XX CH for the 300 leases, one ZADD and one PEXPIRE for the named tenant; no
  // lease-by-lease ZSCORE (it was 300 ZSCORE and 400 ZADD per round).
  CHECK(CommandCalls("zscore") == 0);
  CHECK(CommandCalls("zadd") <= 4);
  CHECK(CommandCalls("pexpire") <= 2);
  CHECK(Load(*registry, "chromium:1")->active == 300);
  for (const Reservation& r : held) PWGRID_REQUIRE_OK(registry->Release(r, false));
  CHECK(Load(*registry, "chromium:1")->active == 0);
}

TEST_CASE("a released lease stays released while renewals run (connect churn)") {
  Call({"FLUSHALL"});
  RestoreCounter log;
  RedisRegistryOptions o = Options();
  o.lease_ttl = absl::Seconds(1);  // renewed every 333 ms: several renewals during the churn
  o.logger = &log;
  RenewalCounter renewals;
  internal::RedisRegistryTestHooks hooks;
  hooks.after_renewal = renewals.Hook();
  std::unique_ptr<WorkerRegistry> registry =
      internal::NewRedisWorkerRegistryWithHooks(o, hooks).value();
  PWGRID_REQUIRE_OK(registry->Register(TestWorker("chromium:1"), absl::Seconds(60)));
  // 4 clients each opening and closing sessions back to back for 3 s, as 4 x 10,000 connect+close
  // in a row do: every renewal snapshot holds leases that are being released.
  const absl::Time end = absl::Now() + absl::Seconds(3);
  std::atomic<int> sessions{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      while (absl::Now() < end && sessions.load() < 400000) {
        absl::StatusOr<std::optional<Reservation>> r =
            registry->Reserve(ReserveRequest{BrowserType::kChromium, {8, 1 << 30}});
        if (!r.ok() || !r->has_value()) continue;
        (void)registry->Release(**r, /*rollback_lifetime=*/false);
        sessions.fetch_add(1);
      }
    });
  }
  for (std::thread& t : clients) t.join();
  MESSAGE(sessions.load() << " sessions");
  // Redis lost nothing, so a renewal that "restored" a lease re-created a released one.
  CHECK(log.restored() == 0);
  // Two more renewal rounds: one that began after the last release has completed. (Bound: the
  // renewal period is lease_ttl / 3; 10 s is ample slack.)
  REQUIRE(renewals.WaitForMore(2, absl::Seconds(10)));
  CHECK(Call({"ZCARD", "pwgrid:leases"}) == "0");
  CHECK(Load(*registry, "chromium:1")->active == 0);
}

TEST_CASE("a release that runs while a renewal is under way is final") {
  Call({"FLUSHALL"});
  RestoreCounter log;
  RedisRegistryOptions o = Options();
  o.lease_ttl = absl::Seconds(3);  // renewed every second
  o.logger = &log;
  RenewalCounter renewals;
  // The release of the live lease starts right after the renewal took its list of leases; it has
  // ample time to complete before the renewal goes on, unless the renewal holds it back.
  absl::Mutex mu;
  std::optional<Reservation> held ABSL_GUARDED_BY(mu);
  bool raced ABSL_GUARDED_BY(mu) = false;
  std::unique_ptr<WorkerRegistry> registry;
  std::thread releaser;
  internal::RedisRegistryTestHooks hooks;
  hooks.after_renewal = renewals.Hook();
  hooks.after_renew_snapshot = [&] {
    absl::MutexLock lock(&mu);
    if (!held || raced) return;
    raced = true;
    releaser = std::thread([&registry, r = *held] { (void)registry->Release(r, false); });
    mu.Unlock();
    absl::SleepFor(absl::Milliseconds(300));
    mu.Lock();
  };
  registry = internal::NewRedisWorkerRegistryWithHooks(o, hooks).value();
  PWGRID_REQUIRE_OK(registry->Register(TestWorker("chromium:1"), absl::Seconds(60)));
  {
    std::optional<Reservation> r = testing::conformance::Reserve(*registry);
    REQUIRE(r.has_value());
    absl::MutexLock lock(&mu);
    held = r;
  }
  {
    absl::MutexLock lock(&mu);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return raced; };
    REQUIRE(mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(5)));
  }
  // A renewal that began after the release has seen it: wait for two more rounds (the period is
  // 1 s; 20 s is ample slack), then nothing may be left.
  REQUIRE(renewals.WaitForMore(2, absl::Seconds(20)));
  releaser.join();
  CHECK(log.restored() == 0);
  CHECK(Call({"ZCARD", "pwgrid:leases"}) == "0");
  CHECK(Load(*registry, "chromium:1")->active == 0);
}

TEST_CASE("after Redis lost its data, live leases count again before anything else is served") {
  Call({"FLUSHALL"});
  RedisRegistryOptions o = Options();
  o.lease_ttl = absl::Seconds(30);  // renewed every 10 s: the test must not depend on a renewal
  std::unique_ptr<WorkerRegistry> proxy = NewRegistry(o);
  std::unique_ptr<WorkerRegistry> worker_side = NewRegistry(o);
  PWGRID_REQUIRE_OK(worker_side->Register(TestWorker("chromium:1"), absl::Seconds(60)));
  std::optional<Reservation> live = testing::conformance::Reserve(*proxy, /*c=*/1);
  REQUIRE(live.has_value());
  Server().Stop(/*crash=*/true);
  REQUIRE(Server().Resume().ok());  // empty
  // The proxy notices and reconnects; only then does the worker register again (its next
  // heartbeat), as in a real outage where workers heartbeat every few seconds.
  REQUIRE(WaitUntil([&] { return proxy->Ping().ok(); }, absl::Seconds(10)));
  REQUIRE(WaitUntil(
      [&] { return worker_side->Register(TestWorker("chromium:1"), absl::Seconds(60)).ok(); },
      absl::Seconds(10)));
  // The worker is busy (C = 1) with the live session: nothing may be reserved on it.
  absl::StatusOr<std::optional<Reservation>> r =
      proxy->Reserve(ReserveRequest{BrowserType::kChromium, {1, 50}});
  PWGRID_REQUIRE_OK(r.status());
  CHECK(!r->has_value());
  CHECK(Load(*proxy, "chromium:1")->active == 1);
  PWGRID_REQUIRE_OK(proxy->Release(*live, false));
  CHECK(Load(*proxy, "chromium:1")->active == 0);
  CHECK(testing::conformance::Reserve(*proxy, 1).has_value());
}

TEST_CASE("a hung Redis (SIGSTOP): waiting clients get Unavailable before their deadline") {
  Call({"FLUSHALL"});
  std::unique_ptr<WorkerRegistry> registry = NewRegistry();
  PWGRID_REQUIRE_OK(registry->Register(TestWorker("chromium:1"), absl::Seconds(60)));
  SelectorOptions so;
  so.limits = {1, 1000};
  std::unique_ptr<Selector> selector = NewRegistrySelector(registry.get(), so).value();
  REQUIRE(::kill(Server().pid(), SIGSTOP) == 0);
  struct Result {
    absl::Mutex mu;
    std::vector<absl::Status> statuses ABSL_GUARDED_BY(mu);
    std::vector<absl::Time> at ABSL_GUARDED_BY(mu);
  } results;
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + absl::Seconds(2);  // WORKER_SELECT_TIMEOUT can be 1..12 s
  for (int i = 0; i < 4; ++i) {
    selector->Acquire(SelectRequest{BrowserType::kChromium, deadline, ""},
                      [&results](absl::StatusOr<Lease> l) {
                        absl::MutexLock lock(&results.mu);
                        results.statuses.push_back(l.status());
                        results.at.push_back(absl::Now());
                      });
  }
  {
    absl::MutexLock lock(&results.mu);
    auto all = [&results]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(results.mu) {
      return results.statuses.size() == 4;
    };
    results.mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(20));
  }
  REQUIRE(::kill(Server().pid(), SIGCONT) == 0);
  absl::MutexLock lock(&results.mu);
  REQUIRE(results.statuses.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    INFO("client " << i << ": " << results.statuses[i] << " after "
                   << absl::FormatDuration(results.at[i] - start));
    CHECK(
        absl::IsUnavailable(results.statuses[i]));  // "Worker registry unavailable", not a timeout
    CHECK(results.at[i] < deadline);
  }
}

TEST_CASE("Ping() tries to reconnect at once, whatever the backoff") {
  Call({"FLUSHALL"});
  RedisRegistryOptions o = Options();
  o.reconnect_backoff_min = absl::Seconds(5);  // the next scheduled attempt is far away
  o.reconnect_backoff_max = absl::Seconds(60);
  std::unique_ptr<WorkerRegistry> registry = NewRegistry(o);
  PWGRID_REQUIRE_OK(registry->Ping());
  Server().Stop(/*crash=*/true);
  CHECK(absl::IsUnavailable(registry->Ping()));  // notices; an attempt failed; backoff 5 s
  CHECK(absl::IsUnavailable(registry->Ping()));
  REQUIRE(Server().Resume().ok());
  PWGRID_CHECK_OK(registry->Ping());  // a worker checking whether Redis is back hears yes now
}

TEST_CASE("a Redis that went away does not kill the process with SIGPIPE") {
  // A "Redis" that answers the connection's PING, then closes. The next big command is written in
  // several write(2) calls; those after the peer's reset raise SIGPIPE, whose default action
  // would end this test process (a host process, in production).
  uint16_t port = 0;
  const int listener = ListenOnLoopback(&port);
  std::thread fake([listener] {
    const int c = ::accept(listener, nullptr, nullptr);
    char buf[256];
    (void)::recv(c, buf, sizeof(buf), 0);  // the PING
    (void)::send(c, "+PONG\r\n", 7, MSG_NOSIGNAL);
    ::close(c);
  });
  internal::RedisEndpoint e;
  e.port = port;
  internal::RedisConnection conn(e);
  PWGRID_REQUIRE_OK(conn.Connect());
  fake.join();
  ::close(listener);
  absl::StatusOr<internal::RedisValue> r = conn.Command({"SET", "k", std::string(32 << 20, 'x')});
  CHECK(absl::IsUnavailable(r.status()));
  CHECK(!conn.connected());
}

}  // namespace
}  // namespace pwgrid
