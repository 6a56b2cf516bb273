// pwgrid-worker: one Playwright browser server registered in Redis the way upstream's worker
// registers (reference §5), so pwgrid-server and playwright-distributed's Go proxy can route to it.
//
// Lifecycle: connect to Redis (REDIS_RETRY_ATTEMPTS attempts, REDIS_RETRY_DELAY apart; exit 1 if
// none succeeds) → launch the browser server → register → heartbeat every HEARTBEAT_INTERVAL,
// re-registering (with its current status) when the key vanished → on a shutdown command
// (pub/sub or the command key): draining until active is 0 or DRAIN_TIMEOUT → shutting-down,
// EXPIRE 10, browser closed, key deleted → exit 0, or, with RESTART_AFTER_RECYCLE=true, a fresh
// browser under a new id on the same port. SIGINT/SIGTERM: graceful shutdown, exit 0. Redis
// unreachable for REDIS_RETRY_ATTEMPTS checks in a row: graceful shutdown, exit 1.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "pwgrid/browser_server.h"
#include "pwgrid/log_format.h"
#include "pwgrid/redis_worker_registry.h"
#include "pwgrid/version.h"
#include "pwgrid/worker_agent.h"
#include "server/settings.h"
#include "server/worker_config.h"

namespace {

using namespace pwgrid;

int Exit(Logger& logger, WorkerAgent* agent, int code, const std::string& initiator) {
  if (agent != nullptr) agent->Stop();
  logger.Log({LogLevel::kInfo,
              "Worker cleanup complete. Exiting process.",
              {{"exitCode", absl::StrCat(code)}, {"initiator", initiator}}});
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (server::WantsVersion(args)) {
    std::printf("%s %s\n", "pwgrid-worker", pwgrid::VersionString());
    return 0;
  }
  absl::StatusOr<server::WorkerConfig> loaded =
      server::LoadWorkerConfig([](const char* name) { return std::getenv(name); }, args);
  if (!loaded.ok()) {
    if (absl::IsNotFound(loaded.status())) {
      std::fputs(server::WorkerHelpText().c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "Configuration validation failed:\n%s\n",
                 std::string(loaded.status().message()).c_str());
    return 1;
  }
  const server::WorkerConfig& config = *loaded;

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  StreamLoggerOptions log_options;  // LOG_LEVEL applies to every line, the server's own too
  log_options.format = config.log_json ? LogFormat::kWorkerJson : LogFormat::kWorkerText;
  log_options.min_level = config.log_level;
  std::unique_ptr<Logger> logger_owner = *NewStreamLogger(log_options);  // cannot fail: stdout
  Logger& logger = *logger_owner;

  RedisRegistryOptions redis;
  redis.host = config.redis.host;
  redis.port = config.redis.port;
  redis.password = config.redis.password;
  redis.db = config.redis.db;
  redis.connect_timeout = absl::Seconds(2);  // upstream's socket connect timeout
  redis.reconnect_backoff_min = absl::Milliseconds(200);
  redis.reconnect_backoff_max = absl::Seconds(config.redis_retry_delay_s);
  redis.logger = &logger;
  absl::StatusOr<std::unique_ptr<WorkerRegistry>> registry = NewRedisWorkerRegistry(redis);
  if (!registry.ok()) {
    std::fprintf(stderr, "Configuration validation failed:\n  %s\n",
                 std::string(registry.status().message()).c_str());
    return 1;
  }
  // Startup: REDIS_RETRY_ATTEMPTS attempts in total.
  for (int attempt = 1;; ++attempt) {
    absl::Status ping = (*registry)->Ping();
    if (ping.ok()) break;
    if (attempt >= config.redis_retry_attempts) {
      logger.Log({LogLevel::kError, absl::StrCat("Failed to start worker: ", ping.message()), {}});
      return Exit(logger, nullptr, 1, "startup");
    }
    logger.Log(
        {LogLevel::kWarn, absl::StrCat("Redis not reachable, retrying: ", ping.message()), {}});
    absl::SleepFor(absl::Seconds(config.redis_retry_delay_s));
  }

  WorkerAgentOptions agent_options;
  agent_options.browser = config.browser;
  agent_options.heartbeat_interval = absl::Seconds(config.heartbeat_interval_s);
  agent_options.key_ttl = absl::Seconds(config.redis_key_ttl_s);
  agent_options.drain_timeout = absl::Seconds(config.drain_timeout_s);
  agent_options.advertised_host = config.private_hostname;
  agent_options.replacement =
      config.restart_after_recycle ? Replacement::kAfterStop : Replacement::kNone;
  agent_options.logger = &logger;
  BrowserServerOptions browser;
  browser.browser = config.browser;
  browser.node_path = config.node_path;
  browser.launcher_path = config.launcher_path;
  browser.executable_path = config.browser == BrowserType::kChromium ? config.chromium_path : "";
  browser.host = config.bind_host;
  browser.port = config.port;
  browser.headless = config.headless;
  browser.log_path = config.browser_log;
  browser.playwright_core_dir = config.playwright_core_dir;
  agent_options.launch_timeout = browser.start_timeout;
  absl::StatusOr<std::unique_ptr<WorkerAgent>> agent = WorkerAgent::Create(
      registry->get(), [browser] { return LaunchBrowserServer(browser); }, agent_options);
  if (!agent.ok()) {
    std::fprintf(stderr, "Configuration validation failed:\n  %s\n",
                 std::string(agent.status().message()).c_str());
    return 1;
  }
  if (absl::Status s = (*agent)->Start(); !s.ok()) {
    logger.Log({LogLevel::kError, absl::StrCat("Failed to start worker: ", s.message()), {}});
    return Exit(logger, agent->get(), 1, "startup");
  }

  int redis_failures = 0;
  absl::Time next_redis_check = absl::Now() + absl::Seconds(config.redis_retry_delay_s);
  while (true) {
    timespec tick{0, 200 * 1000 * 1000};
    const int sig = sigtimedwait(&stop_signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      const std::string name = sig == SIGINT ? "SIGINT" : "SIGTERM";
      logger.Log({LogLevel::kInfo, absl::StrCat("Received ", name, ", shutting down"), {}});
      return Exit(logger, agent->get(), 0, name);
    }
    if (std::optional<RetireReason> done = (*agent)->Wait(absl::ZeroDuration())) {
      return Exit(logger, agent->get(), *done == RetireReason::kBrowserExited ? 1 : 0,
                  std::string(ToString(*done)));
    }
    if (absl::Now() >= next_redis_check) {
      next_redis_check = absl::Now() + absl::Seconds(config.redis_retry_delay_s);
      absl::Status ping = (*registry)->Ping();
      if (ping.ok()) {
        if (redis_failures > 0)
          logger.Log({LogLevel::kInfo, "Redis state restored after reconnect", {}});
        redis_failures = 0;
      } else if (++redis_failures >= config.redis_retry_attempts) {
        logger.Log({LogLevel::kError,
                    absl::StrCat("Redis reconnect attempts exhausted: ", ping.message()),
                    {}});
        return Exit(logger, agent->get(), 1, "redis_main_reconnect_exhausted");
      } else {
        logger.Log({LogLevel::kWarn,
                    absl::StrCat("Redis unreachable (attempt ", redis_failures, " of ",
                                 config.redis_retry_attempts, "): ", ping.message()),
                    {}});
      }
    }
  }
}
