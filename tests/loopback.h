// Test helpers: a listening TCP socket on 127.0.0.1 at a port the kernel picks, and a plain TCP
// client for requests the WebSocket client cannot send.
#ifndef PWGRID_TESTS_LOOPBACK_H_
#define PWGRID_TESTS_LOOPBACK_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace pwgrid {

// Returns the listening descriptor (close-on-exec) and sets `*port`. The caller closes it.
inline int ListenOnLoopback(uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  REQUIRE(::listen(fd, 8) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  *port = ntohs(a.sin_port);
  return fd;
}

// A plain TCP connection to 127.0.0.1:port (closed by the destructor unless Close() ran).
class RawClient {
 public:
  explicit RawClient(uint16_t port) : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  }
  ~RawClient() { Close(); }
  void Send(const std::string& bytes) {
    REQUIRE(send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
  }
  // Sends all of `bytes` unless the peer stops taking them for `limit`; false then.
  bool TrySend(const std::string& bytes, absl::Duration limit) {
    timeval tv{static_cast<time_t>(absl::ToInt64Seconds(limit)), 0};
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Bytes until the peer closes or `limit` passes ("" if nothing came).
  std::string ReadUntilClosed(absl::Duration limit) {
    std::string out;
    const absl::Time end = absl::Now() + limit;
    char buf[4096];
    while (absl::Now() < end) {
      timeval tv{0, 50 * 1000};
      setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n == 0) break;
      if (n > 0) out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

}  // namespace pwgrid

#endif  // PWGRID_TESTS_LOOPBACK_H_
