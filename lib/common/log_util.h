// Internal logging: PWGRID_LOG(logger, level, message, fields...) checks logger->Enabled(level)
// before the message and fields are even evaluated, so a disabled record costs one virtual call
// (no string is built). Internal header.
#ifndef PWGRID_LIB_COMMON_LOG_UTIL_H_
#define PWGRID_LIB_COMMON_LOG_UTIL_H_

#include "lib/common/internal.h"

#include <string>
#include <utility>
#include <vector>

#include "pwgrid/logging.h"

namespace pwgrid::internal {

inline void Emit(Logger* logger, LogLevel level, std::string message,
                 std::vector<std::pair<std::string, std::string>> fields = {}) {
  logger->Log(LogRecord{level, std::move(message), std::move(fields)});
}

}  // namespace pwgrid::internal

// `...`: the message, then optionally the fields ({{"workerId", id}}); evaluated only when the
// level is enabled.
#define PWGRID_LOG(logger, level, ...)                                   \
  do {                                                                   \
    ::pwgrid::Logger* pwgrid_log_ = (logger);                            \
    const ::pwgrid::LogLevel pwgrid_level_ = (level);                    \
    if (pwgrid_log_ != nullptr && pwgrid_log_->Enabled(pwgrid_level_)) { \
      ::pwgrid::internal::Emit(pwgrid_log_, pwgrid_level_, __VA_ARGS__); \
    }                                                                    \
  } while (0)

namespace pwgrid::internal {}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_COMMON_LOG_UTIL_H_
