// Log lines as playwright-distributed writes them, for hosts (and pwgrid-server, pwgrid-worker)
// that want logs its tooling already parses. FormatLogLine() is the formatter, a pure function;
// NewStreamLogger() is the one line writer: a Logger that formats each record and writes it to
// a stream with one fwrite per line.
//
//   kLogrusText   time="2026-12-02T10:00:00.000Z" level=info msg="…" workerId="…"
//   kLogrusJson   {"level":"info","msg":"…","time":"…","workerId":"…"}
//                 (upstream's Go proxy: logrus with its text or JSON formatter; strings are
//                 escaped as Go's encoding/json does)
//   kWorkerText   2026-12-02T10:00:00.000Z [INFO] [<uuid>] message, then the other fields as
//                 indented JSON lines between { and }
//   kWorkerJson   {"timestamp":"…","level":"info","message":"…","workerId":"<uuid>","data":{…}}
//                 (upstream's Node worker; workerId is the <uuid> part of the record's
//                 "workerId" field, "-" when absent; the other fields go into data; warn is
//                 spelled "warn")
//
// Thread-safety: FormatLogLine is a pure function. The stream logger is thread-safe; lines of
// concurrent records never interleave.
#ifndef PWGRID_LOG_FORMAT_H_
#define PWGRID_LOG_FORMAT_H_

#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pwgrid/clock.h"
#include "pwgrid/logging.h"

namespace pwgrid {

enum class LogFormat { kLogrusText, kLogrusJson, kWorkerText, kWorkerJson };

// One complete line (or, for kWorkerText with fields, lines), ending in '\n'. `time` is printed
// in UTC with milliseconds.
std::string FormatLogLine(LogFormat format, const LogRecord& record, absl::Time time);

struct StreamLoggerOptions {
  LogFormat format = LogFormat::kLogrusText;
  LogLevel min_level = LogLevel::kInfo;  // records below it are dropped (Enabled() is false)
  std::FILE* stream = stdout;            // borrowed; flushed after every line
  Clock* clock = SystemClock();          // the time printed on each line; borrowed
};

// InvalidArgument: null stream or clock.
absl::StatusOr<std::unique_ptr<Logger>> NewStreamLogger(const StreamLoggerOptions& options);

}  // namespace pwgrid

#endif  // PWGRID_LOG_FORMAT_H_
