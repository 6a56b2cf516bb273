// Internal logging helper: builds a record only when its level is enabled. Not a public header.
#ifndef PWGRID_LIB_COMMON_LOG_UTIL_H_
#define PWGRID_LIB_COMMON_LOG_UTIL_H_

#include "lib/common/internal.h"

#include <string>
#include <utility>
#include <vector>

#include "pwgrid/logging.h"

namespace pwgrid::internal {

inline void Log(Logger* logger, LogLevel level, std::string message,
                std::vector<std::pair<std::string, std::string>> fields = {}) {
  if (logger == nullptr || !logger->Enabled(level)) return;
  logger->Log(LogRecord{level, std::move(message), std::move(fields)});
}

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_COMMON_LOG_UTIL_H_
