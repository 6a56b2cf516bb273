#include "server/worker_config.h"

#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "server/file_check.h"

namespace pwgrid::server {
namespace {

struct Var {
  const char* name;
  const char* help;
};

const std::vector<Var>& Vars() {
  static const auto* vars = new std::vector<Var>{
      {"REDIS_URL", "required; redis://[:password@]host[:port][/db]"},
      {"REDIS_KEY_TTL", "seconds the worker key lives without a heartbeat; default 60"},
      {"REDIS_RETRY_ATTEMPTS", "Redis connection attempts before giving up (exit 1); default 5"},
      {"REDIS_RETRY_DELAY", "seconds between Redis connection attempts; default 3"},
      {"BROWSER_TYPE", "chromium, firefox or webkit; default chromium"},
      {"PORT", "required; port of the browser server"},
      {"PRIVATE_HOSTNAME", "host name the proxies use to reach this worker; default unset"},
      {"HEADLESS", "true or false; default true"},
      {"HEARTBEAT_INTERVAL", "seconds between heartbeats; default 5"},
      {"LOG_LEVEL", "debug, info, warn or error; default info"},
      {"LOG_FORMAT", "json or text; default json"},
      {"BIND_HOST", "(pwgrid) address the browser server listens on; default 0.0.0.0"},
      {"RESTART_AFTER_RECYCLE",
       "(pwgrid) true: launch a fresh browser under a new id after each recycle and keep "
       "running; default false (exit 0, as upstream)"},
      {"DRAIN_TIMEOUT", "(pwgrid) seconds a recycled worker waits for its sessions; default 300"},
      {"CHROMIUM_PATH", "(pwgrid) browser executable; default /usr/bin/chromium"},
      {"PWGRID_NODE", "(pwgrid) node executable; default node"},
      {"PWGRID_LAUNCHER", "(pwgrid) browser launcher script; default this build's"},
      {"BROWSER_LOG", "(pwgrid) file for node's and the browser's stderr; default discarded"},
  };
  return *vars;
}

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

std::string WorkerHelpText() {
  std::string out =
      "pwgrid-worker: one Playwright browser server registered in Redis, routable by\n"
      "pwgrid-server and by playwright-distributed's proxy.\n\n"
      "Every setting is an environment variable (--name=value overrides it):\n\n";
  for (const Var& v : Vars()) absl::StrAppend(&out, "  ", v.name, "\n      ", v.help, "\n");
  return out;
}

absl::StatusOr<WorkerConfig> LoadWorkerConfig(const std::function<const char*(const char*)>& env,
                                              const std::vector<std::string>& args) {
  std::map<std::string, std::string> values;
  for (const Var& v : Vars()) {
    if (const char* value = env(v.name); value != nullptr) values[v.name] = value;
  }
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") return absl::NotFoundError("help");
    absl::string_view flag(a);
    size_t eq = flag.find('=');
    if (!absl::ConsumePrefix(&flag, "--") || eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("unknown argument ", a, " (see --help)"));
    }
    std::string name(flag.substr(0, eq - 2));
    for (char& c : name) c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
    bool known = false;
    for (const Var& v : Vars()) known = known || name == v.name;
    if (!known)
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", a, " (see --help)"));
    values[name] = std::string(flag.substr(eq - 1));
  }

  WorkerConfig c;
  std::vector<std::string> problems;
  auto problem = [&](const char* name, const std::string& message) {
    problems.push_back(absl::StrCat("  ", name, ": ", message));
  };
  auto get = [&](const char* name) -> const std::string* {
    auto it = values.find(name);
    return it == values.end() ? nullptr : &it->second;
  };
  auto positive = [&](const char* name, int* field) {
    if (const std::string* v = get(name)) {
      if (!PositiveInt(*v, field)) problem(name, "must be a positive integer");
    }
  };

  if (const std::string* url = get("REDIS_URL")) {
    absl::StatusOr<RedisUrl> parsed = ParseRedisUrl(*url);
    if (parsed.ok()) {
      c.redis = *parsed;
    } else {
      problem("REDIS_URL", std::string(parsed.status().message()));
    }
  } else {
    problem("REDIS_URL", "Required");
  }
  positive("REDIS_KEY_TTL", &c.redis_key_ttl_s);
  positive("REDIS_RETRY_ATTEMPTS", &c.redis_retry_attempts);
  positive("REDIS_RETRY_DELAY", &c.redis_retry_delay_s);
  if (const std::string* v = get("BROWSER_TYPE")) {
    absl::StatusOr<BrowserType> b = ParseBrowserType(*v);
    if (b.ok()) {
      c.browser = *b;
    } else {
      problem("BROWSER_TYPE", "must be one of: chromium, firefox, webkit");
    }
  }
  if (const std::string* v = get("PORT")) {
    if (!PositiveInt(*v, &c.port) || c.port > 65535) problem("PORT", "must be a positive integer");
  } else {
    problem("PORT", "Required");
  }
  if (const std::string* v = get("PRIVATE_HOSTNAME")) c.private_hostname = *v;
  if (const std::string* v = get("HEADLESS")) {
    if (*v != "true" && *v != "false") problem("HEADLESS", "must be 'true' or 'false'");
    c.headless = *v != "false";
  }
  positive("HEARTBEAT_INTERVAL", &c.heartbeat_interval_s);
  if (const std::string* v = get("LOG_LEVEL")) {
    static const std::map<std::string, LogLevel> kLevels = {{"debug", LogLevel::kDebug},
                                                            {"info", LogLevel::kInfo},
                                                            {"warn", LogLevel::kWarn},
                                                            {"error", LogLevel::kError}};
    auto it = kLevels.find(*v);
    if (it == kLevels.end()) {
      problem("LOG_LEVEL", "must be one of: debug, info, warn, error");
    } else {
      c.log_level = it->second;
    }
  }
  if (const std::string* v = get("LOG_FORMAT")) {
    if (*v != "json" && *v != "text") problem("LOG_FORMAT", "must be one of: json, text");
    c.log_json = *v != "text";
  }
  if (const std::string* v = get("BIND_HOST")) c.bind_host = *v;
  if (const std::string* v = get("RESTART_AFTER_RECYCLE")) {
    if (*v != "true" && *v != "false")
      problem("RESTART_AFTER_RECYCLE", "must be 'true' or 'false'");
    c.restart_after_recycle = *v == "true";
  }
  if (const std::string* v = get("DRAIN_TIMEOUT")) {
    if (!absl::SimpleAtoi(*v, &c.drain_timeout_s) || c.drain_timeout_s < 0) {
      problem("DRAIN_TIMEOUT", "must be a non-negative integer");
    }
  }
  if (const std::string* v = get("CHROMIUM_PATH")) c.chromium_path = *v;
  if (const std::string* v = get("PWGRID_NODE")) c.node_path = *v;
  if (const std::string* v = get("PWGRID_LAUNCHER")) c.launcher_path = *v;
  if (const std::string* v = get("BROWSER_LOG")) {
    if (absl::Status s = CheckWritableFile("BROWSER_LOG", *v); !s.ok()) {
      problems.push_back(absl::StrCat("  ", s.message()));  // "  BROWSER_LOG: …" as the others
    }
    c.browser_log = *v;
  }
  if (problems.empty() && c.redis_key_ttl_s < 3 * c.heartbeat_interval_s) {
    problem("REDIS_KEY_TTL", "REDIS_KEY_TTL must be at least three times HEARTBEAT_INTERVAL");
  }
  if (!problems.empty()) return absl::InvalidArgumentError(absl::StrJoin(problems, "\n"));
  return c;
}

}  // namespace pwgrid::server
