// pwgrid-server: a Playwright grid endpoint built on libpwgrid.
//
// Embedded mode (no REDIS_HOST): an in-memory registry and a local pool of Chromium workers,
// recycled after MAX_LIFETIME_SESSIONS. Redis mode (REDIS_HOST and REDIS_PORT): the registry is
// Redis, shared with other proxies and with the workers (pwgrid-worker or upstream's); this
// process runs no browsers. SIGTERM/SIGINT: stop accepting, let open sessions finish
// for SHUTDOWN_GRACE_PERIOD, stop the browsers, exit 0.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pwgrid/local_pool.h"
#include "pwgrid/log_format.h"
#include "pwgrid/metrics.h"
#include "pwgrid/redis_worker_registry.h"
#include "pwgrid/relay.h"
#include "pwgrid/selector.h"
#include "pwgrid/version.h"
#include "pwgrid/worker_registry.h"
#include "server/config.h"
#include "server/settings.h"

namespace {

// Embedded mode: the registry is in this process, so heartbeats cost nothing; frequent ones let a
// crashed browser be noticed (and replaced) within a second.
constexpr absl::Duration kEmbeddedHeartbeatInterval = absl::Seconds(1);
constexpr absl::Duration kEmbeddedKeyTtl = absl::Seconds(5);

int Fail(const std::string& message) {
  std::fprintf(stderr, "pwgrid-server: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pwgrid;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (server::WantsVersion(args)) {
    std::printf("%s %s\n", "pwgrid-server", pwgrid::VersionString());
    return 0;
  }
  absl::StatusOr<server::ServerConfig> loaded =
      server::LoadConfig([](const char* name) { return std::getenv(name); }, args);
  if (!loaded.ok()) {
    if (absl::IsNotFound(loaded.status())) {
      std::fputs(server::HelpText().c_str(), stdout);
      return 0;
    }
    return Fail(absl::StrCat("error loading config: ", loaded.status().message()));
  }
  const server::ServerConfig& config = *loaded;
  const bool redis_mode = !config.redis_host.empty();

  // Signals are taken by sigwait() below; block them before any thread starts so that every
  // thread inherits the mask. Broken pipes are reported as errors, not signals.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);  // AUTH_TOKENS_FILE is re-read
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  StreamLoggerOptions log_options;  // LOG_LEVEL applies to every line, the server's own too
  log_options.format = config.log_json ? LogFormat::kLogrusJson : LogFormat::kLogrusText;
  log_options.min_level = config.log_level;
  std::unique_ptr<Logger> logger_owner = *NewStreamLogger(log_options);  // cannot fail: stdout
  Logger& logger = *logger_owner;
  absl::StatusOr<std::unique_ptr<WorkerRegistry>> registry;
  if (redis_mode) {
    RedisRegistryOptions o;
    o.host = config.redis_host;
    o.port = config.redis_port;
    o.password = config.redis_password;
    o.db = config.redis_db;
    o.lease_ttl = absl::Seconds(config.lease_ttl_s);
    o.reaper_interval = absl::Seconds(config.reaper_interval_s);
    o.shutdown_command_ttl = absl::Seconds(config.shutdown_command_ttl_s);
    o.logger = &logger;
    registry = NewRedisWorkerRegistry(o);
  } else {
    RegistryOptions o;
    o.logger = &logger;
    registry = NewInMemoryWorkerRegistry(o);
  }
  if (!registry.ok())
    return Fail(absl::StrCat("error loading config: ", registry.status().message()));

  SelectorOptions selector_options;
  selector_options.limits = {config.max_concurrent_sessions, config.max_lifetime_sessions};
  selector_options.max_waiting = config.max_waiting_clients;
  selector_options.logger = &logger;
  absl::StatusOr<std::unique_ptr<Selector>> selector =
      NewRegistrySelector(registry->get(), selector_options);
  if (!selector.ok()) return Fail(selector.status().ToString());

  // The relay is created (its options checked) before any browser is launched.
  RelayOptions relay_options;
  relay_options.listen_address = config.listen_address;
  relay_options.port = static_cast<uint16_t>(config.port);
  relay_options.io_threads = config.io_threads;
  relay_options.busy_poll = absl::Microseconds(config.busy_poll_us);
  relay_options.default_browser = config.default_browser;
  // QUEUE_TIMEOUT (pwgrid) overrides upstream's WORKER_SELECT_TIMEOUT and its 12 s cap.
  relay_options.select_timeout = absl::Seconds(
      config.queue_timeout_s > 0 ? config.queue_timeout_s : config.worker_select_timeout_s);
  relay_options.logger = &logger;
  MetricsOptions metrics_options;
  metrics_options.mode = redis_mode ? "redis" : "embedded";
  std::unique_ptr<Metrics> metrics = *Metrics::Create(metrics_options);  // its own registry
  relay_options.metrics = metrics.get();
  relay_options.mode = metrics_options.mode;
  relay_options.registry = registry->get();
  relay_options.limits = selector_options.limits;
  std::unique_ptr<Authenticator> authenticator;
  TokenFileAuthenticator* token_file = config.token_file.get();  // reloaded on SIGHUP
  if (!config.auth_tokens.empty()) {
    authenticator = *NewTokenAuthenticator(config.auth_tokens);  // checked by LoadConfig
  }
  relay_options.authenticator = token_file != nullptr ? token_file : authenticator.get();
  std::unique_ptr<Authenticator> admin_authenticator;
  if (!config.admin_tokens.empty()) {
    admin_authenticator = *NewTokenAuthenticator(config.admin_tokens);  // checked by LoadConfig
    relay_options.actions_authenticator = admin_authenticator.get();
    if (config.protect_metrics) relay_options.admin_authenticator = admin_authenticator.get();
  }
  relay_options.max_client_connections = config.max_client_connections;
  relay_options.max_connections_per_address = config.max_connections_per_address;
  relay_options.peer_timeout = absl::Seconds(config.peer_timeout_s);
  relay_options.session_idle_timeout = absl::Seconds(config.session_idle_timeout_s);
  relay_options.session_max_duration = absl::Seconds(config.session_max_duration_s);
  relay_options.allowed_worker_networks = config.worker_allowed_networks;
  relay_options.version_policy = config.version_policy;
  absl::StatusOr<std::unique_ptr<Relay>> relay = Relay::Create(relay_options, selector->get());
  if (!relay.ok()) return Fail(absl::StrCat("error loading config: ", relay.status().message()));

  // Embedded mode: one pool of local workers per Playwright version (LOCAL_PLAYWRIGHT_CORE_DIRS),
  // each with its own spare browsers.
  std::vector<std::unique_ptr<LocalWorkerPool>> pools;
  auto stop_pools = [&pools] {
    for (auto& p : pools) p->Stop();
  };
  int local_workers = 0;
  if (!redis_mode) {
    for (const server::LocalWorkerVersion& version : config.local_versions) {
      LocalPoolOptions pool_options;
      pool_options.workers = version.workers;
      pool_options.spare_browsers = config.spare_browsers;
      pool_options.browser.executable_path = config.chromium_path;
      pool_options.browser.node_path = config.node_path;
      pool_options.browser.launcher_path = config.launcher_path;
      pool_options.browser.log_path = config.browser_log;
      pool_options.browser.playwright_core_dir = version.playwright_core_dir;
      pool_options.agent.heartbeat_interval = kEmbeddedHeartbeatInterval;
      pool_options.agent.key_ttl = kEmbeddedKeyTtl;
      pool_options.agent.drain_timeout = absl::Seconds(config.drain_timeout_s);
      pool_options.agent.logger = &logger;
      absl::StatusOr<std::unique_ptr<LocalWorkerPool>> created =
          LocalWorkerPool::Create(registry->get(), pool_options);
      if (!created.ok()) {
        stop_pools();
        return Fail(created.status().ToString());
      }
      logger.Log({LogLevel::kInfo,
                  absl::StrCat("Starting ", version.workers, " local Chromium worker(s)",
                               version.playwright_core_dir.empty()
                                   ? std::string()
                                   : absl::StrCat(" of Playwright ", version.playwright_version,
                                                  " from ", version.playwright_core_dir)),
                  {}});
      local_workers += version.workers;
      pools.push_back(std::move(*created));
      if (absl::Status s = pools.back()->Start(); !s.ok()) {
        stop_pools();
        return Fail(absl::StrCat("cannot start local workers: ", s.ToString()));
      }
    }
  }

  // The grid's workers per browser and Playwright version, for the startup log; pwgrid_build_info
  // and the status view name the version(s) the local workers run.
  std::map<std::string, int> by_version;
  std::set<std::string> local_versions;
  if (absl::StatusOr<std::vector<WorkerLoad>> workers = (*registry)->Snapshot(); workers.ok()) {
    for (const WorkerLoad& w : *workers) {
      if (!w.alive) continue;
      const std::string minor = PlaywrightMinor(w.info.playwright_version);
      ++by_version[absl::StrCat(std::string(ToString(w.info.browser)), " ",
                                minor.empty() ? "any" : minor)];
      if (!w.info.playwright_version.empty()) local_versions.insert(w.info.playwright_version);
    }
  }
  const std::string playwright_version = pools.empty() ? "" : absl::StrJoin(local_versions, ",");
  if (!pools.empty()) metrics->SetPlaywrightVersion(playwright_version);
  std::vector<std::string> version_counts;
  for (const auto& [version, n] : by_version) {
    version_counts.push_back(absl::StrCat(version, ": ", n));
  }
  logger.Log(
      {LogLevel::kInfo,
       absl::StrCat("Workers by Playwright version: ",
                    version_counts.empty() ? "none yet" : absl::StrJoin(version_counts, ", "),
                    " (version policy: ", std::string(ToString(config.version_policy)), ")"),
       {}});

  if (absl::Status s = (*relay)->Start(); !s.ok()) {
    stop_pools();
    return Fail(s.ToString());
  }
  logger.Log({LogLevel::kInfo,
              absl::StrCat("Starting proxy server at ", config.host, ":", (*relay)->port()),
              {}});
  // pwgrid: the one line that says clients can connect now (the workers are up, the port listens).
  logger.Log({LogLevel::kInfo,
              absl::StrCat("Grid ready: ws://", config.host, ":", (*relay)->port(),
                           "/?browser=", std::string(ToString(config.default_browser)), " (",
                           redis_mode ? absl::StrCat("Redis mode, registry at ", config.redis_host,
                                                     ":", config.redis_port)
                                      : absl::StrCat(local_workers, " local Chromium worker(s)"),
                           ")"),
              {{"version", VersionString()},
               {"mode", redis_mode ? "redis" : "embedded"},
               {"playwrightVersion", playwright_version}}});

  int sig = 0;
  while (true) {
    sigwait(&stop_signals, &sig);
    if (sig != SIGHUP) break;
    if (token_file == nullptr) continue;
    if (absl::Status s = token_file->Reload(); s.ok()) {
      logger.Log({LogLevel::kInfo,
                  absl::StrCat("Reloaded ", token_file->size(), " access token(s) from ",
                               config.auth_tokens_file),
                  {}});
    } else {
      logger.Log(
          {LogLevel::kError, absl::StrCat("Keeping the access tokens in use: ", s.message()), {}});
    }
  }
  logger.Log({LogLevel::kInfo,
              absl::StrCat("Received ", sig == SIGINT ? "SIGINT" : "SIGTERM", ", draining (grace ",
                           config.shutdown_grace_s, "s)"),
              {}});
  (*relay)->Stop(absl::Seconds(config.shutdown_grace_s));
  stop_pools();
  relay->reset();
  selector->reset();
  logger.Log({LogLevel::kInfo, "Stopped", {}});
  return 0;
}
