// Logger: where the library reports what it does. The library never prints by itself.
//
// The default logger (NullLogger()) discards everything. A host passes its own sink through the
// Options structs; pwgrid-server formats records as text or JSON lines.
// Implementations must be thread-safe: Log() is called from relay I/O threads, selector and
// agent threads, and must not block for long.
#ifndef PWGRID_LOGGING_H_
#define PWGRID_LOGGING_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pwgrid {

enum class LogLevel { kTrace = 0, kDebug = 1, kInfo = 2, kWarn = 3, kError = 4 };

std::string_view ToString(LogLevel level);  // "trace", "debug", "info", "warning", "error"

struct LogRecord {
  LogLevel level = LogLevel::kInfo;
  std::string message;
  // Structured fields, e.g. {"workerId", "chromium:…"}; rendered as key=value or JSON members.
  std::vector<std::pair<std::string, std::string>> fields;
};

class Logger {
 public:
  virtual ~Logger() = default;
  // The library asks before it builds a record: for a level that is not enabled no message is
  // formatted and Log() is not called (cheap filtering on hot paths).
  virtual bool Enabled(LogLevel level) const = 0;
  virtual void Log(const LogRecord& record) = 0;
};

// Discards everything. Owned by the library: never delete it.
Logger* NullLogger();

}  // namespace pwgrid

#endif  // PWGRID_LOGGING_H_
