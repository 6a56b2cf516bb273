// Shared test vectors for the selection rule (reference §4.1): the C++ rule (ChooseWorker) and
// the Redis Lua script must pick the same worker for every one of them.
#ifndef PWGRID_TESTS_SELECTION_VECTORS_H_
#define PWGRID_TESTS_SELECTION_VECTORS_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "pwgrid/selection_policy.h"
#include "pwgrid/types.h"

namespace pwgrid::testvectors {

inline WorkerLoad W(std::string id, int64_t lifetime, int64_t active,
                    WorkerStatus status = WorkerStatus::kAvailable, bool alive = true,
                    BrowserType browser = BrowserType::kChromium) {
  WorkerLoad w;
  w.info.id = std::move(id);
  w.info.browser = browser;
  w.info.endpoint = "ws://127.0.0.1:1/x";
  w.info.status = status;
  w.lifetime = lifetime;
  w.active = active;
  w.alive = alive;
  return w;
}

struct SelectionVector {
  std::string name;
  std::vector<WorkerLoad> workers;
  int64_t c = 5;
  int64_t l = 50;
  BrowserType browser = BrowserType::kChromium;
  std::string expected;        // a worker id, or "none"
  std::string client_version;  // the client's Playwright version; "" unknown
};

// W() of Playwright version `version`.
inline WorkerLoad V(std::string id, std::string version, int64_t lifetime, int64_t active,
                    WorkerStatus status = WorkerStatus::kAvailable, bool alive = true) {
  WorkerLoad w = W(std::move(id), lifetime, active, status, alive);
  w.info.playwright_version = std::move(version);
  return w;
}

// Fleets of several Playwright versions: the rule within the client's group.
inline std::vector<SelectionVector> VersionVectors() {
  const auto kChromium = BrowserType::kChromium;
  return {
      {"version: the client's own version over a more used worker of another",
       {V("a", "1.64.0", 9, 0), V("b", "1.65.1", 3, 0)},
       5,
       50,
       kChromium,
       "b",
       "1.65.0"},
      {"version: a worker without a version serves any client",
       {V("u", "", 2, 0), V("a", "1.64.0", 5, 0)},
       5,
       50,
       kChromium,
       "u",
       "1.65.3"},
      {"version: no worker of the client's version",
       {V("a", "1.64.0", 0, 0), V("b", "1.65.1", 0, 0)},
       5,
       50,
       kChromium,
       "none",
       "1.66.0"},
      {"version: a client of unknown version takes the best of every version",
       {V("a", "1.64.0", 5, 0), V("b", "1.65.1", 7, 0)},
       5,
       50,
       kChromium,
       "b",
       ""},
      {"version: an unparsable client version is unknown",
       {V("a", "1.64.0", 5, 0), V("b", "1.65.1", 7, 0)},
       5,
       50,
       kChromium,
       "b",
       "next"},
      {"version: the margin's N counts the client's group only",
       {V("a", "1.65.0", 8, 0), V("b", "1.65.0", 0, 0), V("c", "1.64.0", 0, 0),
        V("d", "1.64.0", 0, 0), V("e", "1.64.0", 0, 0), V("f", "1.64.0", 0, 0)},
       5,
       10,
       kChromium,
       "b",
       "1.65.1"},
      {"version: the recycle stagger is the group's",
       {V("a", "1.64.0", 3, 0, WorkerStatus::kDraining), V("b", "1.65.0", 9, 0)},
       5,
       10,
       kChromium,
       "b",
       "1.65.1"},
      {"version: a recycle in the group staggers the group",
       {V("a", "1.65.0", 3, 0, WorkerStatus::kDraining), V("b", "1.65.0", 9, 0)},
       5,
       10,
       kChromium,
       "none",
       "1.65.1"},
      {"version: workers without a version are in every group",
       {V("u", "", 3, 0, WorkerStatus::kDraining), V("b", "1.65.0", 9, 0)},
       5,
       10,
       kChromium,
       "none",
       "1.65.1"},
  };
}

// `count` random fleets of mixed versions (and workers without one); clients of each version,
// of one no worker has, and of none. The expected worker is ChooseWorker's answer.
inline std::vector<SelectionVector> RandomVersionVectors(int count, uint32_t seed = 20261203) {
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  const char* versions[] = {"", "1.64.0", "1.65.1", "1.65.0-next", "1.66.2"};
  const char* clients[] = {"", "1.64.1", "1.65.1", "1.66.0", "1.67.0"};
  const WorkerStatus statuses[] = {WorkerStatus::kAvailable, WorkerStatus::kAvailable,
                                   WorkerStatus::kAvailable, WorkerStatus::kDraining,
                                   WorkerStatus::kShuttingDown};
  std::vector<SelectionVector> out;
  for (int i = 0; i < count; ++i) {
    SelectionVector v;
    v.name = "random version #" + std::to_string(i);
    v.c = 1 + pick(6);
    v.l = 1 + pick(40);
    v.client_version = clients[pick(5)];
    const int n = pick(12);
    for (int k = 0; k < n; ++k) {
      v.workers.push_back(V("w" + std::to_string(k), versions[pick(5)],
                            pick(static_cast<int>(v.l) + 2), pick(static_cast<int>(v.c) + 2),
                            statuses[pick(5)], pick(6) != 0));
    }
    std::optional<size_t> chosen = ChooseWorker(v.workers, v.browser, v.client_version, {v.c, v.l});
    v.expected = chosen ? v.workers[*chosen].info.id : "none";
    out.push_back(std::move(v));
  }
  return out;
}

inline std::vector<SelectionVector> TableVectors() {
  const auto kDraining = WorkerStatus::kDraining;
  const auto kAvailable = WorkerStatus::kAvailable;
  std::vector<WorkerLoad> mixed = {
      W("draining", 5, 0, kDraining),
      W("stopping", 5, 0, WorkerStatus::kShuttingDown),
      W("expired", 5, 0, kAvailable, /*alive=*/false),
      W("firefox", 5, 0, kAvailable, true, BrowserType::kFirefox),
  };
  std::vector<WorkerLoad> with_fresh = mixed;
  with_fresh.push_back(W("fresh", 0, 0));
  std::vector<WorkerLoad> live = {W("A", 30, 0), W("B", 20, 0)};
  std::vector<WorkerLoad> stale = live;
  stale.push_back(W("dead1", 0, 0, kAvailable, false));
  stale.push_back(W("dead2", 0, 0, kAvailable, false));
  return {
      // margin = 20/4 = 5, threshold 15: B(12), C(8), D(3) are primary; B has the highest lifetime.
      {"upstream worked example: 4 workers, L=20, C=5 picks B",
       {W("A", 18, 2), W("B", 12, 1), W("C", 8, 0), W("D", 3, 1)},
       5,
       20,
       BrowserType::kChromium,
       "B"},
      // C and D count in N = 4 (margin 5) but are not eligible: no primary, the fallback picks A.
      {"upstream worked example: only A(18) and B(17) eligible",
       {W("A", 18, 0), W("B", 17, 0), W("C", 2, 5), W("D", 1, 0, kDraining)},
       5,
       20,
       BrowserType::kChromium,
       "A"},
      {"two workers, N=2, margin 10: no primary",
       {W("A", 18, 0), W("B", 17, 0)},
       5,
       20,
       BrowserType::kChromium,
       "A"},
      {"one fresh worker", {W("A", 0, 0)}, 5, 50, BrowserType::kChromium, "A"},
      {"one worker just under both limits", {W("A", 49, 4)}, 5, 50, BrowserType::kChromium, "A"},
      {"one worker at C", {W("A", 49, 5)}, 5, 50, BrowserType::kChromium, "none"},
      {"one worker at L", {W("A", 50, 0)}, 5, 50, BrowserType::kChromium, "none"},
      {"workers at each limit are skipped",
       {W("full", 3, 5), W("old", 10, 0), W("ok", 1, 4)},
       5,
       10,
       BrowserType::kChromium,
       "ok"},
      {"draining, shutting-down, expired, other browser: none", mixed, 5, 50,
       BrowserType::kChromium, "none"},
      {"plus one fresh worker", with_fresh, 5, 50, BrowserType::kChromium, "fresh"},
      {"firefox request", with_fresh, 5, 50, BrowserType::kFirefox, "firefox"},
      {"webkit request", with_fresh, 5, 50, BrowserType::kWebkit, "none"},
      // 2 live workers, L=50: margin 25, threshold 25: A(30) is not primary, B(20) is.
      {"stale entries: live only", live, 5, 50, BrowserType::kChromium, "B"},
      // Plus 2 dead entries: N=4, margin 12, threshold 38: A(30) becomes primary and wins.
      {"stale entries count in N and shrink the margin (upstream I1)", stale, 5, 50,
       BrowserType::kChromium, "A"},
      {"ties: lower active first",
       {W("B", 3, 1), W("A", 3, 2)},
       5,
       50,
       BrowserType::kChromium,
       "B"},
      {"ties: then the smaller id",
       {W("B", 3, 1), W("A", 3, 1)},
       5,
       50,
       BrowserType::kChromium,
       "A"},
      // pwgrid's recycle stagger: A's next session would reach L while B drains: C is chosen.
      {"stagger: no second worker reaches L while one drains",
       {W("A", 9, 0), W("B", 10, 1, kDraining), W("C", 2, 0)},
       5,
       10,
       BrowserType::kChromium,
       "C"},
      {"stagger: a worker at L (not yet draining) counts as recycling",
       {W("A", 9, 0), W("B", 10, 0), W("C", 2, 0)},
       5,
       10,
       BrowserType::kChromium,
       "C"},
      {"stagger: nothing else eligible: the client waits",
       {W("A", 9, 0), W("B", 10, 0)},
       5,
       10,
       BrowserType::kChromium,
       "none"},
      {"stagger: dead and other-browser workers do not count",
       {W("A", 9, 0), W("B", 10, 0, kDraining, false),
        W("F", 10, 0, kDraining, true, BrowserType::kFirefox)},
       5,
       10,
       BrowserType::kChromium,
       "A"},
  };
}

// `count` random vectors from a fixed seed; their expected worker is ChooseWorker's answer.
inline std::vector<SelectionVector> RandomVectors(int count, uint32_t seed = 20261122) {
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  const BrowserType browsers[] = {BrowserType::kChromium, BrowserType::kFirefox,
                                  BrowserType::kWebkit};
  const WorkerStatus statuses[] = {WorkerStatus::kAvailable, WorkerStatus::kAvailable,
                                   WorkerStatus::kAvailable, WorkerStatus::kDraining,
                                   WorkerStatus::kShuttingDown};
  std::vector<SelectionVector> out;
  for (int i = 0; i < count; ++i) {
    SelectionVector v;
    v.name = "random #" + std::to_string(i);
    v.c = 1 + pick(6);
    v.l = 1 + pick(40);
    v.browser = browsers[pick(4) == 0 ? 1 + pick(2) : 0];
    const int n = pick(9);
    for (int k = 0; k < n; ++k) {
      v.workers.push_back(W("w" + std::to_string(k), pick(static_cast<int>(v.l) + 2),
                            pick(static_cast<int>(v.c) + 2), statuses[pick(5)], pick(6) != 0,
                            browsers[pick(5) == 0 ? 1 + pick(2) : 0]));
    }
    std::optional<size_t> chosen = ChooseWorker(v.workers, v.browser, {v.c, v.l});
    v.expected = chosen ? v.workers[*chosen].info.id : "none";
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace pwgrid::testvectors

#endif  // PWGRID_TESTS_SELECTION_VECTORS_H_
