// Internal HTTP helpers of the relay: request-target splitting, query decoding, token lists,
// response building. C++17; no Asio or websocketpp types. Not a public header.
#ifndef PWGRID_LIB_NET_HTTP_UTIL_H_
#define PWGRID_LIB_NET_HTTP_UTIL_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pwgrid::internal {

// Splits an origin-form request target into path and raw query ("/a?b=c" -> "/a", "b=c").
std::pair<std::string, std::string> SplitTarget(std::string_view target);

// The first value of `key` in a raw query string, decoded as Go's url.ParseQuery does ('+' is a
// space, %XX escapes). nullopt when the key is absent.
std::optional<std::string> QueryValue(std::string_view query, std::string_view key);

// True when the comma-separated header value contains `token` (ASCII case-insensitive), as
// gorilla/websocket's tokenListContainsValue.
bool TokenListContains(std::string_view header_value, std::string_view token);

// A Sec-WebSocket-Key that is base64 of exactly 16 bytes.
bool IsValidWebSocketKey(std::string_view key);

// The Playwright version in a client's User-Agent ("Playwright/1.65.1 (x64; …)" -> "1.65.1"), or
// "" when absent.
std::string PlaywrightVersionFromUserAgent(std::string_view user_agent);

// True when a header may be passed on as it is: the name is an HTTP token and the value has no
// control character but HTAB (a bare CR, LF or NUL in a value would let a client forge headers
// or a second request towards the worker).
bool IsCleanHeader(std::string_view name, std::string_view value);

// True when a request target has no control character and no space.
bool IsCleanTarget(std::string_view target);

// Reason phrase for a status code, e.g. 404 -> "Not Found".
std::string_view StatusText(int status);

// A complete HTTP/1.1 response with Content-Length. `extra_headers` are "Name: value" lines
// without CRLF.
std::string BuildResponse(int status, std::string_view content_type, std::string_view body,
                          const std::vector<std::string>& extra_headers, bool keep_alive);

// Headers that are not forwarded to the worker: hop-by-hop headers, the handshake headers the
// relay rewrites, and credentials meant for the grid.
bool IsDroppedRequestHeader(std::string_view lower_name);

// The status code of an HTTP response head ("HTTP/1.1 101 Switching Protocols…"), or 0.
int ResponseStatus(std::string_view head);

// How the body of an HTTP response head is delimited (RFC 9112 section 6.3, for responses to a
// GET): no body (1xx, 204, 304), Content-Length, chunked, or until the connection closes.
struct BodyFraming {
  enum class Kind { kNone, kLength, kChunked, kUntilClose };
  Kind kind = Kind::kUntilClose;
  size_t length = 0;  // kLength
};
BodyFraming ResponseBodyFraming(std::string_view head);

// True when `body` starts with a complete chunked body (last chunk and trailer section included).
bool ChunkedBodyComplete(std::string_view body);

// Tracks WebSocket frame boundaries in one direction of a byte stream, reading only headers.
class FrameTracker {
 public:
  void Consume(const unsigned char* data, size_t n);
  // True when the stream is between frames (a frame can be injected here).
  bool at_boundary() const { return remaining_ == 0 && header_len_ == 0; }
  // True once a close frame (opcode 8) has started in this direction.
  bool close_seen() const { return close_seen_; }
  // Messages (final frames of data messages) seen so far.
  long long messages() const { return messages_; }

 private:
  unsigned char header_[14] = {};
  size_t header_len_ = 0;
  unsigned long long remaining_ = 0;
  bool close_seen_ = false;
  long long messages_ = 0;
};

// An unmasked close frame (as a server sends it) with `code` and a short `reason`.
std::string ServerCloseFrame(int code, std::string_view reason);

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_NET_HTTP_UTIL_H_
