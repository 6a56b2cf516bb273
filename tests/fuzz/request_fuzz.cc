// libFuzzer harness: a client's request head, as the relay reads it. The bytes are parsed by
// websocketpp's request parser (ParseRequestHead), checked (IsCleanRequest), routed
// (RouteRequest: paths, ?browser=, the handshake checks, the answers), searched for a token
// (RequestToken: Bearer, basic auth, ?token=), and turned into the worker's upgrade request
// (ForwardedHeaders, BuildWorkerRequest). Invariants: the forwarded headers never carry the
// client's Authorization or Host, and the upgrade always targets the registry's endpoint (no
// target, query or Host of the client's reaches its request line).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lib/common/endpoint.h"
#include "lib/relay/http_surface.h"
#include "lib/relay/http_util.h"
#include "lib/relay/upgrade.h"

using namespace pwgrid;
using namespace pwgrid::internal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const size_t end = bytes.find("\r\n\r\n");
  const std::string_view head = end == std::string_view::npos ? bytes : bytes.substr(0, end + 4);
  std::optional<RequestHead> request = ParseRequestHead(head);
  if (!request) return 0;
  const bool clean = IsCleanRequest(*request);
  Route route = RouteRequest(*request, BrowserType::kChromium, 3);
  if (route.answer) (void)route.answer->Serialize();
  (void)RequestToken(*request);
  const auto [path, query] = SplitTarget(request->target);
  (void)QueryValue(query, "browser");
  (void)PlaywrightVersionFromUserAgent(request->Header("User-Agent"));
  if (!clean || route.answer) return 0;
  static const WsEndpoint worker = *ParseWsEndpoint("ws://10.0.0.7:4000/playwright/abc");
  const HeaderList forwarded = ForwardedHeaders(request->headers);
  const std::string upgrade = BuildWorkerRequest(worker, forwarded, "192.0.2.1");
  // Never an open proxy: the first line always names the worker's path.
  if (upgrade.rfind("GET /playwright/abc HTTP/1.1\r\n", 0) != 0) std::abort();
  for (const auto& [name, value] : forwarded) {
    std::string lower(name);
    for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    if (lower == "authorization" || lower == "host") std::abort();  // credentials stay here
  }
  return 0;
}
