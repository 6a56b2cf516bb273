// libFuzzer harness: the text parsers a registry or an operator feeds pwgrid: worker ws://
// endpoints (ParseWsEndpoint, RewriteEndpointHost), CIDR networks (IpNetwork: Parse, Contains,
// and ToString parsing back to the same network), and token lists (ParseAccessTokens).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lib/common/endpoint.h"
#include "pwgrid/auth.h"
#include "pwgrid/ip_network.h"

using namespace pwgrid;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (auto ep = internal::ParseWsEndpoint(text); ep.ok()) {
    (void)internal::RewriteEndpointHost(text, "10.1.2.3");
  }
  if (auto net = IpNetwork::Parse(text); net.ok()) {
    const std::string canonical = net->ToString();
    auto again = IpNetwork::Parse(canonical);
    if (!again.ok() || again->ToString() != canonical) std::abort();
    (void)net->Contains("10.0.0.1");
    (void)net->Contains("::1");
  }
  (void)ParseIpNetworks(text);
  (void)InAnyNetwork(PrivateNetworks(), text);
  if (auto tokens = ParseAccessTokens(text); tokens.ok()) {
    for (const AccessToken& t : *tokens) {
      if (t.name.empty() || t.secret.empty() || t.max_sessions < 0) std::abort();
    }
  }
  return 0;
}
