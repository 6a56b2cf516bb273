// Includes every public header, with only the public include directory, and uses a little of
// each. Built twice, as C++17 and as C++20 (see tests/meson.build).
#include <doctest/doctest.h>

#include "pwgrid/browser_server.h"
#include "pwgrid/clock.h"
#include "pwgrid/local_pool.h"
#include "pwgrid/logging.h"
#include "pwgrid/relay.h"
#include "pwgrid/selection_policy.h"
#include "pwgrid/selector.h"
#include "pwgrid/types.h"
#include "pwgrid/worker_agent.h"
#include "pwgrid/worker_registry.h"

TEST_CASE("public API is usable from this language standard") {
  CHECK(pwgrid::ToString(pwgrid::BrowserType::kWebkit) == "webkit");
  CHECK(pwgrid::ParseBrowserType("firefox").value() == pwgrid::BrowserType::kFirefox);
  CHECK(!pwgrid::ParseBrowserType("Chromium").ok());  // case-sensitive, as upstream
  CHECK(pwgrid::NewUuid().size() == 36);
  CHECK(pwgrid::ParseWsEndpoint("ws://[::1]:3131/playwright/x").value().host == "::1");
  CHECK(!pwgrid::ParseWsEndpoint("wss://h:1/").ok());
  CHECK(pwgrid::RewriteEndpointHost("ws://0.0.0.0:3131/p", "worker") == "ws://worker:3131/p");
  CHECK(pwgrid::RewriteEndpointHost("ws://10.0.0.1:3131/p", "worker") == "ws://10.0.0.1:3131/p");
  CHECK(pwgrid::RelayOptions::ForTesting().Validate().ok());
  pwgrid::RelayOptions bad;
  bad.io_threads = 0;
  CHECK(absl::IsInvalidArgument(bad.Validate()));
  CHECK(absl::IsInvalidArgument(pwgrid::Relay::Create(pwgrid::RelayOptions{}, nullptr).status()));
  pwgrid::WorkerAgentOptions agent;
  CHECK(absl::IsInvalidArgument(agent.Validate()));
  CHECK(pwgrid::SystemClock()->Now() > absl::UnixEpoch());
}
