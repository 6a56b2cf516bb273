// HTTP/1.1 text helpers of the relay: request-target splitting, Go-style query decoding, header
// token lists, header hygiene, response building. Pure functions; C++17. Internal header.
#ifndef PWGRID_LIB_RELAY_HTTP_UTIL_H_
#define PWGRID_LIB_RELAY_HTTP_UTIL_H_

#include "lib/common/internal.h"

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

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_RELAY_HTTP_UTIL_H_
