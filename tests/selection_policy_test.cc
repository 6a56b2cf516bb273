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

TEST_CASE("the shared version table: the rule within the client's group") {
  for (const testvectors::SelectionVector& v : testvectors::VersionVectors()) {
    CAPTURE(v.name);
    std::optional<size_t> i =
        ChooseWorker(v.workers, v.browser, v.client_version, SessionLimits{v.c, v.l});
    CHECK((i ? v.workers[*i].info.id : std::string("none")) == v.expected);
  }
}

TEST_CASE("Playwright versions match on a normalized major.minor") {
  CHECK(PlaywrightMinor("1.65.1") == "1.65");
  CHECK(PlaywrightMinor("1.65") == "1.65");
  CHECK(PlaywrightMinor("01.065-next") == "1.65");
  CHECK(PlaywrightMinor("1.65.0-alpha-2026") == "1.65");
  CHECK(PlaywrightMinor("1.6x").empty());
  CHECK(PlaywrightMinor("1").empty());
  CHECK(PlaywrightMinor("v1.65").empty());
  CHECK(PlaywrightMinor("1234567890.1").empty());
  CHECK(PlaywrightMinor("").empty());
  CHECK(VersionsMatch("1.65.1", "1.65.0"));
  CHECK_FALSE(VersionsMatch("1.64.1", "1.65.0"));
  CHECK(VersionsMatch("", "1.65.0"));
  CHECK(VersionsMatch("1.64.1", ""));
  WorkerInfo w;
  w.id = "chromium:x";
  w.endpoint = "ws://127.0.0.1:1/x";
  w.playwright_version = "latest";
  CHECK(absl::IsInvalidArgument(ValidateWorkerInfo(w)));
  w.playwright_version = "1.65.1";
  CHECK(ValidateWorkerInfo(w).ok());
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
