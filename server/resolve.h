// Shared by pwgrid-server's and pwgrid-worker's configuration: a host setting (an IP address, or
// a host name resolved now, its first address, IPv4 first) becomes the address to bind, so that a
// bad value stops the binary with a message naming the setting before anything starts.
#ifndef PWGRID_SERVER_RESOLVE_H_
#define PWGRID_SERVER_RESOLVE_H_

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace pwgrid::server {

// The address of `host` as text. InvalidArgument naming `variable` when it does not resolve.
inline absl::StatusOr<std::string> ResolveHostAddress(const char* variable,
                                                      const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;  // an IPv4 address first: "localhost" must not become ::1 only
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    hints.ai_family = AF_INET6;
    rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  }
  if (rc != 0 || found == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        variable, ": '", host, "' is neither an IP address nor a host name that resolves (",
        rc != 0 ? gai_strerror(rc) : "no address", ")"));
  }
  char text[INET6_ADDRSTRLEN] = {};
  const void* addr =
      found->ai_family == AF_INET6
          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr)
          : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr);
  inet_ntop(found->ai_family, addr, text, sizeof(text));
  freeaddrinfo(found);
  return std::string(text);
}

}  // namespace pwgrid::server

#endif  // PWGRID_SERVER_RESOLVE_H_
