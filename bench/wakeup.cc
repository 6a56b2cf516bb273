// Wake-up delay: how long a waiting client waits after a slot is released.
//
// One worker with C = `slots` is full; `waiters` clients wait for it, spread round-robin over
// `proxies` selectors (each with its own registry connection, like separate pwgrid-server
// processes). One held lease at a time is released; the delay is measured from just before
// Release() to the moment the next waiting client's callback receives its lease (which is then
// held). So every sample includes the release round trip, the wake-up (pub/sub across proxies in
// Redis mode) and the reservation round trip. The safety poll is set to 60 s so that it cannot
// serve anyone during the run.
//
// Usage: wakeup [mode=redis|memory] [proxies=2] [slots=1] [waiters=1] [rounds=200]
//        [holder=0|1]   (holder: which proxy holds the initial slots; with proxies=2 and
//                        holder=0 every wake-up of a single waiter crosses proxies)
// Prints one line: mode, sample count, p50, p99, max in microseconds.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/bench_args.h"
#include "pwgrid/redis_worker_registry.h"
#include "pwgrid/selector.h"
#include "pwgrid/testing/redis_server.h"
#include "pwgrid/worker_registry.h"

namespace {

using SteadyClock = std::chrono::steady_clock;

struct Shared {
  absl::Mutex mu;
  std::deque<pwgrid::Lease> held;
  int64_t served = 0;
  int64_t failed = 0;
  SteadyClock::time_point last_served;
};

int Fail(const std::string& what) { return pwgrid::bench::Fail("wakeup", what); }

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::map<std::string, std::string>> parsed =
      pwgrid::bench::ParseArgs("wakeup", argc, argv,
                               {{"mode", "redis"},
                                {"proxies", "2"},
                                {"slots", "1"},
                                {"waiters", "1"},
                                {"rounds", "200"},
                                {"holder", "0"}});
  if (!parsed) return 1;
  std::map<std::string, std::string>& args = *parsed;
  int proxies = 0, slots = 0, waiters = 0, rounds = 0, holder = 0;
  if (!absl::SimpleAtoi(args["proxies"], &proxies) || proxies < 1 ||
      !absl::SimpleAtoi(args["slots"], &slots) || slots < 1 ||
      !absl::SimpleAtoi(args["waiters"], &waiters) || waiters < 1 ||
      !absl::SimpleAtoi(args["rounds"], &rounds) || rounds < 1 ||
      !absl::SimpleAtoi(args["holder"], &holder) || holder < 0 || holder >= proxies) {
    return Fail("proxies, slots, waiters, rounds must be positive integers; 0 <= holder < proxies");
  }
  const bool redis = args["mode"] == "redis";
  if (!redis && args["mode"] != "memory") return Fail("mode must be redis or memory");

  std::unique_ptr<pwgrid::testing::RedisServer> server;
  std::vector<std::unique_ptr<pwgrid::WorkerRegistry>> registries;
  if (redis) {
    absl::StatusOr<std::unique_ptr<pwgrid::testing::RedisServer>> s =
        pwgrid::testing::RedisServer::Start();
    if (!s.ok()) return Fail(s.status().ToString());
    server = std::move(*s);
    for (int i = 0; i < proxies; ++i) {
      pwgrid::RedisRegistryOptions o;
      o.port = server->port();
      absl::StatusOr<std::unique_ptr<pwgrid::WorkerRegistry>> r = pwgrid::NewRedisWorkerRegistry(o);
      if (!r.ok()) return Fail(r.status().ToString());
      registries.push_back(std::move(*r));
    }
  } else {
    absl::StatusOr<std::unique_ptr<pwgrid::WorkerRegistry>> r =
        pwgrid::NewInMemoryWorkerRegistry({});
    if (!r.ok()) return Fail(r.status().ToString());
    registries.push_back(std::move(*r));
  }
  pwgrid::WorkerRegistry* any = registries.front().get();
  pwgrid::WorkerInfo worker;
  worker.id = "chromium:bench";
  worker.endpoint = "ws://127.0.0.1:9/playwright/bench";
  worker.started_at_ms = absl::ToUnixMillis(absl::Now());
  if (absl::Status st = any->Register(worker, absl::Hours(1)); !st.ok()) return Fail(st.ToString());

