// pwgrid-worker configuration: upstream's worker variables, defaults and validation.
#include "server/worker_config.h"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/fake_playwright_core.h"

namespace pwgrid::server {
namespace {

using Env = std::map<std::string, std::string>;

absl::StatusOr<WorkerConfig> Load(Env env, std::vector<std::string> args = {}) {
  return LoadWorkerConfig(
      [&env](const char* name) -> const char* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
      },
      args);
}

Env Minimal() { return {{"REDIS_URL", "redis://10.0.0.5:6380"}, {"PORT", "4000"}}; }

Env With(Env env, const std::string& name, const std::string& value) {
  env[name] = value;
  return env;
}

TEST_CASE("defaults are upstream's worker defaults") {
  WorkerConfig c = Load(Minimal()).value();
  CHECK(c.redis.host == "10.0.0.5");
  CHECK(c.redis.port == 6380);
  CHECK(c.redis_key_ttl_s == 60);
  CHECK(c.redis_retry_attempts == 5);
  CHECK(c.redis_retry_delay_s == 3);
  CHECK(c.browser == BrowserType::kChromium);
  CHECK(c.port == 4000);
  CHECK(c.headless);
  CHECK(c.heartbeat_interval_s == 5);
  CHECK(c.log_level == LogLevel::kInfo);
  CHECK(c.log_json);
  CHECK_FALSE(c.restart_after_recycle);
}

TEST_CASE("REDIS_URL and PORT are required; every problem is listed with its variable") {
  absl::Status s = Load({}).status();
  CHECK(absl::IsInvalidArgument(s));
  CHECK(s.message() == "  REDIS_URL: Required\n  PORT: Required");
}

TEST_CASE("invalid values name their variable") {
  struct Case {
    const char* name;
    const char* value;
    const char* message;
  } cases[] = {
      {"REDIS_URL", "http://x", "  REDIS_URL: Invalid Redis URL"},
      {"PORT", "0", "  PORT: must be a positive integer"},
      {"PORT", "70000", "  PORT: must be a positive integer"},
      {"REDIS_KEY_TTL", "-1", "  REDIS_KEY_TTL: must be a positive integer"},
      {"HEARTBEAT_INTERVAL", "1.5", "  HEARTBEAT_INTERVAL: must be a positive integer"},
      {"BROWSER_TYPE", "edge", "  BROWSER_TYPE: must be one of: chromium, firefox, webkit"},
      {"HEADLESS", "yes", "  HEADLESS: must be 'true' or 'false'"},
      {"LOG_LEVEL", "trace", "  LOG_LEVEL: must be one of: debug, info, warn, error"},
      {"LOG_FORMAT", "xml", "  LOG_FORMAT: must be one of: json, text"},
      {"RESTART_AFTER_RECYCLE", "1", "  RESTART_AFTER_RECYCLE: must be 'true' or 'false'"},
      {"DRAIN_TIMEOUT", "-5", "  DRAIN_TIMEOUT: must be a non-negative integer"},
      {"BROWSER_LOG", "/nonexistent/dir/log",
       "  BROWSER_LOG: cannot open '/nonexistent/dir/log' for writing: No such file or directory"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    CAPTURE(c.value);
    CHECK(Load(With(Minimal(), c.name, c.value)).status().message() == c.message);
  }
}

TEST_CASE("REDIS_KEY_TTL must be at least three times HEARTBEAT_INTERVAL") {
  Env env = With(With(Minimal(), "HEARTBEAT_INTERVAL", "10"), "REDIS_KEY_TTL", "29");
  CHECK(Load(env).status().message() ==
        "  REDIS_KEY_TTL: REDIS_KEY_TTL must be at least three times HEARTBEAT_INTERVAL");
  CHECK(Load(With(env, "REDIS_KEY_TTL", "30")).ok());
}

TEST_CASE("Redis URLs: password, database, defaults; TLS is refused") {
  RedisUrl u = ParseRedisUrl("redis://:s3cret@redis.internal:7000/2").value();
  CHECK(u.host == "redis.internal");
  CHECK(u.port == 7000);
  CHECK(u.password == "s3cret");
  CHECK(u.db == 2);
  u = ParseRedisUrl("redis://localhost").value();
  CHECK(u.port == 6379);
  CHECK(u.db == 0);
  CHECK(u.password.empty());
  CHECK(absl::IsInvalidArgument(ParseRedisUrl("rediss://localhost:6379").status()));
  CHECK(absl::IsInvalidArgument(ParseRedisUrl("redis://").status()));
  CHECK(absl::IsInvalidArgument(ParseRedisUrl("redis://host:notaport").status()));
}

TEST_CASE("flags override the environment; unknown flags are refused") {
  WorkerConfig c = Load(Minimal(), {"--port=5000", "--restart-after-recycle=true"}).value();
  CHECK(c.port == 5000);
  CHECK(c.restart_after_recycle);
  CHECK(absl::IsInvalidArgument(Load(Minimal(), {"--no-such-flag=1"}).status()));
  CHECK(absl::IsNotFound(Load(Minimal(), {"--help"}).status()));
}

TEST_CASE("the browser server binds to PRIVATE_HOSTNAME's address, not 0.0.0.0, when it is set") {
  CHECK(Load(Minimal()).value().bind_host == "0.0.0.0");  // upstream: every interface
  CHECK(Load(With(Minimal(), "PRIVATE_HOSTNAME", "127.0.0.1")).value().bind_host == "127.0.0.1");
  CHECK(Load(With(Minimal(), "PRIVATE_HOSTNAME", "localhost")).value().bind_host == "127.0.0.1");
  Env both = With(With(Minimal(), "PRIVATE_HOSTNAME", "localhost"), "BIND_HOST", "0.0.0.0");
  CHECK(Load(both).value().bind_host == "0.0.0.0");  // an explicit BIND_HOST wins
  absl::StatusOr<WorkerConfig> bad =
      Load(With(Minimal(), "PRIVATE_HOSTNAME", "no-such-host.invalid"));
  REQUIRE(!bad.ok());
  CHECK(bad.status().message().find("PRIVATE_HOSTNAME: 'no-such-host.invalid' is neither") !=
        std::string_view::npos);
}

TEST_CASE("PLAYWRIGHT_CORE_DIR: the package to run, its version read at load") {
  CHECK(Load(Minimal()).value().playwright_core_dir.empty());
  testing::FakePlaywrightCore core("1.64.1");
  WorkerConfig c = Load(With(Minimal(), "PLAYWRIGHT_CORE_DIR", core.dir())).value();
  CHECK(c.playwright_core_dir == core.dir());
  CHECK(c.playwright_core_version == "1.64.1");
  CHECK(Load(With(Minimal(), "PLAYWRIGHT_CORE_DIR", "/nonexistent")).status().message() ==
        "  PLAYWRIGHT_CORE_DIR: cannot read /nonexistent/package.json");
  testing::FakePlaywrightCore unversioned("main");
  CHECK(Load(With(Minimal(), "PLAYWRIGHT_CORE_DIR", unversioned.dir())).status().message() ==
        "  PLAYWRIGHT_CORE_DIR: " + unversioned.dir() + "/package.json has no Playwright version");
}

}  // namespace
}  // namespace pwgrid::server
