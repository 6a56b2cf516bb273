// SettingsTable: the one mechanism behind pwgrid-server's and pwgrid-worker's configuration.
// Each program lists its settings once (name = environment variable, the flag derived from it,
// help, default, parser); the table reads the environment and the flags, applies the values in
// table order, and writes --help. Each program keeps upstream's exact messages through its
// Style: pwgrid-server reports the first error as logrus-era pwgrid did ("NAME must be …"),
// pwgrid-worker reports every problem as upstream's worker (zod) does ("  NAME: message" lines,
// "Required" for a missing required variable).
//
// Thread-safety: immutable after construction; Load() may run on any thread.
#ifndef PWGRID_SERVER_SETTINGS_H_
#define PWGRID_SERVER_SETTINGS_H_

#include <cctype>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace pwgrid::server {

template <typename Config>
struct Setting {
  const char* env;           // the variable, e.g. "MAX_CONCURRENT_SESSIONS"
  const char* help;          // one line for --help
  const char* default_text;  // shown as "; default <text>" in --help; "" for none
  // Parses `value` into the config. Its error message is reported as it is (server style) or
  // after "  NAME: " (worker style).
  std::function<absl::Status(const std::string& value, Config& c)> apply;
  bool required = false;  // worker style: absent is the problem "Required"
};

struct SettingsStyle {
  bool report_all = false;             // every problem, "  NAME: message" per line (the worker's)
  bool empty_is_unset = false;         // an empty value counts as unset (the server's)
  const char* empty_is_value = "";     // ... except for this variable ("" for none)
  bool flag_value_may_follow = false;  // "--flag VALUE" as well as "--flag=VALUE" (the server's)
  bool flag_names_any_case = false;    // "--Port=1", "--redis_url=…" name them (the worker's)
};

template <typename Config>
class SettingsTable {
 public:
  SettingsTable(std::vector<Setting<Config>> settings, SettingsStyle style)
      : settings_(std::move(settings)), style_(style) {}

  // --max-concurrent-sessions for MAX_CONCURRENT_SESSIONS.
  static std::string FlagName(const char* env) {
    return absl::StrCat("--", absl::AsciiStrToLower(absl::StrReplaceAll(env, {{"_", "-"}})));
  }

  // Reads `env` (nullptr: unset), then `args` (argv[1..]; flags override the environment), and
  // applies every value to a default Config. NotFound("help") for --help or -h; InvalidArgument
  // with the program's message otherwise.
  absl::StatusOr<Config> Load(const std::function<const char*(const char*)>& env,
                              const std::vector<std::string>& args) const {
    std::map<std::string, std::string> values;
    for (const Setting<Config>& s : settings_) {
      if (const char* v = env(s.env); v != nullptr) values[s.env] = v;
    }
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (a == "--help" || a == "-h") return absl::NotFoundError("help");
      absl::StatusOr<std::pair<const Setting<Config>*, std::optional<std::string>>> flag =
          ParseFlag(a);
      if (!flag.ok()) return flag.status();
      std::optional<std::string> value = flag->second;
      if (!value) {
        if (i + 1 >= args.size()) {
          return absl::InvalidArgumentError(absl::StrCat(a, " needs a value"));
        }
        value = args[++i];
      }
      values[flag->first->env] = *value;
    }
    Config config;
    std::vector<std::string> problems;
    for (const Setting<Config>& s : settings_) {
      auto it = values.find(s.env);
      const bool unset = it == values.end() || (style_.empty_is_unset && it->second.empty() &&
                                                std::string(s.env) != style_.empty_is_value);
      if (unset) {
        if (s.required) problems.push_back(absl::StrCat("  ", s.env, ": Required"));
        continue;
      }
      absl::Status st = s.apply(it->second, config);
      if (st.ok()) continue;
      if (!style_.report_all) return st;
      // A message that names its variable already ("BROWSER_LOG: …") is not prefixed twice.
      absl::string_view message = st.message();
      absl::ConsumePrefix(&message, absl::StrCat(s.env, ": "));
      problems.push_back(absl::StrCat("  ", s.env, ": ", message));
    }
    if (!problems.empty()) return absl::InvalidArgumentError(absl::StrJoin(problems, "\n"));
    return config;
  }

  // `intro`, then per setting `first_line(setting)` and its help (with its default), then the
  // two flags every program takes (--help, --version: see WantsVersion).
  std::string HelpText(const std::string& intro,
                       const std::function<std::string(const Setting<Config>&)>& first_line) const {
    std::string out = intro;
    for (const Setting<Config>& s : settings_) {
      absl::StrAppend(&out, "  ", first_line(s), "\n      ", s.help);
      if (*s.default_text != '\0') absl::StrAppend(&out, "; default ", s.default_text);
      out += "\n";
    }
    out += "  --help\n      this text\n  --version\n      the version, then exit\n";
    return out;
  }

 private:
  // The setting a flag names, and its value when given with '='.
  absl::StatusOr<std::pair<const Setting<Config>*, std::optional<std::string>>> ParseFlag(
      const std::string& a) const {
    std::string name = a;
    std::optional<std::string> value;
    if (size_t eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    }
    if (!style_.flag_value_may_follow && (!value || name.rfind("--", 0) != 0)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown argument ", a, " (see --help)"));
    }
    const std::string wanted = style_.flag_names_any_case
                                   ? absl::AsciiStrToLower(absl::StrReplaceAll(name, {{"_", "-"}}))
                                   : name;
    for (const Setting<Config>& s : settings_) {
      if (FlagName(s.env) == wanted) {
        return std::make_pair(&s, value);
      }
    }
    return absl::InvalidArgumentError(
        absl::StrCat("unknown flag ", style_.flag_value_may_follow ? name : a, " (see --help)"));
  }

  const std::vector<Setting<Config>> settings_;
  const SettingsStyle style_;
};

// True when `args` ask for the version (--version anywhere): the program prints it and exits 0
// before it reads any setting.
inline bool WantsVersion(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--version") return true;
  }
  return false;
}

}  // namespace pwgrid::server

#endif  // PWGRID_SERVER_SETTINGS_H_
