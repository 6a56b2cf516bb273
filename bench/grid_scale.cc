// Many proxies sharing one Redis, simulated in one process: `proxies` Redis registries (each its
// own connections and upkeep thread, as each pwgrid-server has), each holding `sessions` open
// leases and making `rate` connects per second (a Reserve, timed; and a Release of its oldest
// session, so that the count stays put) against `workers` workers over `browsers` browser types.
// After a warm-up, measures for `seconds`: Redis's CPU (INFO cpu, user + sys) as a fraction of a
// core, the Reserve latency quantiles over every proxy, and Redis's commands per second: those
// clients sent (total_commands_processed) and those executed including the ones scripts ran
// (INFO commandstats). rate=0: only the lease renewals (lease_ttl / 3) run.
//
// Usage: grid_scale [proxies=20] [sessions=500] [rate=10] [seconds=30] [workers=3000]
//                   [browsers=3] [lease_ttl_s=30]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/bench_args.h"
#include "pwgrid/redis_worker_registry.h"
#include "pwgrid/testing/redis_server.h"

namespace {

int Fail(const std::string& what) { return pwgrid::bench::Fail("grid_scale", what); }

// The numeric fields of an INFO section, by name ("used_cpu_user", "cmdstat_zadd" -> calls).
std::map<std::string, double> Info(const pwgrid::testing::RedisServer& server,
                                   const std::string& section) {
  std::map<std::string, double> out;
  absl::StatusOr<std::string> info = server.Call({"INFO", section});
  if (!info.ok()) return out;
  for (absl::string_view line : absl::StrSplit(*info, absl::ByAnyChar("\r\n"), absl::SkipEmpty())) {
    std::vector<absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits(':', 1));
    if (kv.size() != 2) continue;
    double v = 0;
    if (absl::StartsWith(kv[1], "calls=")) {
      std::vector<absl::string_view> f = absl::StrSplit(kv[1].substr(6), ',');
      if (absl::SimpleAtod(f[0], &v)) out[std::string(kv[0])] = v;
    } else if (absl::SimpleAtod(kv[1], &v)) {
      out[std::string(kv[0])] = v;
    }
  }
  return out;
}

struct Totals {
  double cpu_s = 0;
  double client_commands = 0;
  double executed = 0;
  std::map<std::string, double> by_command;
};

