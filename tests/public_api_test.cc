// Includes every public header (the umbrella pwgrid/pwgrid.h, then each one again on its own),
// with only the public include directory, and uses a little of each. Built twice, as C++17 and
// as C++20 (see tests/meson.build).
#include <doctest/doctest.h>

#include <cstring>

#include "pwgrid/pwgrid.h"

#include "pwgrid/browser_server.h"
#include "pwgrid/clock.h"
#include "pwgrid/local_pool.h"
#include "pwgrid/log_format.h"
#include "pwgrid/logging.h"
#include "pwgrid/redis_worker_registry.h"
#include "pwgrid/relay.h"
#include "pwgrid/selection_policy.h"
#include "pwgrid/selector.h"
#include "pwgrid/types.h"
#include "pwgrid/version.h"
#include "pwgrid/worker_agent.h"
#include "pwgrid/worker_registry.h"

TEST_CASE("public API is usable from this language standard") {
  CHECK(pwgrid::ToString(pwgrid::BrowserType::kWebkit) == "webkit");
  CHECK(pwgrid::ParseBrowserType("firefox").value() == pwgrid::BrowserType::kFirefox);
  CHECK(!pwgrid::ParseBrowserType("Chromium").ok());  // case-sensitive, as upstream
  CHECK(pwgrid::NewUuid().size() == 36);
  CHECK(std::strcmp(pwgrid::VersionString(), PWGRID_VERSION_STRING) == 0);
  CHECK(PWGRID_VERSION ==
        PWGRID_VERSION_MAJOR * 10000 + PWGRID_VERSION_MINOR * 100 + PWGRID_VERSION_PATCH);
  CHECK(pwgrid::RelayOptions{}.listen_address == "127.0.0.1");  // a library binds loopback
  CHECK(pwgrid::RelayOptions::ForTesting().Validate().ok());
  pwgrid::RelayOptions bad;
  bad.io_threads = 0;
  CHECK(absl::IsInvalidArgument(bad.Validate()));
  CHECK(absl::IsInvalidArgument(pwgrid::Relay::Create(pwgrid::RelayOptions{}, nullptr).status()));
  pwgrid::WorkerAgentOptions agent;
  CHECK(agent.Validate().ok());  // collaborators are Create() arguments, not options
  CHECK(absl::IsInvalidArgument(pwgrid::WorkerAgent::Create(nullptr, {}, agent).status()));
  agent.key_ttl = agent.heartbeat_interval;  // below 3 x heartbeat_interval
  CHECK(absl::IsInvalidArgument(agent.Validate()));
  CHECK(pwgrid::SystemClock()->Now() > absl::UnixEpoch());
}
