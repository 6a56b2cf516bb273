// Upstream's log line formats (see pwgrid/log_format.h) and the stream Logger that writes them.
#include "pwgrid/log_format.h"

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/common/json_util.h"

namespace pwgrid {
namespace {

using internal::GoJsonEscape;

std::string FormatLogrus(bool json, const LogRecord& r, const std::string& time) {
  std::string line;
  if (json) {
    line = absl::StrCat("{\"level\":\"", std::string(ToString(r.level)), "\",\"msg\":\"",
                        GoJsonEscape(r.message), "\",\"time\":\"", time, "\"");
    for (const auto& [k, v] : r.fields) {
      absl::StrAppend(&line, ",\"", GoJsonEscape(k), "\":\"", GoJsonEscape(v), "\"");
    }
    line += "}\n";
  } else {
    // Quoted as logrus quotes text values: <, > and & stay as they are ("a <-> b").
    line = absl::StrCat("time=\"", time, "\" level=", std::string(ToString(r.level)), " msg=\"",
                        GoJsonEscape(r.message, /*escape_html=*/false), "\"");
    for (const auto& [k, v] : r.fields)
      absl::StrAppend(&line, " ", k, "=\"", GoJsonEscape(v, /*escape_html=*/false), "\"");
    line += "\n";
  }
  return line;
}

std::string FormatWorker(bool json, const LogRecord& r, const std::string& time) {
  const std::string level(r.level == LogLevel::kWarn ? "warn" : ToString(r.level));
  std::string worker = "-";
  std::string data;
  for (const auto& [k, v] : r.fields) {
    if (k == "workerId") {
      worker = v.substr(v.find(':') + 1);
      continue;
    }
    if (!data.empty()) data += json ? "," : ",\n";
    absl::StrAppend(&data, json ? "" : "  ", "\"", GoJsonEscape(k), "\":", json ? "" : " ", "\"",
                    GoJsonEscape(v), "\"");
  }
  std::string line;
  if (json) {
    line = absl::StrCat("{\"timestamp\":\"", time, "\",\"level\":\"", level, "\",\"message\":\"",
                        GoJsonEscape(r.message), "\",\"workerId\":\"", worker, "\"");
    if (!data.empty()) absl::StrAppend(&line, ",\"data\":{", data, "}");
    line += "}\n";
  } else {
    line = absl::StrCat(time, " [", absl::AsciiStrToUpper(level), "] [", worker, "] ", r.message,
                        "\n");
    if (!data.empty()) absl::StrAppend(&line, "{\n", data, "\n}\n");
  }
  return line;
}

class StreamLogger : public Logger {
 public:
  explicit StreamLogger(const StreamLoggerOptions& options) : options_(options) {}

  bool Enabled(LogLevel level) const override { return level >= options_.min_level; }

  void Log(const LogRecord& r) override {
    if (!Enabled(r.level)) return;
    const std::string line = FormatLogLine(options_.format, r, options_.clock->Now());
    absl::MutexLock lock(&mu_);
    std::fwrite(line.data(), 1, line.size(), options_.stream);
    std::fflush(options_.stream);
  }

 private:
  const StreamLoggerOptions options_;
  absl::Mutex mu_;
};

}  // namespace

std::string FormatLogLine(LogFormat format, const LogRecord& record, absl::Time time) {
  const std::string t = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
  switch (format) {
    case LogFormat::kLogrusText: return FormatLogrus(false, record, t);
    case LogFormat::kLogrusJson: return FormatLogrus(true, record, t);
    case LogFormat::kWorkerText: return FormatWorker(false, record, t);
    case LogFormat::kWorkerJson: return FormatWorker(true, record, t);
  }
  return FormatLogrus(false, record, t);
}

absl::StatusOr<std::unique_ptr<Logger>> NewStreamLogger(const StreamLoggerOptions& options) {
  if (options.stream == nullptr || options.clock == nullptr) {
    return absl::InvalidArgumentError("StreamLoggerOptions.stream and .clock must not be null");
  }
  return std::unique_ptr<Logger>(new StreamLogger(options));
}

}  // namespace pwgrid