Totals Measure(const pwgrid::testing::RedisServer& server) {
  Totals t;
  std::map<std::string, double> cpu = Info(server, "cpu");
  t.cpu_s = cpu["used_cpu_user"] + cpu["used_cpu_sys"];
  t.client_commands = Info(server, "stats")["total_commands_processed"];
  for (const auto& [k, v] : Info(server, "commandstats")) {
    if (absl::StartsWith(k, "cmdstat_") && k != "cmdstat_info") {
      t.executed += v;
      t.by_command[k.substr(8)] = v;
    }
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::map<std::string, std::string>> parsed =
      pwgrid::bench::ParseArgs("grid_scale", argc, argv,
                               {{"proxies", "20"},
                                {"sessions", "500"},
                                {"rate", "10"},
                                {"seconds", "30"},
                                {"workers", "3000"},
                                {"browsers", "3"},
                                {"lease_ttl_s", "30"}});
  if (!parsed) return 1;
  std::map<std::string, std::string>& args = *parsed;
  int proxies = 0, sessions = 0, workers = 0, browsers = 0, seconds = 0, ttl_s = 0;
  double rate = 0;
  if (!absl::SimpleAtoi(args["proxies"], &proxies) || proxies < 1 ||
      !absl::SimpleAtoi(args["sessions"], &sessions) || sessions < 0 ||
      !absl::SimpleAtod(args["rate"], &rate) || rate < 0 ||
      !absl::SimpleAtoi(args["seconds"], &seconds) || seconds < 1 ||
      !absl::SimpleAtoi(args["workers"], &workers) || workers < 1 ||
      !absl::SimpleAtoi(args["browsers"], &browsers) || browsers < 1 || browsers > 3 ||
      !absl::SimpleAtoi(args["lease_ttl_s"], &ttl_s) || ttl_s < 1) {
    return Fail("bad numbers (see the usage in bench/grid_scale.cc)");
  }
  constexpr pwgrid::BrowserType kKinds[] = {
      pwgrid::BrowserType::kChromium, pwgrid::BrowserType::kFirefox, pwgrid::BrowserType::kWebkit};
  const pwgrid::SessionLimits limits{5, 1'000'000'000};
  if (static_cast<int64_t>(proxies) * (sessions + 1) > static_cast<int64_t>(workers) * 5) {
    return Fail("more sessions than the workers' slots (5 each)");
  }
  absl::StatusOr<std::unique_ptr<pwgrid::testing::RedisServer>> server =
      pwgrid::testing::RedisServer::Start();
  if (!server.ok()) return Fail(server.status().ToString());
  pwgrid::RedisRegistryOptions o;
  o.port = (*server)->port();
  o.subscribe = false;
  o.lease_ttl = absl::Seconds(ttl_s);
  o.command_timeout = absl::Seconds(2);
  absl::StatusOr<std::unique_ptr<pwgrid::WorkerRegistry>> admin = pwgrid::NewRedisWorkerRegistry(o);
  if (!admin.ok()) return Fail(admin.status().ToString());
  for (int i = 0; i < workers; ++i) {
    pwgrid::WorkerInfo w;
    w.browser = kKinds[i % browsers];
    w.id = absl::StrCat(std::string(pwgrid::ToString(w.browser)), ":", pwgrid::NewUuid());
    w.endpoint = absl::StrCat("ws://127.0.0.1:", 10000 + i % 50000, "/playwright/x");
    w.started_at_ms = absl::ToUnixMillis(absl::Now());
    if (absl::Status st = (*admin)->Register(w, absl::Hours(2)); !st.ok()) {
      return Fail(st.ToString());
    }
  }
  std::vector<std::unique_ptr<pwgrid::WorkerRegistry>> registries;
  for (int p = 0; p < proxies; ++p) {
    absl::StatusOr<std::unique_ptr<pwgrid::WorkerRegistry>> r = pwgrid::NewRedisWorkerRegistry(o);
    if (!r.ok()) return Fail(r.status().ToString());
    registries.push_back(*std::move(r));
  }
  const absl::Duration warmup = absl::Seconds(2);
  std::atomic<bool> failed{false};
  absl::Mutex mu;
  std::vector<double> latencies_us;
  std::atomic<int> ready{0};
  std::atomic<bool> measuring{false};
  absl::Time end;
  {
    absl::MutexLock lock(&mu);
    end = absl::Now() + absl::Seconds(3600);  // set once every proxy holds its sessions
  }
  std::vector<std::thread> threads;
  for (int p = 0; p < proxies; ++p) {
    threads.emplace_back([&, p] {
      pwgrid::WorkerRegistry& reg = *registries[p];
      std::deque<pwgrid::Reservation> held;
      int next = p;
      auto reserve = [&](std::vector<double>* lat) {
        pwgrid::ReserveRequest req;
        req.browser = kKinds[next++ % browsers];
        req.limits = limits;
        const auto t0 = std::chrono::steady_clock::now();
        absl::StatusOr<std::optional<pwgrid::Reservation>> r = reg.Reserve(req);
        const double us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count();
        if (!r.ok() || !r->has_value()) {
          failed = true;
          return;
        }
        if (lat != nullptr) lat->push_back(us);
        held.push_back(**r);
      };
      for (int i = 0; i < sessions && !failed; ++i) reserve(nullptr);
      ready.fetch_add(1);
      std::vector<double> mine;
      const absl::Duration every = rate > 0 ? absl::Seconds(1.0 / rate) : absl::Seconds(1);
      absl::Time due = absl::Now() + every * (p + 1) / proxies;  // spread the proxies' phases
      while (!failed) {
        absl::Time stop;
        {
          absl::MutexLock lock(&mu);
          stop = end;
        }
        const absl::Time now = absl::Now();
        if (now >= stop) break;
        if (rate <= 0 || now < due) {
          absl::SleepFor(rate <= 0 ? absl::Milliseconds(20)
                                   : std::min(due - now, absl::Milliseconds(20)));
          continue;
        }
        due += every;
        reserve(measuring.load() ? &mine : nullptr);
        if (static_cast<int>(held.size()) > sessions) {
          (void)reg.Release(held.front(), false);
          held.pop_front();
        }
      }
      for (const pwgrid::Reservation& r : held) (void)reg.Release(r, false);
      absl::MutexLock lock(&mu);
      latencies_us.insert(latencies_us.end(), mine.begin(), mine.end());
    });
  }
  while (ready.load() < proxies && !failed) absl::SleepFor(absl::Milliseconds(10));
  absl::SleepFor(warmup);
  (void)(*server)->Call({"CONFIG", "RESETSTAT"});
  const Totals t0 = Measure(**server);
  measuring = true;
  absl::SleepFor(absl::Seconds(seconds));
  measuring = false;
  const Totals t1 = Measure(**server);
  {
    absl::MutexLock lock(&mu);
    end = absl::Now();
  }
  for (std::thread& t : threads) t.join();
  if (failed) return Fail("a reservation failed (too few free slots?)");
  // The commands Redis ran most (stderr): where its work goes.
  std::vector<std::pair<double, std::string>> top;
  std::map<std::string, double> before = t0.by_command;
  for (const auto& [k, v] : t1.by_command) top.push_back({v - before[k], k});
  std::sort(top.rbegin(), top.rend());
  for (size_t i = 0; i < top.size() && i < 8; ++i) {
    std::fprintf(stderr, "  %s: %.1f/s\n", top[i].second.c_str(), top[i].first / seconds);
  }
  std::sort(latencies_us.begin(), latencies_us.end());
  auto q = [&](double f) {
    return latencies_us.empty() ? 0.0
                                : latencies_us[static_cast<size_t>(f * (latencies_us.size() - 1))];
  };
  std::printf(
      "grid_scale proxies=%d sessions=%d rate=%g workers=%d browsers=%d seconds=%d "
      "redis_cpu_fraction=%.4f connects_per_s=%.1f p50_us=%.1f p99_us=%.1f "
      "client_commands_per_s=%.1f executed_commands_per_s=%.1f\n",
      proxies, sessions, rate, workers, browsers, seconds, (t1.cpu_s - t0.cpu_s) / seconds,
      latencies_us.size() / static_cast<double>(seconds), q(0.5), q(0.99),
      (t1.client_commands - t0.client_commands) / seconds, (t1.executed - t0.executed) / seconds);
  return 0;
}
