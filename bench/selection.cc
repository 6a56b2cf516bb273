// Selection cost: Reserve + Release of one session against N registered workers, in memory or in
// a real redis-server (started here on a free loopback port). Workers get spread lifetimes and
// active counts so that the rule has real choices to make. Prints latency quantiles and, in Redis
// mode, Redis's own CPU time per selection (INFO cpu, user + sys). versions=K spreads the workers
// over K Playwright versions (1.60, 1.61, …; worker i has version i mod K) and the clients over
// the same K in turn, so that each selection runs within one version's group; 0: no versions.
// browsers=B spreads workers and clients over B browser types (chromium, firefox, webkit) the
// same way.
//
// Usage: selection [mode=redis|memory] [workers=1000] [count=2000] [versions=0] [browsers=1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/bench_args.h"
#include "pwgrid/redis_worker_registry.h"
#include "pwgrid/testing/redis_server.h"
#include "pwgrid/worker_registry.h"

namespace {

// used_cpu_sys + used_cpu_user of the Redis server, seconds.
double RedisCpu(const pwgrid::testing::RedisServer& server) {
  absl::StatusOr<std::string> info = server.Call({"INFO", "cpu"});
  if (!info.ok()) return 0;
  double total = 0;
  for (absl::string_view line : absl::StrSplit(*info, absl::ByAnyChar("\r\n"), absl::SkipEmpty())) {
    std::vector<absl::string_view> kv = absl::StrSplit(line, ':');
    double v = 0;
    if (kv.size() == 2 && (kv[0] == "used_cpu_sys" || kv[0] == "used_cpu_user") &&
        absl::SimpleAtod(kv[1], &v)) {
      total += v;
    }
  }
  return total;
}

int Fail(const std::string& what) { return pwgrid::bench::Fail("selection", what); }

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::map<std::string, std::string>> parsed =
      pwgrid::bench::ParseArgs("selection", argc, argv,
                               {{"mode", "redis"},
                                {"workers", "1000"},
                                {"count", "2000"},
                                {"versions", "0"},
                                {"browsers", "1"}});
  if (!parsed) return 1;
  std::map<std::string, std::string>& args = *parsed;
  int workers = 0, count = 0, versions = 0;
  if (!absl::SimpleAtoi(args["workers"], &workers) || workers < 1 ||
      !absl::SimpleAtoi(args["count"], &count) || count < 1) {
    return Fail("workers and count must be positive integers");
  }
  if (!absl::SimpleAtoi(args["versions"], &versions) || versions < 0 || versions > 40) {
    return Fail("versions must be in 0..40");
  }
  int browsers = 1;
  if (!absl::SimpleAtoi(args["browsers"], &browsers) || browsers < 1 || browsers > 3) {
    return Fail("browsers must be in 1..3");
  }
  constexpr pwgrid::BrowserType kKinds[] = {
      pwgrid::BrowserType::kChromium, pwgrid::BrowserType::kFirefox, pwgrid::BrowserType::kWebkit};
  auto kind = [&](int i) { return kKinds[i % browsers]; };
  // The i-th worker's or client's Playwright version: "" without versions.
  auto version = [versions](int i) {
    return versions == 0 ? std::string() : absl::StrCat("1.", 60 + i % versions, ".0");
  };
  auto request = [&](int i) {
    pwgrid::ReserveRequest r{kind(i), {5, 1'000'000}};
    r.client_version = version(i);
    return r;
  };
  const bool redis = args["mode"] == "redis";
  if (!redis && args["mode"] != "memory") return Fail("mode must be redis or memory");
  std::unique_ptr<pwgrid::testing::RedisServer> server;
  absl::StatusOr<std::unique_ptr<pwgrid::WorkerRegistry>> registry;
  if (redis) {
    absl::StatusOr<std::unique_ptr<pwgrid::testing::RedisServer>> s =
        pwgrid::testing::RedisServer::Start();
    if (!s.ok()) return Fail(s.status().ToString());
    server = std::move(*s);
    pwgrid::RedisRegistryOptions o;
    o.port = server->port();
    o.subscribe = false;
    registry = pwgrid::NewRedisWorkerRegistry(o);
  } else {
    registry = pwgrid::NewInMemoryWorkerRegistry({});
  }
  if (!registry.ok()) return Fail(registry.status().ToString());
  std::vector<pwgrid::Reservation> held;
  for (int i = 0; i < workers; ++i) {
    pwgrid::WorkerInfo w;
    w.id = absl::StrCat(std::string(pwgrid::ToString(kind(i))), ":", pwgrid::NewUuid());
    w.browser = kind(i);
    w.endpoint = absl::StrCat("ws://127.0.0.1:", 10000 + i % 50000, "/playwright/x");
    w.started_at_ms = absl::ToUnixMillis(absl::Now());
    w.playwright_version = version(i);
    if (absl::Status st = (*registry)->Register(w, absl::Hours(1)); !st.ok())
      return Fail(st.ToString());
  }
  // Spread some load (held for the whole run): 2 sessions per worker, at most 2,000 in all.
  for (int i = 0; i < std::min(2 * workers, 2000); ++i) {
    absl::StatusOr<std::optional<pwgrid::Reservation>> r = (*registry)->Reserve(request(i));
    if (!r.ok() || !r->has_value()) return Fail("could not pre-load the workers");
    held.push_back(**r);
  }
  using Clock = std::chrono::steady_clock;
  std::vector<double> us;
  us.reserve(count);
  const double cpu0 = redis ? RedisCpu(*server) : 0;
  for (int i = 0; i < count; ++i) {
    const Clock::time_point t0 = Clock::now();
    absl::StatusOr<std::optional<pwgrid::Reservation>> r = (*registry)->Reserve(request(i));
    if (!r.ok() || !r->has_value()) return Fail("no worker selected");
    if (absl::Status st = (*registry)->Release(**r, false); !st.ok()) return Fail(st.ToString());
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  const double cpu1 = redis ? RedisCpu(*server) : 0;
  for (const pwgrid::Reservation& r : held) (void)(*registry)->Release(r, false);
  std::sort(us.begin(), us.end());
  auto q = [&](double p) { return us[static_cast<size_t>(p * (us.size() - 1))]; };
  std::printf(
      "selection mode=%s workers=%d versions=%d browsers=%d n=%d p50_us=%.1f p99_us=%.1f "
      "max_us=%.1f "
      "redis_cpu_us_per_selection=%.1f\n",
      args["mode"].c_str(), workers, versions, browsers, count, q(0.5), q(0.99), us.back(),
      redis ? (cpu1 - cpu0) * 1e6 / count : 0.0);
  return 0;
}
