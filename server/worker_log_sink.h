// pwgrid-worker's Logger: upstream's worker log format (reference §5.7).
//   json: {"timestamp":"<ISO>","level":"info","message":"…","workerId":"<uuid>","data":{…}}
//   text: <ISO> [INFO] [<uuid>] message   (then `data` as indented JSON on the next lines)
// workerId is the <uuid> part of the record's "workerId" field; other fields go into `data`.
#ifndef PWGRID_SERVER_WORKER_LOG_SINK_H_
#define PWGRID_SERVER_WORKER_LOG_SINK_H_

#include <cstdio>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/json_util.h"
#include "pwgrid/logging.h"

namespace pwgrid::server {

class WorkerLogger : public Logger {
 public:
  WorkerLogger(LogLevel level, bool json) : level_(level), json_(json) {}

  bool Enabled(LogLevel level) const override { return level >= level_; }

  void Log(const LogRecord& r) override {
    if (!Enabled(r.level)) return;  // LOG_LEVEL applies to every line, the server's own too
    const std::string time =
        absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
    const std::string level(r.level == LogLevel::kWarn ? "warn" : ToString(r.level));
    std::string worker = "-";
    std::string data;
    for (const auto& [k, v] : r.fields) {
      if (k == "workerId") {
        worker = v.substr(v.find(':') + 1);
        continue;
      }
      if (!data.empty()) data += json_ ? "," : ",\n";
      data += (json_ ? "" : "  ") + ("\"" + internal::GoJsonEscape(k) + "\":" +
                                     (json_ ? "" : " ") + "\"" + internal::GoJsonEscape(v) + "\"");
    }
    std::string line;
    if (json_) {
      line = "{\"timestamp\":\"" + time + "\",\"level\":\"" + level + "\",\"message\":\"" +
             internal::GoJsonEscape(r.message) + "\",\"workerId\":\"" + worker + "\"";
      if (!data.empty()) line += ",\"data\":{" + data + "}";
      line += "}\n";
    } else {
      line = time + " [" + absl::AsciiStrToUpper(level) + "] [" + worker + "] " + r.message + "\n";
      if (!data.empty()) line += "{\n" + data + "\n}\n";
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

#endif  // PWGRID_SERVER_WORKER_LOG_SINK_H_
