// pwgrid-worker configuration: upstream's worker variables (playwright-distributed v0.3,
// reference §2.2) with the same names, defaults and validation, plus pwgrid's additions.
#ifndef PWGRID_SERVER_WORKER_CONFIG_H_
#define PWGRID_SERVER_WORKER_CONFIG_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pwgrid/logging.h"
#include "pwgrid/types.h"

namespace pwgrid::server {

struct RedisUrl {
  std::string host;
  int port = 6379;
  std::string password;
  int db = 0;
};

struct WorkerConfig {
  // Upstream.
  RedisUrl redis;                // REDIS_URL, required: redis://[[user]:password@]host[:port][/db]
  int redis_key_ttl_s = 60;      // REDIS_KEY_TTL
  int redis_retry_attempts = 5;  // REDIS_RETRY_ATTEMPTS: total connection attempts
  int redis_retry_delay_s = 3;   // REDIS_RETRY_DELAY
  BrowserType browser = BrowserType::kChromium;  // BROWSER_TYPE
  int port = 0;                                  // PORT, required
  std::string private_hostname;                  // PRIVATE_HOSTNAME
  bool headless = true;                          // HEADLESS
  int heartbeat_interval_s = 5;                  // HEARTBEAT_INTERVAL
  LogLevel log_level = LogLevel::kInfo;          // LOG_LEVEL
  bool log_json = true;                          // LOG_FORMAT (upstream's worker defaults to json)
  // pwgrid.
  // BIND_HOST: where the browser server listens; by default PRIVATE_HOSTNAME's address when that
  // is set (so that only the network the proxies use reaches it), else 0.0.0.0.
  std::string bind_host;
  bool restart_after_recycle =
      false;                  // RESTART_AFTER_RECYCLE: launch a fresh browser, keep running
  int drain_timeout_s = 300;  // DRAIN_TIMEOUT
  std::string chromium_path = "/usr/bin/chromium";  // CHROMIUM_PATH
  std::string node_path = "node";                   // PWGRID_NODE
  std::string launcher_path;                        // PWGRID_LAUNCHER
  std::string browser_log;                          // BROWSER_LOG
  // PLAYWRIGHT_CORE_DIR: the playwright-core package to run; empty: the pinned one.
  std::string playwright_core_dir;
  std::string playwright_core_version;  // that package's version, read at load
};

// `env` looks a variable up (nullptr when unset). Returns InvalidArgument whose message lists
// every problem, one "  VARIABLE: message" line each, and NotFound("help") for --help.
absl::StatusOr<WorkerConfig> LoadWorkerConfig(const std::function<const char*(const char*)>& env,
                                              const std::vector<std::string>& args);

absl::StatusOr<RedisUrl> ParseRedisUrl(const std::string& url);

std::string WorkerHelpText();

}  // namespace pwgrid::server

#endif  // PWGRID_SERVER_WORKER_CONFIG_H_
