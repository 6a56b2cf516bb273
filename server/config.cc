// pwgrid-server's settings (one SettingsTable) and the checks across them.
#include "server/config.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "pwgrid/browser_server.h"
#include "server/file_check.h"
#include "server/resolve.h"
#include "server/settings.h"

namespace pwgrid::server {
namespace {

using ServerSetting = Setting<ServerConfig>;

// An integer too large for `int` parses here (as a value out of every range), so that its
// message names the allowed range rather than saying it is not an integer.
absl::StatusOr<int64_t> ParseInt(const char* name, const std::string& value) {
  int64_t out = 0;
  if (absl::SimpleAtoi(value, &out)) return out;
  absl::string_view digits(value);
  const bool negative = absl::ConsumePrefix(&digits, "-");
  if (!negative) absl::ConsumePrefix(&digits, "+");
  if (!digits.empty() && digits.find_first_not_of("0123456789") == absl::string_view::npos) {
    return negative ? INT64_MIN : INT64_MAX;
  }
  return absl::InvalidArgumentError(absl::StrCat(name, ": '", value, "' is not an integer"));
}

// SERVER_HOST: an IP address as it is, or a host name resolved now.
absl::Status ApplyServerHost(const std::string& v, ServerConfig& c) {
  absl::StatusOr<std::string> address = ResolveHostAddress("SERVER_HOST", v);
  if (!address.ok()) return address.status();
  c.host = v;
  c.listen_address = *std::move(address);
  return absl::OkStatus();
}

// An integer setting with an allowed range and upstream-style messages.
ServerSetting IntSetting(const char* env, const char* help, const char* def, int min, int max,
                         int ServerConfig::*field) {
  return ServerSetting{
      env, help, def, [env, min, max, field](const std::string& v, ServerConfig& c) {
        absl::StatusOr<int64_t> n = ParseInt(env, v);
        if (!n.ok()) return n.status();
        if (min == 1 && *n < 1) {
          return absl::InvalidArgumentError(absl::StrCat(env, " must be greater than zero"));
        }
        if (*n < min || *n > max) {
          return absl::InvalidArgumentError(
              absl::StrCat(env, " must be between ", min, " and ", max));
        }
        c.*field = static_cast<int>(*n);
        return absl::OkStatus();
      }};
}

ServerSetting StringSetting(const char* env, const char* help, const char* def,
                            std::string ServerConfig::*field) {
  return ServerSetting{env, help, def, [field](const std::string& v, ServerConfig& c) {
                         c.*field = v;
                         return absl::OkStatus();
                       }};
}

// A token list (ParseAccessTokens' format, comma-separated).
ServerSetting TokensSetting(const char* env, const char* help, const char* def,
                            std::vector<AccessToken> ServerConfig::*field) {
  return ServerSetting{
      env, help, def, [env, field](const std::string& v, ServerConfig& c) {
        for (absl::string_view entry : absl::StrSplit(v, ',')) {
          if (absl::StripAsciiWhitespace(entry).empty()) {
            return absl::InvalidArgumentError(absl::StrCat(env, ": an entry is empty"));
          }
        }
        absl::StatusOr<std::vector<AccessToken>> tokens = ParseAccessTokens(v);
        if (!tokens.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(env, ": ", tokens.status().message()));
        }
        c.*field = *std::move(tokens);
        return absl::OkStatus();
      }};
}

ServerSetting BoolSetting(const char* env, const char* help, const char* def,
                          bool ServerConfig::*field) {
  return ServerSetting{
      env, help, def, [env, field](const std::string& v, ServerConfig& c) {
        const std::string lower = absl::AsciiStrToLower(v);
        if (lower == "true" || lower == "1") {
          c.*field = true;
        } else if (lower == "false" || lower == "0") {
          c.*field = false;
        } else {
          return absl::InvalidArgumentError(absl::StrCat(env, " must be true or false"));
        }
        return absl::OkStatus();
      }};
}

const SettingsTable<ServerConfig>& Table() {
  static const auto* table = new SettingsTable<ServerConfig>(
      {
          StringSetting("REDIS_HOST",
                        "Redis host; unset: embedded mode with local workers, no Redis", "",
                        &ServerConfig::redis_host),
          IntSetting("REDIS_PORT", "Redis port", "", 1, 65535, &ServerConfig::redis_port),
          IntSetting("REAPER_RUN_INTERVAL",
                     "seconds between runs of the reaper of dead workers' counters (Redis mode)",
                     "300", 1, 1 << 30, &ServerConfig::reaper_interval_s),
          IntSetting("SHUTDOWN_COMMAND_TTL", "seconds a recycle command stays in Redis", "60", 1,
                     1 << 30, &ServerConfig::shutdown_command_ttl_s),
          StringSetting("REDIS_PASSWORD", "Redis AUTH password", "(none)",
                        &ServerConfig::redis_password),
          IntSetting("REDIS_DB", "Redis database index", "0", 0, 1 << 20, &ServerConfig::redis_db),
          IntSetting(
              "LEASE_TTL",
              "seconds after which a session of a vanished proxy frees its slot (Redis mode)", "30",
              1, 86400, &ServerConfig::lease_ttl_s),
          IntSetting("MAX_CONCURRENT_SESSIONS", "sessions open at once per worker", "5", 1, 1 << 20,
                     &ServerConfig::max_concurrent_sessions),
          IntSetting("MAX_LIFETIME_SESSIONS", "sessions per worker before it is recycled", "50", 1,
                     1 << 30, &ServerConfig::max_lifetime_sessions),
          ServerSetting{
              "WORKER_SELECT_TIMEOUT", "seconds a client waits for a free worker (1..12)", "5",
              [](const std::string& v, ServerConfig& c) {
                absl::StatusOr<int64_t> n = ParseInt("WORKER_SELECT_TIMEOUT", v);
                if (!n.ok()) return n.status();
                if (*n <= 0) {
                  return absl::InvalidArgumentError(
                      "WORKER_SELECT_TIMEOUT must be greater than zero");
                }
                if (*n > 12)
                  return absl::InvalidArgumentError("WORKER_SELECT_TIMEOUT must not exceed 12s");
                c.worker_select_timeout_s = static_cast<int>(*n);
                return absl::OkStatus();
              }},
          IntSetting("QUEUE_TIMEOUT",
                     "seconds a client waits for a free worker, overriding WORKER_SELECT_TIMEOUT "
                     "and its 12 s cap (pwgrid; 1..86400)",
                     "(WORKER_SELECT_TIMEOUT)", 1, 86400, &ServerConfig::queue_timeout_s),
          ServerSetting{"DEFAULT_BROWSER_TYPE",
                        "browser when ?browser= is absent: chromium, firefox, webkit", "chromium",
                        [](const std::string& v, ServerConfig& c) {
                          absl::StatusOr<BrowserType> b = ParseBrowserType(v);
                          if (!b.ok()) {
                            return absl::InvalidArgumentError(
                                "DEFAULT_BROWSER_TYPE must be one of: chromium, firefox, webkit");
                          }
                          c.default_browser = *b;
                          return absl::OkStatus();
                        }},
          ServerSetting{"LOG_LEVEL", "trace, debug, info, warn, error", "info",
                        [](const std::string& v, ServerConfig& c) {
                          static const std::map<std::string, LogLevel> kLevels = {
                              {"trace", LogLevel::kTrace},  {"debug", LogLevel::kDebug},
                              {"info", LogLevel::kInfo},    {"warn", LogLevel::kWarn},
                              {"warning", LogLevel::kWarn}, {"error", LogLevel::kError},
                              {"fatal", LogLevel::kError},  {"panic", LogLevel::kError}};
                          auto it = kLevels.find(absl::AsciiStrToLower(v));
                          if (it == kLevels.end()) {
                            return absl::InvalidArgumentError(
                                "LOG_LEVEL must be one of: trace, debug, info, warn, error");
                          }
                          c.log_level = it->second;
                          return absl::OkStatus();
                        }},
          ServerSetting{"LOG_FORMAT", "text or json", "text",
                        [](const std::string& v, ServerConfig& c) {
                          if (v != "json" && v != "text") {
                            return absl::InvalidArgumentError(
                                "LOG_FORMAT must be one of: text, json");
                          }
                          c.log_json = v == "json";
                          return absl::OkStatus();
                        }},
          ServerSetting{"SERVER_HOST", "listen address: an IP address or a host name", "0.0.0.0",
                        ApplyServerHost},
          IntSetting("SERVER_PORT", "listen port (0: any free port)", "8080", 0, 65535,
                     &ServerConfig::port),
          IntSetting("LOCAL_WORKERS", "local Chromium workers in embedded mode (1..64)", "2", 1, 64,
                     &ServerConfig::local_workers),
          ServerSetting{"LOCAL_PLAYWRIGHT_CORE_DIRS",
                        "embedded mode's workers of several Playwright versions: comma-separated "
                        "DIR[=COUNT], DIR a playwright-core package directory or \"pinned\", COUNT "
                        "workers of it (default LOCAL_WORKERS); 64 workers at most in all",
                        "(LOCAL_WORKERS of the pinned version)",
                        [](const std::string& v, ServerConfig& c) {
                          c.local_versions.clear();
                          for (absl::string_view entry : absl::StrSplit(v, ',')) {
                            entry = absl::StripAsciiWhitespace(entry);
                            if (entry.empty()) {
                              return absl::InvalidArgumentError(
                                  "LOCAL_PLAYWRIGHT_CORE_DIRS: an entry is empty");
                            }
                            LocalWorkerVersion version;
                            const size_t eq = entry.rfind('=');
                            std::string dir(entry.substr(0, eq));
                            if (eq != absl::string_view::npos) {
                              const std::string count(entry.substr(eq + 1));
                              if (!absl::SimpleAtoi(count, &version.workers) ||
                                  version.workers < 1 || version.workers > 64) {
                                return absl::InvalidArgumentError(
                                    absl::StrCat("LOCAL_PLAYWRIGHT_CORE_DIRS: the count of ", dir,
                                                 " must be between 1 and 64, not '", count, "'"));
                              }
                            }
                            if (dir != "pinned") {
                              absl::StatusOr<std::string> found = PlaywrightCoreVersion(dir);
                              if (!found.ok()) {
                                return absl::InvalidArgumentError(absl::StrCat(
                                    "LOCAL_PLAYWRIGHT_CORE_DIRS: ", found.status().message()));
                              }
                              version.playwright_core_dir = dir;
                              version.playwright_version = *std::move(found);
                            }
                            c.local_versions.push_back(std::move(version));
                          }
                          return absl::OkStatus();
                        }},
          ServerSetting{"VERSION_POLICY",
                        "route: a client gets a worker of its Playwright major.minor (428 when "
                        "the grid has none); any: any worker, the client's version not "
                        "forwarded (upstream's proxy)",
                        "route",
                        [](const std::string& v, ServerConfig& c) {
                          absl::StatusOr<VersionPolicy> p = ParseVersionPolicy(v);
                          if (!p.ok()) {
                            return absl::InvalidArgumentError(
                                "VERSION_POLICY must be one of: route, any");
                          }
                          c.version_policy = *p;
                          return absl::OkStatus();
                        }},
          IntSetting("SPARE_BROWSERS", "browsers kept launched for instant recycling (0..8)", "1",
                     0, 8, &ServerConfig::spare_browsers),
          StringSetting("CHROMIUM_PATH", "Chromium executable for local workers",
                        "/usr/bin/chromium", &ServerConfig::chromium_path),
          StringSetting("PWGRID_NODE", "node executable that runs the browser launcher", "node",
                        &ServerConfig::node_path),
          StringSetting("PWGRID_LAUNCHER", "browser launcher script",
                        "(the one beside the library)", &ServerConfig::launcher_path),
          IntSetting("DRAIN_TIMEOUT", "seconds a recycled worker may take to finish its sessions",
                     "300", 0, 86400, &ServerConfig::drain_timeout_s),
          IntSetting("SHUTDOWN_GRACE_PERIOD", "seconds open sessions get to finish on SIGTERM",
                     "30", 0, 86400, &ServerConfig::shutdown_grace_s),
          IntSetting("IO_THREADS", "relay I/O threads (1..256)", "2", 1, 256,
                     &ServerConfig::io_threads),
          IntSetting("BUSY_POLL_US",
                     "microseconds an I/O thread keeps polling after its last event before it "
                     "sleeps: lower round trips for CPU while sessions are busy (0: off; 20 "
                     "suits a dedicated proxy)",
                     "0", 0, 1000, &ServerConfig::busy_poll_us),
          IntSetting("MAX_WAITING_CLIENTS", "clients waiting for a worker before 429", "1000", 0,
                     1 << 24, &ServerConfig::max_waiting_clients),
          TokensSetting("AUTH_TOKENS",
                        "tokens a client must present (Authorization: Bearer, basic-auth password "
                        "or ?token=), comma-separated, each \"token\", \"name:token\" or "
                        "\"name:token:max=N\" (N: the tenant's session quota)",
                        "(none: no authentication)", &ServerConfig::auth_tokens),
          ServerSetting{"AUTH_TOKENS_FILE",
                        "file of tokens, one \"token\", \"name:token\" or \"name:token:max=N\" "
                        "per line (# comments), re-read on SIGHUP without dropping sessions",
                        "(none)",
                        [](const std::string& v, ServerConfig& c) {
                          absl::StatusOr<std::unique_ptr<TokenFileAuthenticator>> file =
                              TokenFileAuthenticator::Create(v);
                          if (!file.ok()) {
                            return absl::InvalidArgumentError(
                                absl::StrCat("AUTH_TOKENS_FILE: ", file.status().message()));
                          }
                          c.auth_tokens_file = v;
                          c.token_file = *std::move(file);
                          return absl::OkStatus();
                        }},
          TokensSetting("ADMIN_TOKENS",
                        "tokens of the operator's actions (POST /api/v1/workers/{id}/drain, "
                        "DELETE /api/v1/sessions/{id}) and, with PROTECT_METRICS, of /metrics "
                        "and /api/v1/status; comma-separated, each \"token\" or \"name:token\"",
                        "(none)", &ServerConfig::admin_tokens),
          BoolSetting("PROTECT_METRICS",
                      "true: /metrics and /api/v1/status need an admin token (ADMIN_TOKENS)",
                      "false", &ServerConfig::protect_metrics),
          IntSetting("MAX_CLIENT_CONNECTIONS",
                     "client connections open at once; over it a client gets 503 "
                     "(0: sized from the file limit)",
                     "0", 0, 1 << 24, &ServerConfig::max_client_connections),
          IntSetting("MAX_CONNECTIONS_PER_ADDRESS",
                     "client connections open at once from one IP address; over it 503 (0: no "
                     "limit; behind a proxy every client has its address)",
                     "0", 0, 1 << 24, &ServerConfig::max_connections_per_address),
          ServerSetting{"PEER_TIMEOUT",
                        "seconds within which a client or worker gone without a FIN is noticed "
                        "and its session closed (TCP keepalive + TCP_USER_TIMEOUT; 0: kernel "
                        "defaults, else 2..86400)",
                        "60",
                        [](const std::string& v, ServerConfig& c) {
                          absl::StatusOr<int64_t> n = ParseInt("PEER_TIMEOUT", v);
                          if (!n.ok()) return n.status();
                          if (*n != 0 && (*n < 2 || *n > 86400)) {
                            return absl::InvalidArgumentError(
                                "PEER_TIMEOUT must be 0 (off) or between 2 and 86400");
                          }
                          c.peer_timeout_s = static_cast<int>(*n);
                          return absl::OkStatus();
                        }},
          IntSetting("SESSION_IDLE_TIMEOUT",
                     "seconds without a byte either way after which a session is closed (close "
                     "frame 1008; 0: never)",
                     "0", 0, 1 << 24, &ServerConfig::session_idle_timeout_s),
          IntSetting("SESSION_MAX_DURATION",
                     "seconds after which a session is closed (close frame 1008; 0: never)", "0", 0,
                     1 << 24, &ServerConfig::session_max_duration_s),
          ServerSetting{"WORKER_ALLOWED_NETWORKS",
                        "CIDR list: worker endpoints outside it are never dialled (0.0.0.0/0,::/0: "
                        "any)",
                        "127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,::1/128,fc00::/7",
                        [](const std::string& v, ServerConfig& c) {
                          absl::StatusOr<std::vector<IpNetwork>> n = ParseIpNetworks(v);
                          if (!n.ok()) {
                            return absl::InvalidArgumentError(
                                absl::StrCat("WORKER_ALLOWED_NETWORKS: ", n.status().message()));
                          }
                          c.worker_allowed_networks = *std::move(n);
                          return absl::OkStatus();
                        }},
          ServerSetting{
              "BROWSER_LOG", "file that receives node's and Chromium's stderr", "(discarded)",
              [](const std::string& v, ServerConfig& c) {
                if (absl::Status s = CheckWritableFile("BROWSER_LOG", v); !s.ok()) return s;
                c.browser_log = v;
                return absl::OkStatus();
              }},
      },
      SettingsStyle{/*report_all=*/false, /*empty_is_unset=*/true, /*empty_is_value=*/"REDIS_HOST",
                    /*flag_value_may_follow=*/true, /*flag_names_any_case=*/false});
  return *table;
}

}  // namespace

