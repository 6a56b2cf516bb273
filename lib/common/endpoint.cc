// ws:// endpoints of workers: parsing, and the PRIVATE_HOSTNAME rewrite (see endpoint.h).
#include "lib/common/endpoint.h"

#include <charconv>

#include "absl/strings/str_cat.h"

namespace pwgrid::internal {
namespace {

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

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

std::string RewriteEndpointHost(const std::string& endpoint, const std::string& host) {
  if (host.empty()) return endpoint;
  for (const char* loopback : {"ws://0.0.0.0", "ws://127.0.0.1", "ws://localhost", "ws://[::1]"}) {
    const std::string prefix = loopback;
    if (endpoint.compare(0, prefix.size(), prefix) == 0 &&
        (endpoint.size() == prefix.size() || endpoint[prefix.size()] == ':' ||
         endpoint[prefix.size()] == '/')) {
      return absl::StrCat("ws://", host, endpoint.substr(prefix.size()));
    }
  }
  return endpoint;
}

}  // namespace pwgrid::internal
