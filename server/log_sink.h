// The server's Logger: logrus-style lines on stdout, text (time="…" level=info msg="…" k=v) or
// JSON ({"level":"info","msg":"…","time":"…",…}), as upstream's proxy writes them.
#ifndef PWGRID_SERVER_LOG_SINK_H_
#define PWGRID_SERVER_LOG_SINK_H_

#include <cstdio>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/json_util.h"
#include "pwgrid/logging.h"

namespace pwgrid::server {

class StdoutLogger : public Logger {
 public:
  StdoutLogger(LogLevel level, bool json) : level_(level), json_(json) {}

  bool Enabled(LogLevel level) const override { return level >= level_; }

  void Log(const LogRecord& r) override {
    if (!Enabled(r.level)) return;  // LOG_LEVEL applies to every line, the server's own too
    const std::string time = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
    std::string line;
    if (json_) {
      line = "{\"level\":\"" + std::string(ToString(r.level)) + "\",\"msg\":\"" +
             internal::GoJsonEscape(r.message) + "\",\"time\":\"" + time + "\"";
      for (const auto& [k, v] : r.fields) {
        line += ",\"" + internal::GoJsonEscape(k) + "\":\"" + internal::GoJsonEscape(v) + "\"";
      }
      line += "}\n";
    } else {
      line = "time=\"" + time + "\" level=" + std::string(ToString(r.level)) + " msg=\"" +
             internal::GoJsonEscape(r.message) + "\"";
      for (const auto& [k, v] : r.fields) line += " " + k + "=\"" + internal::GoJsonEscape(v) + "\"";
      line += "\n";
    }
    absl::MutexLock lock(&mu_);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  }

 private:
  const LogLevel level_;
  const bool json_;
  absl::Mutex mu_;
};

}  // namespace pwgrid::server

#endif  // PWGRID_SERVER_LOG_SINK_H_
