// pwgrid-server configuration: upstream's environment variables (same names, defaults and
// validation messages where they exist), pwgrid's own additions, and command-line flags that
// override the environment (--max-concurrent-sessions=5 for MAX_CONCURRENT_SESSIONS).
#ifndef PWGRID_SERVER_CONFIG_H_
#define PWGRID_SERVER_CONFIG_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pwgrid/auth.h"
#include "pwgrid/ip_network.h"
#include "pwgrid/logging.h"
#include "pwgrid/relay.h"
#include "pwgrid/types.h"

namespace pwgrid::server {

// One version of the embedded mode's local workers (LOCAL_PLAYWRIGHT_CORE_DIRS).
struct LocalWorkerVersion {
  std::string playwright_core_dir;  // empty: the pinned playwright-core beside the launcher
  std::string playwright_version;   // that package's version ("" for the pinned one until run)
  int workers = 0;                  // >= 1
};

struct ServerConfig {
  // Upstream (playwright-distributed v0.3 proxy).
  std::string redis_host;                                // REDIS_HOST; empty: embedded mode
  int redis_port = 0;                                    // REDIS_PORT
  int reaper_interval_s = 300;                           // REAPER_RUN_INTERVAL
  int shutdown_command_ttl_s = 60;                       // SHUTDOWN_COMMAND_TTL
  int max_concurrent_sessions = 5;                       // MAX_CONCURRENT_SESSIONS
  int max_lifetime_sessions = 50;                        // MAX_LIFETIME_SESSIONS
  int worker_select_timeout_s = 5;                       // WORKER_SELECT_TIMEOUT, 1..12
  BrowserType default_browser = BrowserType::kChromium;  // DEFAULT_BROWSER_TYPE
  LogLevel log_level = LogLevel::kInfo;                  // LOG_LEVEL
  bool log_json = false;                                 // LOG_FORMAT=json|text
  // pwgrid.
  std::string redis_password;              // REDIS_PASSWORD
  int redis_db = 0;                        // REDIS_DB
  int lease_ttl_s = 30;                    // LEASE_TTL (Redis mode)
  std::string host = "0.0.0.0";            // SERVER_HOST, an IP address or a host name
  std::string listen_address = "0.0.0.0";  // SERVER_HOST as an IP address (a name resolved)
  int port = 8080;                         // SERVER_PORT, 0..65535 (0: any free port)
  int local_workers = 2;                   // LOCAL_WORKERS, 1..64 (embedded mode)
  // LOCAL_PLAYWRIGHT_CORE_DIRS: "DIR[=COUNT],…" (DIR "pinned": the pinned version; COUNT:
  // LOCAL_WORKERS); unset: LOCAL_WORKERS workers of the pinned version. 1..64 workers in all.
  std::vector<LocalWorkerVersion> local_versions;
  VersionPolicy version_policy = VersionPolicy::kRoute;  // VERSION_POLICY: route | any
  int spare_browsers = 1;                                // SPARE_BROWSERS, 0..8 (embedded mode)
  std::string chromium_path = "/usr/bin/chromium";       // CHROMIUM_PATH
  std::string node_path = "node";                        // PWGRID_NODE
  std::string launcher_path;       // PWGRID_LAUNCHER; empty: the build's launcher
  int drain_timeout_s = 300;       // DRAIN_TIMEOUT
  int shutdown_grace_s = 30;       // SHUTDOWN_GRACE_PERIOD
  int io_threads = 2;              // IO_THREADS, 1..256
  int busy_poll_us = 0;            // BUSY_POLL_US, 0..1000 (0: off)
  int max_waiting_clients = 1000;  // MAX_WAITING_CLIENTS
  int queue_timeout_s = 0;         // QUEUE_TIMEOUT: overrides WORKER_SELECT_TIMEOUT; 0: unset
  std::string browser_log;         // BROWSER_LOG: file for node and Chromium stderr
  // AUTH_TOKENS: "token" or "name:token" entries, comma-separated; empty: no authentication.
  std::vector<AccessToken> auth_tokens;
  std::string auth_tokens_file;  // AUTH_TOKENS_FILE: re-read on SIGHUP; checked readable at load
  // The tokens of AUTH_TOKENS_FILE as LoadConfig read them (the server uses this one, so the file
  // is read once at start); null without AUTH_TOKENS_FILE.
  std::shared_ptr<TokenFileAuthenticator> token_file;
  // ADMIN_TOKENS: the operator's actions (/api/v1/workers/{id}/drain, /api/v1/sessions/{id}),
  // and with PROTECT_METRICS its views too.
  std::vector<AccessToken> admin_tokens;
  bool protect_metrics = false;  // PROTECT_METRICS: /metrics and /api/v1/status need an admin token
  int max_client_connections = 0;       // MAX_CLIENT_CONNECTIONS; 0: from the file limit
  int max_connections_per_address = 0;  // MAX_CONNECTIONS_PER_ADDRESS; 0: no limit
  int peer_timeout_s = 60;              // PEER_TIMEOUT; 0: the kernel's defaults
  int session_idle_timeout_s = 0;       // SESSION_IDLE_TIMEOUT; 0: off
  int session_max_duration_s = 0;       // SESSION_MAX_DURATION; 0: off
  // WORKER_ALLOWED_NETWORKS: worker endpoints outside these are not dialled.
  std::vector<IpNetwork> worker_allowed_networks = PrivateNetworks();
};

// `env` looks a variable up (nullptr when unset); `args` are argv[1..].
// Returns InvalidArgument naming the variable for any bad value, and NotFound("help") when
// --help was given.
absl::StatusOr<ServerConfig> LoadConfig(const std::function<const char*(const char*)>& env,
                                        const std::vector<std::string>& args);

// The --help text: every setting with its variable, flag, default and meaning.
std::string HelpText();

}  // namespace pwgrid::server

#endif  // PWGRID_SERVER_CONFIG_H_
