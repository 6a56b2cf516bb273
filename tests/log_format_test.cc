// Upstream's log formats, byte for byte, at a fixed time; and the stream logger's level filter.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "pwgrid/log_format.h"
#include "pwgrid/testing/manual_clock.h"

namespace pwgrid {
namespace {

const absl::Time kTime = absl::FromUnixMillis(1764669600123);  // 2025-12-02T10:00:00.123Z

LogRecord Record() {
  return LogRecord{LogLevel::kWarn,
                   "Connection from 1.2.3.4:5 \"x\" <y>",
                   {{"workerId", "chromium:3f2c"}, {"endpoint", "ws://h:1/p"}}};
}

TEST_CASE("logrus text and JSON, as upstream's proxy") {
  CHECK(FormatLogLine(LogFormat::kLogrusText, Record(), kTime) ==
        "time=\"2025-12-02T10:00:00.123Z\" level=warning msg=\"Connection from 1.2.3.4:5 \\\"x\\\" "
        "<y>\" workerId=\"chromium:3f2c\" endpoint=\"ws://h:1/p\"\n");
  CHECK(FormatLogLine(LogFormat::kLogrusJson, Record(), kTime) ==
        "{\"level\":\"warning\",\"msg\":\"Connection from 1.2.3.4:5 \\\"x\\\" \\u003cy\\u003e\","
        "\"time\":\"2025-12-02T10:00:00.123Z\",\"workerId\":\"chromium:3f2c\","
        "\"endpoint\":\"ws://h:1/p\"}\n");
}

TEST_CASE("logrus text writes <-> as is; JSON escapes it as Go's encoding/json does") {
  const LogRecord r{LogLevel::kDebug, "Proxy connection closed (1.2.3.4:5 <-> ws://h:1/p)", {}};
  CHECK(FormatLogLine(LogFormat::kLogrusText, r, kTime).find("(1.2.3.4:5 <-> ws://h:1/p)") !=
        std::string::npos);
  CHECK(FormatLogLine(LogFormat::kLogrusJson, r, kTime).find("\\u003c-\\u003e") !=
        std::string::npos);
}

TEST_CASE("worker text and JSON, as upstream's Node worker") {
  CHECK(FormatLogLine(LogFormat::kWorkerJson, Record(), kTime) ==
        "{\"timestamp\":\"2025-12-02T10:00:00.123Z\",\"level\":\"warn\",\"message\":\"Connection "
        "from 1.2.3.4:5 \\\"x\\\" \\u003cy\\u003e\",\"workerId\":\"3f2c\",\"data\":{\"endpoint\":"
        "\"ws://h:1/p\"}}\n");
  CHECK(FormatLogLine(LogFormat::kWorkerText, Record(), kTime) ==
        "2025-12-02T10:00:00.123Z [WARN] [3f2c] Connection from 1.2.3.4:5 \"x\" <y>\n"
        "{\n  \"endpoint\": \"ws://h:1/p\"\n}\n");
  CHECK(FormatLogLine(LogFormat::kWorkerText, LogRecord{LogLevel::kInfo, "up", {}}, kTime) ==
        "2025-12-02T10:00:00.123Z [INFO] [-] up\n");
}

TEST_CASE("the stream logger writes whole lines at or above its level") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  testing::ManualClock clock(kTime);
  StreamLoggerOptions o;
  o.format = LogFormat::kLogrusText;
  o.min_level = LogLevel::kInfo;
  o.stream = f;
  o.clock = &clock;
  auto logger = NewStreamLogger(o);
  REQUIRE(logger.ok());
  CHECK_FALSE((*logger)->Enabled(LogLevel::kDebug));
  (*logger)->Log(LogRecord{LogLevel::kDebug, "hidden", {}});
  (*logger)->Log(LogRecord{LogLevel::kError, "shown", {}});
  std::rewind(f);
  char buf[256] = {};
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  CHECK(std::string(buf, n) == "time=\"2025-12-02T10:00:00.123Z\" level=error msg=\"shown\"\n");
  o.stream = nullptr;
  CHECK(absl::IsInvalidArgument(NewStreamLogger(o).status()));
}

}  // namespace
}  // namespace pwgrid
