// pwgrid-server configuration: upstream names, defaults and messages; flags override env.
#include "server/config.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>

#include <map>
#include <string>
#include <vector>

#include "tests/fake_playwright_core.h"

namespace pwgrid::server {
namespace {

absl::StatusOr<ServerConfig> Load(std::map<std::string, std::string> env,
                                  std::vector<std::string> args = {}) {
  return LoadConfig(
      [&env](const char* name) -> const char* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
      },
      args);
}

TEST_CASE("defaults are upstream's") {
  ServerConfig c = Load({}).value();
  CHECK(c.max_concurrent_sessions == 5);
  CHECK(c.max_lifetime_sessions == 50);
  CHECK(c.worker_select_timeout_s == 5);
  CHECK(c.default_browser == BrowserType::kChromium);
  CHECK(c.port == 8080);
  CHECK(c.redis_host.empty());
  CHECK(c.local_workers == 2);
}

TEST_CASE("invalid values name their variable, with upstream's wording") {
  CHECK(Load({{"MAX_CONCURRENT_SESSIONS", "0"}}).status().message() ==
        "MAX_CONCURRENT_SESSIONS must be greater than zero");
  CHECK(Load({{"MAX_LIFETIME_SESSIONS", "-3"}}).status().message() ==
        "MAX_LIFETIME_SESSIONS must be greater than zero");
  CHECK(Load({{"WORKER_SELECT_TIMEOUT", "13"}}).status().message() ==
        "WORKER_SELECT_TIMEOUT must not exceed 12s");
  CHECK(Load({{"DEFAULT_BROWSER_TYPE", "Chromium"}}).status().message() ==
        "DEFAULT_BROWSER_TYPE must be one of: chromium, firefox, webkit");
  CHECK(Load({{"MAX_CONCURRENT_SESSIONS", "abc"}}).status().message() ==
        "MAX_CONCURRENT_SESSIONS: 'abc' is not an integer");
  CHECK(Load({{"LOG_FORMAT", "xml"}}).status().message().find("LOG_FORMAT") != std::string::npos);
  CHECK(Load({{"REDIS_HOST", "redis"}}).status().message() == "REDIS_PORT is required");
  CHECK(Load({{"SERVER_PORT", "70000"}}).status().message().find("SERVER_PORT") !=
        std::string::npos);
}

TEST_CASE("SERVER_HOST: IP addresses and host names are checked when the configuration loads") {
  CHECK(Load({{"SERVER_HOST", "127.0.0.1"}}).value().listen_address == "127.0.0.1");
  CHECK(Load({{"SERVER_HOST", "::1"}}).value().listen_address == "::1");
  ServerConfig named = Load({{"SERVER_HOST", "localhost"}}).value();
  CHECK(named.listen_address == "127.0.0.1");
  CHECK(named.host == "localhost");
  const absl::Status bad = Load({{"SERVER_HOST", "no-such-host.invalid"}}).status();
  CHECK(absl::IsInvalidArgument(bad));
  CHECK(bad.message().rfind("SERVER_HOST: 'no-such-host.invalid' is neither an IP address nor",
                            0) == 0);
}

TEST_CASE("BROWSER_LOG that cannot be written is reported as BROWSER_LOG's problem") {
  CHECK(Load({{"BROWSER_LOG", "/nonexistent/dir/log"}}).status().message() ==
        "BROWSER_LOG: cannot open '/nonexistent/dir/log' for writing: No such file or directory");
}

TEST_CASE("QUEUE_TIMEOUT: past upstream's 12 s cap, up to a day; WORKER_SELECT_TIMEOUT unchanged") {
  auto c = Load({{"QUEUE_TIMEOUT", "1800"}, {"WORKER_SELECT_TIMEOUT", "7"}});
  REQUIRE(c.ok());
  CHECK(c->queue_timeout_s == 1800);
  CHECK(c->worker_select_timeout_s == 7);
  CHECK(Load({}).value().queue_timeout_s == 0);  // unset: WORKER_SELECT_TIMEOUT applies
  CHECK(Load({{"QUEUE_TIMEOUT", "86400"}}).ok());
  CHECK(Load({{"QUEUE_TIMEOUT", "86401"}}).status().message().find("QUEUE_TIMEOUT") !=
        std::string::npos);
  CHECK(Load({{"QUEUE_TIMEOUT", "0"}}).status().message().find("QUEUE_TIMEOUT") !=
        std::string::npos);
  CHECK(Load({{"WORKER_SELECT_TIMEOUT", "13"}, {"QUEUE_TIMEOUT", "60"}}).status().message() ==
        "WORKER_SELECT_TIMEOUT must not exceed 12s");  // upstream's validation stays
  CHECK(Load({}, {"--queue-timeout=90"}).value().queue_timeout_s == 90);
}

TEST_CASE("an integer too large names the allowed range") {
  CHECK(Load({{"MAX_CONCURRENT_SESSIONS", "99999999999"}}).status().message() ==
        "MAX_CONCURRENT_SESSIONS must be between 1 and 1048576");
  CHECK(Load({{"SERVER_PORT", "-99999999999999999999"}}).status().message() ==
        "SERVER_PORT must be between 0 and 65535");
  CHECK(Load({{"MAX_CONCURRENT_SESSIONS", "12abc"}}).status().message() ==
        "MAX_CONCURRENT_SESSIONS: '12abc' is not an integer");
}

TEST_CASE("flags override the environment; --help is reported") {
  ServerConfig c = Load({{"MAX_CONCURRENT_SESSIONS", "3"}},
                        {"--max-concurrent-sessions=7", "--local-workers", "4"})
                       .value();
  CHECK(c.max_concurrent_sessions == 7);
  CHECK(c.local_workers == 4);
  CHECK(absl::IsNotFound(Load({}, {"--help"}).status()));
  CHECK(absl::IsInvalidArgument(Load({}, {"--no-such-flag=1"}).status()));
  CHECK(HelpText().find("--worker-select-timeout=VALUE  (WORKER_SELECT_TIMEOUT)") !=
        std::string::npos);
}

}  // namespace
TEST_CASE("AUTH_TOKENS: named and unnamed tokens; bad entries name the variable") {
  auto c = Load({{"AUTH_TOKENS", "team-a:s3cret, other"}});
  REQUIRE(c.ok());
  REQUIRE(c->auth_tokens.size() == 2);
  CHECK(c->auth_tokens[0].name == "team-a");
  CHECK(c->auth_tokens[0].secret == "s3cret");
  CHECK(c->auth_tokens[1].name == "token2");
  CHECK(c->auth_tokens[1].secret == "other");
  CHECK(Load({}).value().auth_tokens.empty());
  CHECK(Load({{"AUTH_TOKENS", "a,,b"}}).status().message() == "AUTH_TOKENS: an entry is empty");
  CHECK(Load({{"AUTH_TOKENS", "x:"}}).status().message() ==
        "AUTH_TOKENS: entry 1 has an empty name or token");
  CHECK(Load({{"AUTH_TOKENS", "a:t,b:t"}}).status().message() ==
        "AUTH_TOKENS: entry 2 repeats an earlier token");
}

