// Test helper: a listening TCP socket on 127.0.0.1 at a port the kernel picks.
#ifndef PWGRID_TESTS_LOOPBACK_H_
#define PWGRID_TESTS_LOOPBACK_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <doctest/doctest.h>

#include <cstdint>

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

}  // namespace pwgrid

#endif  // PWGRID_TESTS_LOOPBACK_H_
