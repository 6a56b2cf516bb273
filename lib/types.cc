#include "pwgrid/types.h"

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

absl::StatusOr<WsEndpoint> ParseWsEndpoint(std::string_view url) {
  constexpr std::string_view kScheme = "ws://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return absl::InvalidArgumentError(absl::StrCat("endpoint must start with ws://: ", Av(url)));
  }
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  WsEndpoint out;
  out.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad IPv6 host in endpoint: ", Av(url)));
    }
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return absl::InvalidArgumentError(absl::StrCat("bad endpoint: ", Av(url)));
      }
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("endpoint has no host: ", Av(url)));
  }
  if (port_text.empty()) {
    out.port = 80;
  } else {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("bad port in endpoint: ", Av(url)));
    }
    out.port = static_cast<uint16_t>(value);
  }
  return out;
}

absl::Status ValidateWorkerInfo(const WorkerInfo& info) {
  if (info.id.empty()) return absl::InvalidArgumentError("worker id is empty");
  return ParseWsEndpoint(info.endpoint).status();
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

}  // namespace pwgrid
