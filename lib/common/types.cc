// The value types' spellings and parsers, worker validation, UUIDs, the system clock, the null
// logger and the library's version.
#include "pwgrid/types.h"
#include "pwgrid/version.h"

#include "lib/common/endpoint.h"

#include <charconv>
#include <cstdio>
#include <string>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pwgrid/clock.h"
#include "pwgrid/logging.h"

namespace pwgrid {
namespace {

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

class RealClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

class DiscardingLogger : public Logger {
 public:
  bool Enabled(LogLevel) const override { return false; }
  void Log(const LogRecord&) override {}
};

}  // namespace

Clock* SystemClock() {
  static RealClock* clock = new RealClock();  // never destroyed: usable during static teardown
  return clock;
}

Logger* NullLogger() {
  static DiscardingLogger* logger = new DiscardingLogger();
  return logger;
}

std::string_view ToString(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return "trace";
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

std::string_view ToString(BrowserType b) {
  switch (b) {
    case BrowserType::kChromium: return "chromium";
    case BrowserType::kFirefox: return "firefox";
    case BrowserType::kWebkit: return "webkit";
  }
  return "chromium";
}

std::string_view ToString(WorkerStatus s) {
  switch (s) {
    case WorkerStatus::kAvailable: return "available";
    case WorkerStatus::kDraining: return "draining";
    case WorkerStatus::kShuttingDown: return "shutting-down";
  }
  return "available";
}

absl::StatusOr<BrowserType> ParseBrowserType(std::string_view s) {
  if (s == "chromium") return BrowserType::kChromium;
  if (s == "firefox") return BrowserType::kFirefox;
  if (s == "webkit") return BrowserType::kWebkit;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown browser type '", Av(s), "': allowed: chromium, firefox, webkit"));
}

absl::StatusOr<WorkerStatus> ParseWorkerStatus(std::string_view s) {
  if (s == "available") return WorkerStatus::kAvailable;
  if (s == "draining") return WorkerStatus::kDraining;
  if (s == "shutting-down") return WorkerStatus::kShuttingDown;
  return absl::InvalidArgumentError(absl::StrCat("unknown worker status '", Av(s), "'"));
}

absl::Status ValidateWorkerInfo(const WorkerInfo& info) {
  if (info.id.empty()) return absl::InvalidArgumentError("worker id is empty");
  if (!info.playwright_version.empty() && PlaywrightMinor(info.playwright_version).empty()) {
    return absl::InvalidArgumentError(absl::StrCat("worker ", info.id, ": playwright_version '",
                                                   info.playwright_version,
                                                   "' does not start with <major>.<minor>"));
  }
  return internal::ParseWsEndpoint(info.endpoint).status();
}

namespace {

// Reads up to 9 digits at `pos` into `value`; false when there are none or more than 9.
bool ReadNumber(std::string_view s, size_t& pos, int& value) {
  const size_t start = pos;
  value = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') value = value * 10 + (s[pos++] - '0');
  return pos > start && pos - start <= 9;
}

}  // namespace

std::string PlaywrightMinor(std::string_view version) {
  size_t pos = 0;
  int major = 0;
  int minor = 0;
  if (!ReadNumber(version, pos, major) || pos >= version.size() || version[pos++] != '.' ||
      !ReadNumber(version, pos, minor)) {
    return "";
  }
  if (pos < version.size() && version[pos] != '.' && version[pos] != '-') return "";
  return absl::StrCat(major, ".", minor);
}

bool VersionsMatch(std::string_view client_version, std::string_view worker_version) {
  const std::string c = PlaywrightMinor(client_version);
  if (c.empty()) return true;
  const std::string w = PlaywrightMinor(worker_version);
  return w.empty() || w == c;
}

std::string NewUuid() {
  thread_local absl::BitGen gen;
  uint64_t hi = absl::Uniform<uint64_t>(gen);
  uint64_t lo = absl::Uniform<uint64_t>(gen);
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff,
                         lo >> 48, lo & 0xffffffffffffULL);
}

const char* VersionString() { return PWGRID_VERSION_STRING; }

}  // namespace pwgrid
