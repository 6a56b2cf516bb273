// The lifetime-first selection rule (reference §4.1), table-driven.
#include "pwgrid/selection_policy.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/selection_vectors.h"

namespace pwgrid {
namespace {

using testvectors::W;

TEST_CASE("the shared selection table") {
  for (const testvectors::SelectionVector& v : testvectors::TableVectors()) {
    CAPTURE(v.name);
    std::optional<size_t> i = ChooseWorker(v.workers, v.browser, SessionLimits{v.c, v.l});
    CHECK((i ? v.workers[*i].info.id : std::string("none")) == v.expected);
  }
}

std::string Pick(const std::vector<WorkerLoad>& ws, int64_t c, int64_t l) {
  std::optional<size_t> i = ChooseWorker(ws, BrowserType::kChromium, SessionLimits{c, l});
  return i ? ws[*i].info.id : "none";
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
