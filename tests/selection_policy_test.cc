// The lifetime-first selection rule (reference §4.1), table-driven.
#include "pwgrid/selection_policy.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace pwgrid {
namespace {

WorkerLoad W(std::string id, int64_t lifetime, int64_t active,
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

std::string Pick(const std::vector<WorkerLoad>& ws, int64_t c, int64_t l,
                 BrowserType b = BrowserType::kChromium) {
  std::optional<size_t> i = ChooseWorker(ws, b, SessionLimits{c, l});
  return i ? ws[*i].info.id : "none";
}

TEST_CASE("upstream worked example: 4 workers, L=20, C=5 picks B") {
  // margin = 20/4 = 5, threshold 15: B(12), C(8), D(3) are primary; B has the highest lifetime.
  std::vector<WorkerLoad> ws = {W("A", 18, 2), W("B", 12, 1), W("C", 8, 0), W("D", 3, 1)};
  CHECK(Pick(ws, 5, 20) == "B");
}

TEST_CASE("upstream worked example: only A(18) and B(17) eligible, the fallback picks A") {
  // C and D are known (they count in N = 4, margin 5) but not eligible.
  std::vector<WorkerLoad> ws = {W("A", 18, 0), W("B", 17, 0), W("C", 2, 5), W("D", 1, 0, WorkerStatus::kDraining)};
  CHECK(Pick(ws, 5, 20) == "A");
  std::vector<WorkerLoad> only_two = {W("A", 18, 0), W("B", 17, 0)};  // N=2, margin 10: no primary
  CHECK(Pick(only_two, 5, 20) == "A");
}

TEST_CASE("one worker: plain capacity limiting") {
  CHECK(Pick({W("A", 0, 0)}, 5, 50) == "A");
  CHECK(Pick({W("A", 49, 4)}, 5, 50) == "A");
  CHECK(Pick({W("A", 49, 5)}, 5, 50) == "none");  // at C
  CHECK(Pick({W("A", 50, 0)}, 5, 50) == "none");  // at L
}

TEST_CASE("workers at each limit are not eligible") {
  std::vector<WorkerLoad> ws = {W("full", 3, 5), W("old", 10, 0), W("ok", 1, 4)};
  CHECK(Pick(ws, 5, 10) == "ok");
}

TEST_CASE("draining, shutting-down, expired and other-browser workers are never chosen") {
  std::vector<WorkerLoad> ws = {
      W("draining", 5, 0, WorkerStatus::kDraining),
      W("stopping", 5, 0, WorkerStatus::kShuttingDown),
      W("expired", 5, 0, WorkerStatus::kAvailable, /*alive=*/false),
      W("firefox", 5, 0, WorkerStatus::kAvailable, true, BrowserType::kFirefox),
  };
  CHECK(Pick(ws, 5, 50) == "none");
  ws.push_back(W("fresh", 0, 0));
  CHECK(Pick(ws, 5, 50) == "fresh");
  CHECK(Pick(ws, 5, 50, BrowserType::kFirefox) == "firefox");
  CHECK(Pick(ws, 5, 50, BrowserType::kWebkit) == "none");
}

TEST_CASE("stale entries count in N and shrink the margin (upstream I1)") {
  // 2 live workers, L=50: margin 25, threshold 25: A(30) is not primary, B(20) is.
  std::vector<WorkerLoad> live = {W("A", 30, 0), W("B", 20, 0)};
  CHECK(Pick(live, 5, 50) == "B");
  // Plus 2 dead entries: N=4, margin 12, threshold 38: A(30) becomes primary and wins.
  std::vector<WorkerLoad> stale = live;
  stale.push_back(W("dead1", 0, 0, WorkerStatus::kAvailable, false));
  stale.push_back(W("dead2", 0, 0, WorkerStatus::kAvailable, false));
  CHECK(Pick(stale, 5, 50) == "A");
}

TEST_CASE("ties: lower active first, then the smaller id") {
  CHECK(Pick({W("B", 3, 1), W("A", 3, 2)}, 5, 50) == "B");
  CHECK(Pick({W("B", 3, 1), W("A", 3, 1)}, 5, 50) == "A");
}

TEST_CASE("recycling staggers: sequential sessions fill one worker before the next") {
  // Two workers, L=3 (margin 1, threshold 2); simulate sessions that end before the next starts.
  std::vector<WorkerLoad> ws = {W("A", 0, 0), W("B", 0, 0)};
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    std::optional<size_t> p = ChooseWorker(ws, BrowserType::kChromium, SessionLimits{5, 3});
    REQUIRE(p.has_value());
    order.push_back(ws[*p].info.id);
    ++ws[*p].lifetime;
  }
  // A to the threshold, then B, then the fallback drives A to L: only A recycles.
  CHECK(order == std::vector<std::string>{"A", "A", "B", "B"});
  CHECK(Pick(ws, 5, 3) == "A");
}

}  // namespace
}  // namespace pwgrid
