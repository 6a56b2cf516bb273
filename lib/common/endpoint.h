// ws:// endpoints of workers: parsing one into host, port and path (the relay dials it; a
// registry validates it), and rewriting a loopback host to the address other machines reach
// (upstream's PRIVATE_HOSTNAME). Pure functions. Internal header.
#ifndef PWGRID_LIB_COMMON_ENDPOINT_H_
#define PWGRID_LIB_COMMON_ENDPOINT_H_

#include "lib/common/internal.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace pwgrid::internal {

// Parsed form of a ws:// endpoint. Only plain ws:// is supported (no TLS to workers).
struct WsEndpoint {
  std::string host;  // host name or IP literal, without brackets
  uint16_t port = 0;
  std::string path;  // starts with '/', includes any query
};
// InvalidArgument when `url` is not ws://host[:port][/path] (port 80 when omitted, path "/").
absl::StatusOr<WsEndpoint> ParseWsEndpoint(std::string_view url);

// Rewrites a ws:// endpoint whose host is 0.0.0.0, 127.0.0.1, localhost or [::1] to `host`, as
// upstream's worker does with PRIVATE_HOSTNAME. Other endpoints, and any endpoint when `host` is
// empty, are returned unchanged.
std::string RewriteEndpointHost(const std::string& endpoint, const std::string& host);

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_COMMON_ENDPOINT_H_
