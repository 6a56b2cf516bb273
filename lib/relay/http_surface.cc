// The relay's HTTP surface (see http_surface.h): routes, handshake checks and the answers of
// failed selections, byte for byte as playwright-distributed v0.3 where it has an answer.
#include "lib/relay/http_surface.h"

#include <algorithm>
#include <websocketpp/http/request.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "lib/common/json_util.h"
#include "lib/relay/http_util.h"

namespace pwgrid::internal {
namespace {

constexpr char kJsonContentType[] = "text/plain; charset=utf-8";  // what Go sniffs for JSON text
constexpr char kBody503[] = "{\"error\":{\"code\":503,\"message\":\"No available servers\"}}\n";
// pwgrid: the registry (Redis) cannot be reached; upstream answers 500 at once (defect I7).
constexpr char kBody503Registry[] =
    "{\"error\":{\"code\":503,\"message\":\"Worker registry unavailable\"}}\n";
constexpr char kBody500Internal[] =
    "{\"error\":{\"code\":500,\"message\":\"An internal error occurred\"}}\n";
constexpr char kBody500Browser[] =
    "{\"error\":{\"code\":500,\"message\":\"Browser server error\"}}\n";
constexpr char kBody429[] = "{\"error\":{\"code\":429,\"message\":\"Too many waiting clients\"}}\n";
constexpr char kBody401[] = "{\"error\":{\"code\":401,\"message\":\"Unauthorized\"}}\n";
constexpr char kBody503Connections[] =
    "{\"error\":{\"code\":503,\"message\":\"Too many connections\"}}\n";
constexpr char kBody426[] = "{\"message\":\"This endpoint is for WebSocket connections only.\"}\n";

HttpAnswer Answer(int status, std::string_view content_type, std::string body,
                  std::vector<std::string> headers, bool keep_alive) {
  HttpAnswer a;
  a.status = status;
  a.content_type = std::string(content_type);
  a.body = std::move(body);
  a.headers = std::move(headers);
  a.keep_alive = keep_alive;
  return a;
}

// An error answer to an upgrade request (counted as a rejection).
HttpAnswer Rejection(int status, std::string body, std::vector<std::string> headers,
                     bool keep_alive) {
  HttpAnswer a = Answer(status, kJsonContentType, std::move(body), std::move(headers), keep_alive);
  a.rejection = true;
  return a;
}

}  // namespace

std::string_view RequestHead::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return absl::ascii_tolower(static_cast<unsigned char>(a)) ==
                 absl::ascii_tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return {};
}

std::optional<RequestHead> ParseRequestHead(std::string_view head) {
  websocketpp::http::parser::request parsed;
  try {
    parsed.consume(head.data(), head.size());
  } catch (...) {
    return std::nullopt;
  }
  RequestHead request;
  request.method = parsed.get_method();
  request.target = parsed.get_uri();
  request.version = parsed.get_version();
  request.body_complete = parsed.ready();
  for (const auto& [name, value] : parsed.get_headers()) request.headers.emplace_back(name, value);
  return request;
}

std::string HttpAnswer::Serialize() const {
  return BuildResponse(status, content_type, body, headers, keep_alive);
}

Route RouteRequest(const RequestHead& request, BrowserType default_browser,
                   int64_t active_sessions) {
  Route route;
  const auto [path, query] = SplitTarget(request.target);
  const bool keep_alive = request.body_complete && request.version == "HTTP/1.1" &&
                          !TokenListContains(request.Header("Connection"), "close");
  if (path == "/metrics") {
    route.admin_only = true;
    route.answer =
        Answer(200, kJsonContentType,
               absl::StrCat("{\"activeConnections\":", active_sessions, "}\n"), {}, keep_alive);
    return route;
  }
  if (path == "/favicon.ico") {
    route.answer = Answer(204, "", "", {}, keep_alive);
    return route;
  }
  if (path != "/") {
    route.answer = Answer(404, "text/plain; charset=utf-8", "404 page not found\n",
                          {"X-Content-Type-Options: nosniff"}, keep_alive);
    return route;
  }
  route.browser = default_browser;
  if (std::optional<std::string> q = QueryValue(query, "browser"); q && !q->empty()) {
    absl::StatusOr<BrowserType> parsed = ParseBrowserType(*q);
    if (!parsed.ok()) {
      route.answer =
          Rejection(400,
                    absl::StrCat("{\"error\":{\"code\":400,\"message\":\"Unknown browser type: ",
                                 GoJsonEscape(*q), " - allowed: chromium, firefox, webkit\"}}\n"),
                    {}, keep_alive);
      return route;
    }
    route.browser = *parsed;
  }
  if (!TokenListContains(request.Header("Connection"), "upgrade") ||
      !TokenListContains(request.Header("Upgrade"), "websocket")) {
    route.answer = Rejection(426, kBody426, {}, keep_alive);
    return route;
  }
  // Handshake checks that upstream ran only after reserving and dialling a worker (so a bad
  // handshake pinned a worker); same answers (gorilla's), but before selection.
  if (request.method != "GET") {
    route.answer = Rejection(405, "Method Not Allowed\n", {"Sec-Websocket-Version: 13"}, false);
    return route;
  }
  if (!TokenListContains(request.Header("Sec-WebSocket-Version"), "13") ||
      !IsValidWebSocketKey(request.Header("Sec-WebSocket-Key"))) {
    route.answer = Rejection(400, "Bad Request\n", {"Sec-Websocket-Version: 13"}, false);
    return route;
  }
  route.playwright_version = PlaywrightVersionFromUserAgent(request.Header("User-Agent"));
  return route;
}

