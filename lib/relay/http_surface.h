// The relay's HTTP surface as pure functions: what a request head is answered with (upstream's
// routes, handshake checks before any worker is reserved) and which HTTP answer each selection
// or dial failure becomes. No sockets: relay sessions call these, tests call them directly.
// C++17. Internal header.
#ifndef PWGRID_LIB_RELAY_HTTP_SURFACE_H_
#define PWGRID_LIB_RELAY_HTTP_SURFACE_H_

#include "lib/common/internal.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "pwgrid/logging.h"
#include "pwgrid/types.h"

namespace pwgrid::internal {

// A request head as the relay's parser read it.
struct RequestHead {
  std::string method;
  std::string target;   // origin form, "/?browser=chromium"
  std::string version;  // "HTTP/1.1"
  std::vector<std::pair<std::string, std::string>> headers;
  bool body_complete = true;  // false: a body announced by Content-Length has not been read

  // The value of header `name` (ASCII case-insensitive), "" when absent.
  std::string_view Header(std::string_view name) const;
};

// An answer of the relay's own.
struct HttpAnswer {
  int status = 0;
  std::string content_type;  // "" for none
  std::string body;
  std::vector<std::string> headers;  // extra "Name: value" lines, without CRLF
  bool keep_alive = false;           // the connection then reads the next request
  bool rejection = false;            // counted in RelayStats::rejected_requests
  std::string reason;  // of a rejection: a short fixed phrase for logs and metrics labels

  // The bytes on the wire.
  std::string Serialize() const;
};

// Parses a request head (up to and including its empty line) with websocketpp's request parser.
// nullopt: it does not parse.
std::optional<RequestHead> ParseRequestHead(std::string_view head);

// The operator's endpoints whose answer the session completes from the relay's state.
enum class Endpoint {
  kNone,          // `answer` is complete
  kMetrics,       // /metrics: JSON as it is, or the Prometheus text when `prometheus`
  kReadiness,     // /readyz
  kStatus,        // GET /api/v1/status
  kStatusPage,    // /ui/
  kDrainWorker,   // POST /api/v1/workers/{id}/drain
  kCloseSession,  // DELETE /api/v1/sessions/{id}
};

// What to do with a request: answer it, or upgrade it to a session with a worker.
struct Route {
  std::optional<HttpAnswer> answer;  // set: write it; unset: select a worker for `browser`
  BrowserType browser = BrowserType::kChromium;
  // The client's Playwright version: ?playwright=, else the x-playwright-version header, else
  // Playwright's User-Agent ("Playwright/1.65.1 (…)"); "" when none says. An explicit one that is
  // not a version is answered 400.
  std::string playwright_version;
  // An operator's read-only endpoint (/metrics, /api/v1/status): admin_authenticator.
  bool admin_only = false;
  bool action = false;  // an operator's action: actions_authenticator
  Endpoint endpoint = Endpoint::kNone;
  bool prometheus = false;  // kMetrics: the client asked for the Prometheus text format
  std::string id;           // kDrainWorker, kCloseSession: the worker's or the session's, decoded
};

// True when /metrics is asked for Prometheus's text format: ?format=prometheus, or an Accept
// with application/openmetrics-text or text/plain with a version parameter (Prometheus's own
// scraper sends both).
bool WantsPrometheusText(const RequestHead& request);

// `active_sessions`: what /metrics reports.
Route RouteRequest(const RequestHead& request, BrowserType default_browser,
                   int64_t active_sessions);

// False when the head must not be passed on (a control character in the target or a header
// value, a header name that is not a token): it gets BadRequestAnswer().
bool IsCleanRequest(const RequestHead& request);

// The token a request carries: `Authorization: Bearer <token>`, else the password of
// `Authorization: Basic`, else the query parameter `token`; "" when none.
std::string RequestToken(const RequestHead& request);

HttpAnswer UnauthorizedAnswer();        // 401, WWW-Authenticate: Bearer
HttpAnswer TooManyConnectionsAnswer();  // 503 "Too many connections", over a connection limit
HttpAnswer BadRequestAnswer();          // 400 "400 Bad Request\n", malformed or unclean head
HttpAnswer HeadersTooLargeAnswer();     // 431, the head is over max_request_bytes
HttpAnswer BrowserServerErrorAnswer();  // 500 "Browser server error", after the last failed dial
HttpAnswer ShuttingDownAnswer();        // 503 "Server is shutting down", Retry-After: 5
HttpAnswer ForbiddenAnswer(std::string_view message);         // 403, a rejection
HttpAnswer BrowserNotServedAnswer(std::string_view message);  // 503 at once, a rejection
// 428 at once, a rejection: {"error":{"code":428,"message":…,"clientVersion":…,
// "gridVersions":[…]}} (the major.minor versions the grid's workers of that browser have).
HttpAnswer VersionNotServedAnswer(std::string_view message, std::string_view client_version,
                                  const std::vector<std::string>& grid_versions);
// An error answer to an upgrade request (counted as a rejection, logged with `reason`).
HttpAnswer Rejection(int status, std::string_view reason, std::string body,
                     std::vector<std::string> headers, bool keep_alive);
// application/json answers of the operator's endpoints (not rejections).
HttpAnswer JsonAnswer(int status, std::string body, bool keep_alive);
HttpAnswer ErrorAnswer(int status, std::string_view message, bool keep_alive);

// The answer to a failed selection, with the line the relay logs. nullopt: the client left
// (Cancelled while not stopping), nothing to answer.
struct SelectionFailure {
  HttpAnswer answer;
  LogLevel level = LogLevel::kError;
  std::string log_message;
};
std::optional<SelectionFailure> AnswerSelectionFailure(const absl::Status& status, bool stopping,
                                                       absl::Duration select_timeout,
                                                       const std::string& remote);

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_RELAY_HTTP_SURFACE_H_
