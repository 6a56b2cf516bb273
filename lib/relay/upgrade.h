// The upgrade towards the worker: which client headers are passed on, the request the relay
// sends to the worker, and reading the worker's answer (status and how its body is delimited)
// with websocketpp's response parser. Pure functions; C++17. Internal header.
#ifndef PWGRID_LIB_RELAY_UPGRADE_H_
#define PWGRID_LIB_RELAY_UPGRADE_H_

#include "lib/common/internal.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/common/endpoint.h"
#include "pwgrid/types.h"

namespace pwgrid::internal {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Headers that are not forwarded to the worker: hop-by-hop headers, the handshake headers the
// relay rewrites, and credentials meant for the grid (authorization, cookie). X-Forwarded-For and
// X-Pwgrid-Session-Id are dropped too: the relay writes its own.
bool IsDroppedRequestHeader(std::string_view lower_name);

// The client's headers that go on to the worker, in their order. `drop_version`: also
// User-Agent and x-playwright-version, so that the worker's Playwright runs no version check
// (RelayOptions::version_policy kAny, as upstream's proxy, which forwarded no client header).
HeaderList ForwardedHeaders(const HeaderList& client_headers, bool drop_version = false);

// The upgrade request for `worker`: GET <path>, Host rewritten to the worker, Upgrade and
// Connection, then `forwarded` as they are, then X-Forwarded-For: `client_ip` and
// X-Pwgrid-Session-Id: `session_id` (each when not empty; a client's own are dropped), so that
// the worker's log can be joined with the relay's.
// The client's Sec-WebSocket-* headers are among `forwarded`, so the worker's answer fits the
// client's handshake.
std::string BuildWorkerRequest(const WsEndpoint& worker, const HeaderList& forwarded,
                               const std::string& client_ip, const std::string& session_id = "");

// How the body of an HTTP response head is delimited (RFC 9112 section 6.3, for responses to a
// GET): no body (1xx, 204, 304), Content-Length, chunked, or until the connection closes.
struct BodyFraming {
  enum class Kind { kNone, kLength, kChunked, kUntilClose };
  Kind kind = Kind::kUntilClose;
  size_t length = 0;  // kLength
};

// The worker's answer to the upgrade. `status` is 0 when the head is not an HTTP response.
struct WorkerAnswer {
  int status = 0;
  BodyFraming framing;
};
// `head`: the answer up to and including its empty line (CRLF CRLF).
WorkerAnswer ParseWorkerAnswer(std::string_view head);

// True when `body` starts with a complete chunked body (last chunk and trailer section included).
bool ChunkedBodyComplete(std::string_view body);

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_RELAY_UPGRADE_H_