TEST_CASE("AUTH_TOKENS_FILE must be readable with valid tokens; not with AUTH_TOKENS") {
  CHECK(Load({{"AUTH_TOKENS_FILE", "/nonexistent/tokens"}}).status().message() ==
        "AUTH_TOKENS_FILE: cannot read /nonexistent/tokens");
  char path[] = "/tmp/pwgrid-tokens-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, "team-a:s3cret\n", 14) == 14);
  close(fd);
  CHECK(Load({{"AUTH_TOKENS_FILE", path}}).value().auth_tokens_file == path);
  CHECK(Load({{"AUTH_TOKENS_FILE", path}}).value().token_file->size() == 1);  // read at load
  CHECK(Load({{"AUTH_TOKENS_FILE", path}, {"AUTH_TOKENS", "x"}}).status().message() ==
        "set AUTH_TOKENS or AUTH_TOKENS_FILE, not both");
  std::remove(path);
}

TEST_CASE("the limits: defaults, values, and messages naming the variable") {
  ServerConfig d = Load({}).value();
  CHECK(d.max_client_connections == 0);
  CHECK(d.max_connections_per_address == 0);
  CHECK(d.peer_timeout_s == 60);
  CHECK(d.session_idle_timeout_s == 0);
  CHECK(d.session_max_duration_s == 0);
  CHECK(d.worker_allowed_networks.size() == 6);
  CHECK_FALSE(d.protect_metrics);
  auto c = Load({{"MAX_CLIENT_CONNECTIONS", "500"},
                 {"MAX_CONNECTIONS_PER_ADDRESS", "20"},
                 {"PEER_TIMEOUT", "0"},
                 {"SESSION_IDLE_TIMEOUT", "300"},
                 {"SESSION_MAX_DURATION", "3600"},
                 {"WORKER_ALLOWED_NETWORKS", "10.0.0.0/8, 192.168.5.0/24"}});
  REQUIRE(c.ok());
  CHECK(c->max_client_connections == 500);
  CHECK(c->max_connections_per_address == 20);
  CHECK(c->peer_timeout_s == 0);
  CHECK(c->session_idle_timeout_s == 300);
  CHECK(c->session_max_duration_s == 3600);
  REQUIRE(c->worker_allowed_networks.size() == 2);
  CHECK(c->worker_allowed_networks[1].ToString() == "192.168.5.0/24");
  CHECK(Load({{"PEER_TIMEOUT", "1"}}).status().message() ==
        "PEER_TIMEOUT must be 0 (off) or between 2 and 86400");
  CHECK(Load({{"MAX_CLIENT_CONNECTIONS", "-1"}}).status().message() ==
        "MAX_CLIENT_CONNECTIONS must be between 0 and 16777216");
  CHECK(Load({{"SESSION_IDLE_TIMEOUT", "soon"}}).status().message() ==
        "SESSION_IDLE_TIMEOUT: 'soon' is not an integer");
  CHECK(Load({{"WORKER_ALLOWED_NETWORKS", "10.0.0.0/40"}}).status().message() ==
        "WORKER_ALLOWED_NETWORKS: '10.0.0.0/40': the prefix length must be 0..32");
}

