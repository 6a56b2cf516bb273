// pwgrid-worker's settings (one SettingsTable, upstream's worker messages) and REDIS_URL parsing.
#include "server/worker_config.h"

#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "pwgrid/browser_server.h"
#include "server/file_check.h"
#include "server/resolve.h"
#include "server/settings.h"

namespace pwgrid::server {
namespace {

// z.coerce.number().int().positive(): "5.5", "0", "" and "x" are all rejected.
bool PositiveInt(const std::string& v, int* out) {
  return absl::SimpleAtoi(v, out) && *out > 0 &&
         v.find_first_not_of("0123456789+") == std::string::npos;
}

}  // namespace

absl::StatusOr<RedisUrl> ParseRedisUrl(const std::string& url) {
  absl::string_view rest(url);
  const bool tls = absl::ConsumePrefix(&rest, "rediss://");
  if (!tls && !absl::ConsumePrefix(&rest, "redis://")) {
    return absl::InvalidArgumentError("Invalid Redis URL");
  }
  if (tls) return absl::InvalidArgumentError("rediss:// (TLS) is not supported by pwgrid-worker");
  RedisUrl out;
  absl::string_view authority = rest.substr(0, rest.find('/'));
  absl::string_view path =
      authority.size() < rest.size() ? rest.substr(authority.size() + 1) : absl::string_view();
  if (size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    absl::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    if (size_t colon = userinfo.find(':'); colon != absl::string_view::npos) {
      out.password = std::string(userinfo.substr(colon + 1));
    } else {
      out.password = std::string(userinfo);
    }
  }
  absl::string_view host = authority;
  if (absl::ConsumePrefix(&host, "[")) {
    size_t close = host.find(']');
    if (close == absl::string_view::npos) return absl::InvalidArgumentError("Invalid Redis URL");
    absl::string_view after = host.substr(close + 1);
    host = host.substr(0, close);
    if (!after.empty()) {
      if (!absl::ConsumePrefix(&after, ":") || !absl::SimpleAtoi(after, &out.port)) {
        return absl::InvalidArgumentError("Invalid Redis URL");
      }
    }
  } else if (size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    if (!absl::SimpleAtoi(host.substr(colon + 1), &out.port)) {
      return absl::InvalidArgumentError("Invalid Redis URL");
    }
    host = host.substr(0, colon);
  }
  if (host.empty() || out.port < 1 || out.port > 65535) {
    return absl::InvalidArgumentError("Invalid Redis URL");
  }
  out.host = std::string(host);
  if (!path.empty() && (!absl::SimpleAtoi(path, &out.db) || out.db < 0)) {
    return absl::InvalidArgumentError("Invalid Redis URL");
  }
  return out;
}

namespace {

using WorkerSetting = Setting<WorkerConfig>;

// A positive integer (z.coerce.number().int().positive()).
WorkerSetting Positive(const char* env, const char* help, const char* def,
                       int WorkerConfig::*field) {
  return {env, help, def, [field](const std::string& v, WorkerConfig& c) {
            if (!PositiveInt(v, &(c.*field))) {
              return absl::InvalidArgumentError("must be a positive integer");
            }
            return absl::OkStatus();
          }};
}

WorkerSetting Text(const char* env, const char* help, const char* def,
                   std::string WorkerConfig::*field) {
  return {env, help, def, [field](const std::string& v, WorkerConfig& c) {
            c.*field = v;
            return absl::OkStatus();
          }};
}

WorkerSetting Boolean(const char* env, const char* help, const char* def, bool WorkerConfig::*field,
                      bool unless) {
  return {env, help, def, [field, unless](const std::string& v, WorkerConfig& c) {
            c.*field = unless ? v != "false" : v == "true";
            if (v != "true" && v != "false") {
              return absl::InvalidArgumentError("must be 'true' or 'false'");
            }
            return absl::OkStatus();
          }};
}

// Upstream's worker variables in upstream's order, then pwgrid's.
const SettingsTable<WorkerConfig>& Table() {
  static const auto* table = new SettingsTable<WorkerConfig>(
      {
          {"REDIS_URL", "required; redis://[:password@]host[:port][/db]", "",
           [](const std::string& v, WorkerConfig& c) {
             absl::StatusOr<RedisUrl> parsed = ParseRedisUrl(v);
             if (!parsed.ok()) return parsed.status();
             c.redis = *parsed;
             return absl::OkStatus();
           },
           /*required=*/true},
          Positive("REDIS_KEY_TTL", "seconds the worker key lives without a heartbeat", "60",
                   &WorkerConfig::redis_key_ttl_s),
          Positive("REDIS_RETRY_ATTEMPTS", "Redis connection attempts before giving up (exit 1)",
                   "5", &WorkerConfig::redis_retry_attempts),
          Positive("REDIS_RETRY_DELAY", "seconds between Redis connection attempts", "3",
                   &WorkerConfig::redis_retry_delay_s),
          {"BROWSER_TYPE", "chromium, firefox or webkit", "chromium",
           [](const std::string& v, WorkerConfig& c) {
             absl::StatusOr<BrowserType> b = ParseBrowserType(v);
             if (!b.ok())
               return absl::InvalidArgumentError("must be one of: chromium, firefox, webkit");
             c.browser = *b;
             return absl::OkStatus();
           }},
          {"PORT", "required; port of the browser server", "",
           [](const std::string& v, WorkerConfig& c) {
             if (!PositiveInt(v, &c.port) || c.port > 65535) {
               return absl::InvalidArgumentError("must be a positive integer");
             }
             return absl::OkStatus();
           },
           /*required=*/true},
          Text("PRIVATE_HOSTNAME", "host name the proxies use to reach this worker", "unset",
               &WorkerConfig::private_hostname),
          Boolean("HEADLESS", "true or false", "true", &WorkerConfig::headless, /*unless=*/true),
          Positive("HEARTBEAT_INTERVAL", "seconds between heartbeats", "5",
                   &WorkerConfig::heartbeat_interval_s),
          {"LOG_LEVEL", "debug, info, warn or error", "info",
           [](const std::string& v, WorkerConfig& c) {
             static const std::map<std::string, LogLevel> kLevels = {{"debug", LogLevel::kDebug},
                                                                     {"info", LogLevel::kInfo},
                                                                     {"warn", LogLevel::kWarn},
                                                                     {"error", LogLevel::kError}};
             auto it = kLevels.find(v);
             if (it == kLevels.end()) {
               return absl::InvalidArgumentError("must be one of: debug, info, warn, error");
             }
             c.log_level = it->second;
             return absl::OkStatus();
           }},
          {"LOG_FORMAT", "json or text", "json",
           [](const std::string& v, WorkerConfig& c) {
             c.log_json = v != "text";
             if (v != "json" && v != "text") {
               return absl::InvalidArgumentError("must be one of: json, text");
             }
             return absl::OkStatus();
           }},
          Text("BIND_HOST", "(pwgrid) address the browser server listens on",
               "PRIVATE_HOSTNAME's address when set, else 0.0.0.0", &WorkerConfig::bind_host),
          Boolean("RESTART_AFTER_RECYCLE",
                  "(pwgrid) true: launch a fresh browser under a new id after each recycle and "
                  "keep running",
                  "false (exit 0, as upstream)", &WorkerConfig::restart_after_recycle,
                  /*unless=*/false),
          {"DRAIN_TIMEOUT", "(pwgrid) seconds a recycled worker waits for its sessions", "300",
           [](const std::string& v, WorkerConfig& c) {
             if (!absl::SimpleAtoi(v, &c.drain_timeout_s) || c.drain_timeout_s < 0) {
               return absl::InvalidArgumentError("must be a non-negative integer");
             }
             return absl::OkStatus();
           }},
          Text("CHROMIUM_PATH", "(pwgrid) browser executable", "/usr/bin/chromium",
               &WorkerConfig::chromium_path),
          {"PLAYWRIGHT_CORE_DIR",
           "(pwgrid) playwright-core package directory to run; the worker registers that "
           "package's version",
           "the pinned one beside the launcher",
           [](const std::string& v, WorkerConfig& c) {
             absl::StatusOr<std::string> version = PlaywrightCoreVersion(v);
             if (!version.ok()) return absl::InvalidArgumentError(version.status().message());
             c.playwright_core_dir = v;
             c.playwright_core_version = *std::move(version);
             return absl::OkStatus();
           }},
          Text("PWGRID_NODE", "(pwgrid) node executable", "node", &WorkerConfig::node_path),
          Text("PWGRID_LAUNCHER", "(pwgrid) browser launcher script", "the one beside the library",
               &WorkerConfig::launcher_path),
          {"BROWSER_LOG", "(pwgrid) file for node's and the browser's stderr", "discarded",
           [](const std::string& v, WorkerConfig& c) {
             c.browser_log = v;
             return CheckWritableFile("BROWSER_LOG", v);  // "BROWSER_LOG: …", not prefixed twice
           }},
      },
      SettingsStyle{/*report_all=*/true, /*empty_is_unset=*/false, /*empty_is_value=*/"",
                    /*flag_value_may_follow=*/false, /*flag_names_any_case=*/true});
  return *table;
}

}  // namespace

std::string WorkerHelpText() {
  return Table().HelpText(
      "pwgrid-worker: one Playwright browser server registered in Redis, routable by\n"
      "pwgrid-server and by playwright-distributed's proxy.\n\n"
      "Every setting is an environment variable (--name=value overrides it):\n\n",
      [](const WorkerSetting& s) { return std::string(s.env); });
}

absl::StatusOr<WorkerConfig> LoadWorkerConfig(const std::function<const char*(const char*)>& env,
                                              const std::vector<std::string>& args) {
  absl::StatusOr<WorkerConfig> c = Table().Load(env, args);
  if (!c.ok()) return c.status();
  if (c->redis_key_ttl_s < 3 * c->heartbeat_interval_s) {
    return absl::InvalidArgumentError(
        "  REDIS_KEY_TTL: REDIS_KEY_TTL must be at least three times HEARTBEAT_INTERVAL");
  }
  if (c->bind_host.empty() && !c->private_hostname.empty()) {
    absl::StatusOr<std::string> address =
        ResolveHostAddress("PRIVATE_HOSTNAME", c->private_hostname);
    if (!address.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("  ", address.status().message(),
                                                     "; or set BIND_HOST to the address to bind"));
    }
    c->bind_host = *std::move(address);
  }
  if (c->bind_host.empty()) c->bind_host = "0.0.0.0";
  return c;
}

}  // namespace pwgrid::server