  pwgrid::SelectorOptions so;
  so.limits = {slots, 1'000'000'000};
  so.max_waiting = waiters + slots;
  so.poll_interval = absl::Seconds(60);
  so.recycle_at_lifetime_limit = false;
  std::vector<std::unique_ptr<pwgrid::Selector>> selectors;
  for (int i = 0; i < proxies; ++i) {
    pwgrid::WorkerRegistry* r = registries[redis ? i : 0].get();
    absl::StatusOr<std::unique_ptr<pwgrid::Selector>> s = pwgrid::NewRegistrySelector(r, so);
    if (!s.ok()) return Fail(s.status().ToString());
    selectors.push_back(std::move(*s));
  }

  Shared shared;
  auto on_lease = [&shared](absl::StatusOr<pwgrid::Lease> lease) {
    SteadyClock::time_point now = SteadyClock::now();
    absl::MutexLock lock(&shared.mu);
    if (!lease.ok()) {
      ++shared.failed;
      std::fprintf(stderr, "wakeup: acquire failed: %s\n", lease.status().ToString().c_str());
      return;
    }
    shared.held.push_back(std::move(*lease));
    shared.last_served = now;
    ++shared.served;
  };
  auto await_served = [&shared](int64_t n) {
    struct Target {
      Shared* shared;
      int64_t n;
    } target{&shared, n};
    absl::MutexLock lock(&shared.mu);
    bool reached = shared.mu.AwaitWithTimeout(
        absl::Condition(
            +[](Target* t) { return t->shared->served + t->shared->failed >= t->n; }, &target),
        absl::Seconds(10));
    return reached && shared.failed == 0;
  };

  std::vector<double> samples_us;
  samples_us.reserve(static_cast<size_t>(rounds) * waiters);
  int64_t expected = 0;
  for (int round = 0; round < rounds; ++round) {
    // Fill the worker from the holder proxy.
    for (int i = 0; i < slots; ++i) {
      selectors[holder]->Acquire(
          {pwgrid::BrowserType::kChromium, absl::Now() + absl::Seconds(10), ""}, on_lease);
    }
    expected += slots;
    if (!await_served(expected)) return Fail("could not fill the worker");
    // Queue the waiters, round-robin over the proxies, starting after the holder.
    for (int i = 0; i < waiters; ++i) {
      pwgrid::Selector* s = selectors[(holder + 1 + i) % proxies].get();
      s->Acquire({pwgrid::BrowserType::kChromium, absl::Now() + absl::Seconds(60), ""}, on_lease);
    }
    for (int tries = 0; tries < 1000; ++tries) {  // wait until they are all queued (bounded)
      int64_t queued = 0;
      for (auto& s : selectors) queued += s->waiting();
      if (queued == waiters) break;
      absl::SleepFor(absl::Milliseconds(1));
    }
    for (int i = 0; i < waiters; ++i) {
      pwgrid::Lease lease;
      {
        absl::MutexLock lock(&shared.mu);
        lease = std::move(shared.held.front());
        shared.held.pop_front();
      }
      SteadyClock::time_point t0 = SteadyClock::now();
      lease.Release();
      ++expected;
      if (!await_served(expected)) return Fail("a waiting client was not served within 10 s");
      absl::MutexLock lock(&shared.mu);
      samples_us.push_back(
          std::chrono::duration<double, std::micro>(shared.last_served - t0).count());
    }
    std::deque<pwgrid::Lease> rest;
    {
      absl::MutexLock lock(&shared.mu);
      rest.swap(shared.held);
    }
    rest.clear();  // releases them
  }
  selectors.clear();
  std::sort(samples_us.begin(), samples_us.end());
  auto q = [&](double p) { return samples_us[static_cast<size_t>(p * (samples_us.size() - 1))]; };
  std::printf(
      "mode=%s proxies=%d slots=%d waiters=%d samples=%zu p50_us=%.0f p99_us=%.0f max_us=%.0f\n",
      args["mode"].c_str(), proxies, slots, waiters, samples_us.size(), q(0.5), q(0.99),
      samples_us.back());
  return 0;
}