TEST_CASE("BUSY_POLL_US: off by default, microseconds up to 1000") {
  CHECK(Load({}).value().busy_poll_us == 0);
  CHECK(Load({{"BUSY_POLL_US", "20"}}).value().busy_poll_us == 20);
  CHECK(Load({{"BUSY_POLL_US", "5000"}}).status().message() ==
        "BUSY_POLL_US must be between 0 and 1000");
  CHECK(Load({{"BUSY_POLL_US", "-1"}}).status().message() ==
        "BUSY_POLL_US must be between 0 and 1000");
}

TEST_CASE("ADMIN_TOKENS and PROTECT_METRICS") {
  auto c = Load({{"ADMIN_TOKENS", "ops:adm1n"}, {"PROTECT_METRICS", "true"}});
  REQUIRE(c.ok());
  CHECK(c->protect_metrics);
  CHECK(c->admin_tokens[0].name == "ops");
  CHECK(Load({{"PROTECT_METRICS", "true"}}).status().message() ==
        "PROTECT_METRICS=true needs ADMIN_TOKENS");
  CHECK(Load({{"PROTECT_METRICS", "yes please"}}).status().message() ==
        "PROTECT_METRICS must be true or false");
  CHECK(Load({{"ADMIN_TOKENS", "ops:same"}, {"AUTH_TOKENS", "ci:same"}}).status().message() ==
        "ADMIN_TOKENS: the token of ops is also a client token");
  CHECK(Load({{"ADMIN_TOKENS", ":x"}}).status().message() ==
        "ADMIN_TOKENS: entry 1 has an empty name or token");
}

