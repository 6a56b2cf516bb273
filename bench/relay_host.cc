// relay_host: a pwgrid Relay in front of given workers, for the benchmarks. It embeds the library
// as a host application would: a registry (in memory, or Redis shared with other proxies), a
// Selector and a Relay on 127.0.0.1. Prints "port N" once it listens and runs until stdin closes.
//
// Usage: relay_host workers=ws://127.0.0.1:P/x[,…] [registry=memory|redis] [redis_port=N]
//                   [io_threads=2] [buffer_bytes=65536] [busy_poll_us=0]
// Limits are C = L = 1,000,000,000: the benchmarks measure the relay, not recycling.
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/bench_args.h"
#include "pwgrid/redis_worker_registry.h"
#include "pwgrid/relay.h"
#include "pwgrid/selector.h"
#include "pwgrid/types.h"
#include "pwgrid/worker_registry.h"

namespace {

int Fail(const std::string& what) { return pwgrid::bench::Fail("relay_host", what); }

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::map<std::string, std::string>> parsed =
      pwgrid::bench::ParseArgs("relay_host", argc, argv,
                               {{"workers", ""},
                                {"registry", "memory"},
                                {"redis_port", "6379"},
                                {"io_threads", "2"},
                                {"buffer_bytes", "65536"},
                                {"busy_poll_us", "0"}});
  if (!parsed) return 1;
  std::map<std::string, std::string>& args = *parsed;
  int redis_port = 0, io_threads = 0, busy_poll_us = 0;
  size_t buffer_bytes = 0;
  if (!absl::SimpleAtoi(args["redis_port"], &redis_port) ||
      !absl::SimpleAtoi(args["io_threads"], &io_threads) ||
      !absl::SimpleAtoi(args["buffer_bytes"], &buffer_bytes) ||
      !absl::SimpleAtoi(args["busy_poll_us"], &busy_poll_us)) {
    return Fail("redis_port, io_threads, buffer_bytes and busy_poll_us must be integers");
  }
  absl::StatusOr<std::unique_ptr<pwgrid::WorkerRegistry>> registry;
  if (args["registry"] == "redis") {
    pwgrid::RedisRegistryOptions o;
    o.port = redis_port;
    registry = pwgrid::NewRedisWorkerRegistry(o);
  } else if (args["registry"] == "memory") {
    registry = pwgrid::NewInMemoryWorkerRegistry({});
  } else {
    return Fail("registry must be memory or redis");
  }
  if (!registry.ok()) return Fail(registry.status().ToString());
  int n = 0;
  for (absl::string_view endpoint : absl::StrSplit(args["workers"], ',', absl::SkipEmpty())) {
    pwgrid::WorkerInfo w;
    w.id = "chromium:" + pwgrid::NewUuid();
    w.endpoint = std::string(endpoint);
    w.started_at_ms = absl::ToUnixMillis(absl::Now());
    if (absl::Status s = (*registry)->Register(w, absl::Hours(24)); !s.ok())
      return Fail(s.ToString());
    ++n;
  }
  if (n == 0) return Fail("workers= is required");
  pwgrid::SelectorOptions so;
  so.limits = {1'000'000'000, 1'000'000'000};
  so.max_waiting = 100'000;
  absl::StatusOr<std::unique_ptr<pwgrid::Selector>> selector =
      pwgrid::NewRegistrySelector(registry->get(), so);
  if (!selector.ok()) return Fail(selector.status().ToString());
  pwgrid::RelayOptions ro;
  ro.listen_address = "127.0.0.1";
  ro.port = 0;
  ro.io_threads = io_threads;
  ro.busy_poll = absl::Microseconds(busy_poll_us);
  ro.buffer_bytes = buffer_bytes;
  // The benchmark holds as many connections as the file limit allows (bench/run.py sizes them):
  // the relay's default, sized with a reserve of its own, would refuse the last few.
  ro.max_client_connections = 1 << 24;
  absl::StatusOr<std::unique_ptr<pwgrid::Relay>> relay = pwgrid::Relay::Create(ro, selector->get());
  if (!relay.ok()) return Fail(relay.status().ToString());
  if (absl::Status s = (*relay)->Start(); !s.ok()) return Fail(s.ToString());
  std::printf("port %d\n", (*relay)->port());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  (*relay)->Stop(absl::ZeroDuration());
  return 0;
}