bool IsCleanRequest(const RequestHead& request) {
  if (!IsCleanTarget(request.target)) return false;
  for (const auto& [name, value] : request.headers) {
    if (!IsCleanHeader(name, value)) return false;
  }
  return true;
}

std::string RequestToken(const RequestHead& request) {
  const std::string_view auth = request.Header("Authorization");
  const size_t space = auth.find(' ');
  if (space != std::string_view::npos) {
    const std::string scheme = absl::AsciiStrToLower(std::string(auth.substr(0, space)));
    std::string_view rest = auth.substr(space + 1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (scheme == "bearer" && !rest.empty()) return std::string(rest);
    std::string decoded;
    if (scheme == "basic" && absl::Base64Unescape(std::string(rest), &decoded)) {
      const size_t colon = decoded.find(':');
      if (colon != std::string::npos && colon + 1 < decoded.size())
        return decoded.substr(colon + 1);
    }
  }
  const auto [path, query] = SplitTarget(request.target);
  return QueryValue(query, "token").value_or("");
}

HttpAnswer TooManyConnectionsAnswer() {
  return Rejection(503, kBody503Connections, {"Retry-After: 1"}, false);
}

HttpAnswer UnauthorizedAnswer() {
  return Rejection(401, kBody401, {"WWW-Authenticate: Bearer"}, false);
}

HttpAnswer BadRequestAnswer() {
  return Answer(400, kJsonContentType, "400 Bad Request\n", {}, false);
}

HttpAnswer HeadersTooLargeAnswer() {
  return Answer(431, kJsonContentType, "431 Request Header Fields Too Large\n", {}, false);
}

HttpAnswer BrowserServerErrorAnswer() { return Rejection(500, kBody500Browser, {}, false); }

std::optional<SelectionFailure> AnswerSelectionFailure(const absl::Status& s, bool stopping,
                                                       absl::Duration select_timeout,
                                                       const std::string& remote) {
  SelectionFailure f;
  if (absl::IsDeadlineExceeded(s) || absl::IsFailedPrecondition(s) ||
      (absl::IsCancelled(s) && stopping)) {
    f.log_message =
        absl::StrCat("Connection from ", remote, " rejected. No workers available after ",
                     absl::FormatDuration(select_timeout), " timeout: no available workers");
    f.answer = Rejection(503, kBody503, {"Retry-After: 1"}, false);
  } else if (absl::IsCancelled(s)) {
    return std::nullopt;  // the client left
  } else if (absl::IsUnavailable(s)) {
    f.log_message = absl::StrCat("Connection from ", remote,
                                 " rejected. Worker registry unavailable: ", s.message());
    f.answer = Rejection(503, kBody503Registry, {"Retry-After: 1"}, false);
  } else if (absl::IsResourceExhausted(s)) {
    f.level = LogLevel::kWarn;
    f.log_message = absl::StrCat("Connection from ", remote, " rejected. ", s.message());
    f.answer = Rejection(429, kBody429, {"Retry-After: 1"}, false);
  } else {
    f.log_message = absl::StrCat(
        "Connection from ", remote,
        " rejected. An unexpected error occurred while selecting a worker: ", s.ToString());
    f.answer = Rejection(500, kBody500Internal, {}, false);
  }
  return f;
}

}  // namespace pwgrid::internal
