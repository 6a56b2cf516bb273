// SendRawHttp: a plain POSIX-socket HTTP exchange for tests that check exact bytes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pwgrid/testing/ws_test_client.h"

namespace pwgrid::testing {

absl::StatusOr<RawHttpResponse> SendRawHttp(uint16_t port, const std::string& request,
                                            absl::Duration timeout) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(std::strerror(errno));
  timeval tv{};
  tv.tv_sec = absl::ToInt64Seconds(timeout);
  tv.tv_usec = absl::ToInt64Microseconds(timeout) % 1000000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect: ", std::strerror(errno)));
  }
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      close(fd);
      return absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
    }
    sent += static_cast<size_t>(n);
  }
  std::string data;
  RawHttpResponse out;
  size_t head_end = std::string::npos;
  size_t content_length = std::string::npos;
  char buf[4096];
  while (true) {
    if (head_end != std::string::npos && content_length != std::string::npos &&
        data.size() >= head_end + 4 + content_length) {
      break;
    }
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return absl::DeadlineExceededError(absl::StrCat("recv: ", std::strerror(errno)));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (head_end == std::string::npos) {
      head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::vector<std::string> lines = absl::StrSplit(data.substr(0, head_end), "\r\n");
        std::vector<std::string> status = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
        if (status.size() < 2 || !absl::SimpleAtoi(status[1], &out.status)) {
          close(fd);
          return absl::InternalError(absl::StrCat("bad status line: ", lines[0]));
        }
        for (size_t i = 1; i < lines.size(); ++i) {
          size_t colon = lines[i].find(':');
          if (colon == std::string::npos) continue;
          out.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
              std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
        }
        auto cl = out.headers.find("content-length");
        size_t len = 0;
        if (cl != out.headers.end() && absl::SimpleAtoi(cl->second, &len)) content_length = len;
        if (out.status == 204 || out.status == 101) content_length = 0;
      }
    }
  }
  close(fd);
  if (head_end == std::string::npos) return absl::InternalError("no complete HTTP head received");
  out.body = data.substr(head_end + 4);
  if (content_length != std::string::npos && out.body.size() > content_length) {
    out.body.resize(content_length);
  }
  return out;
}

}  // namespace pwgrid::testing