TEST_CASE("AUTH_TOKENS carries quotas: name:token:max=N") {
  auto c = Load({{"AUTH_TOKENS", "ci:s3cret:max=4,adhoc:x"}});
  REQUIRE(c.ok());
  CHECK(c->auth_tokens[0].max_sessions == 4);
  CHECK(c->auth_tokens[1].max_sessions == 0);
  CHECK(Load({{"AUTH_TOKENS", "ci:s3cret:max=0"}}).status().message() ==
        "AUTH_TOKENS: entry 1: max= must be a whole number of sessions, at least 1");
}

TEST_CASE("VERSION_POLICY: route (default) or any") {
  CHECK(Load({}).value().version_policy == VersionPolicy::kRoute);
  CHECK(Load({{"VERSION_POLICY", "any"}}).value().version_policy == VersionPolicy::kAny);
  CHECK(Load({}, {"--version-policy=any"}).value().version_policy == VersionPolicy::kAny);
  CHECK(Load({{"VERSION_POLICY", "strict"}}).status().message() ==
        "VERSION_POLICY must be one of: route, any");
}

TEST_CASE("LOCAL_PLAYWRIGHT_CORE_DIRS: local workers of several versions, checked at load") {
  testing::FakePlaywrightCore v164("1.64.1");
  testing::FakePlaywrightCore v166("1.66.0");
  // Unset: LOCAL_WORKERS of the pinned version.
  ServerConfig c = Load({{"LOCAL_WORKERS", "3"}}).value();
  REQUIRE(c.local_versions.size() == 1);
  CHECK(c.local_versions[0].playwright_core_dir.empty());
  CHECK(c.local_versions[0].workers == 3);
  c = Load({{"LOCAL_PLAYWRIGHT_CORE_DIRS", "pinned=2, " + v164.dir() + "=1," + v166.dir()},
            {"LOCAL_WORKERS", "4"}})
          .value();
  REQUIRE(c.local_versions.size() == 3);
  CHECK(c.local_versions[0].workers == 2);
  CHECK(c.local_versions[1].playwright_core_dir == v164.dir());
  CHECK(c.local_versions[1].playwright_version == "1.64.1");
  CHECK(c.local_versions[1].workers == 1);
  CHECK(c.local_versions[2].playwright_version == "1.66.0");
  CHECK(c.local_versions[2].workers == 4);  // LOCAL_WORKERS, whatever the order of the settings
  // Problems name the setting and the entry.
  CHECK(Load({{"LOCAL_PLAYWRIGHT_CORE_DIRS", "/nonexistent/pw=1"}}).status().message() ==
        "LOCAL_PLAYWRIGHT_CORE_DIRS: cannot read /nonexistent/pw/package.json");
  testing::FakePlaywrightCore other("1.0.0", "left-pad");
  CHECK(Load({{"LOCAL_PLAYWRIGHT_CORE_DIRS", other.dir()}}).status().message() ==
        "LOCAL_PLAYWRIGHT_CORE_DIRS: " + other.dir() + "/package.json is not playwright-core's");
  CHECK(Load({{"LOCAL_PLAYWRIGHT_CORE_DIRS", "pinned=0"}}).status().message() ==
        "LOCAL_PLAYWRIGHT_CORE_DIRS: the count of pinned must be between 1 and 64, not '0'");
  CHECK(Load({{"LOCAL_PLAYWRIGHT_CORE_DIRS", "pinned,,pinned"}}).status().message() ==
        "LOCAL_PLAYWRIGHT_CORE_DIRS: an entry is empty");
  CHECK(Load({{"LOCAL_PLAYWRIGHT_CORE_DIRS", "pinned=40," + v164.dir() + "=30"}})
            .status()
            .message() == "LOCAL_PLAYWRIGHT_CORE_DIRS: 70 local workers in all, at most 64");
}

}  // namespace pwgrid::server
