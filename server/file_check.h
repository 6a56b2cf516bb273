// A check shared by pwgrid-server's and pwgrid-worker's configuration: a log file setting names a
// file that can be written, so that a bad path is reported as that setting's problem and not as
// a browser that failed to start.
#ifndef PWGRID_SERVER_FILE_CHECK_H_
#define PWGRID_SERVER_FILE_CHECK_H_

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace pwgrid::server {

// Opens `path` for appending (creating it when missing) and closes it again. InvalidArgument
// naming `variable` when that fails.
inline absl::Status CheckWritableFile(const char* variable, const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(variable, ": cannot open '", path, "' for writing: ", std::strerror(errno)));
  }
  ::close(fd);
  return absl::OkStatus();
}

}  // namespace pwgrid::server

#endif  // PWGRID_SERVER_FILE_CHECK_H_