std::string HelpText() {
  return Table().HelpText(
      "pwgrid-server: a Playwright grid endpoint (ws://host:port/?browser=chromium)\n\n"
      "Every setting is an environment variable; the flag of the same name overrides "
      "it.\n\n",
      [](const ServerSetting& s) {
        return absl::StrCat(SettingsTable<ServerConfig>::FlagName(s.env), "=VALUE  (", s.env, ")");
      });
}

absl::StatusOr<ServerConfig> LoadConfig(const std::function<const char*(const char*)>& env,
                                        const std::vector<std::string>& args) {
  absl::StatusOr<ServerConfig> loaded = Table().Load(env, args);
  if (!loaded.ok()) return loaded.status();
  ServerConfig& config = *loaded;
  if (!config.redis_host.empty() && config.redis_port == 0) {
    return absl::InvalidArgumentError("REDIS_PORT is required");
  }
  if (config.redis_host.empty() && config.redis_port != 0) {
    return absl::InvalidArgumentError("REDIS_HOST is required");
  }
  if (config.local_versions.empty()) {
    config.local_versions.push_back({"", "", config.local_workers});
  }
  int local_total = 0;
  for (LocalWorkerVersion& v : config.local_versions) {
    if (v.workers == 0) v.workers = config.local_workers;
    local_total += v.workers;
  }
  if (local_total > 64) {
    return absl::InvalidArgumentError(absl::StrCat("LOCAL_PLAYWRIGHT_CORE_DIRS: ", local_total,
                                                   " local workers in all, at most 64"));
  }
  if (!config.auth_tokens.empty() && !config.auth_tokens_file.empty()) {
    return absl::InvalidArgumentError("set AUTH_TOKENS or AUTH_TOKENS_FILE, not both");
  }
  if (config.protect_metrics && config.admin_tokens.empty()) {
    return absl::InvalidArgumentError("PROTECT_METRICS=true needs ADMIN_TOKENS");
  }
  for (const AccessToken& admin : config.admin_tokens) {
    for (const AccessToken& client : config.auth_tokens) {
      if (admin.secret == client.secret) {
        return absl::InvalidArgumentError(
            absl::StrCat("ADMIN_TOKENS: the token of ", admin.name, " is also a client token"));
      }
    }
  }
  return loaded;
}

}  // namespace pwgrid::server
