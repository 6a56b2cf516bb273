// The relay's HTTP surface (see http_surface.h): routes, handshake checks and the answers of
// failed selections, byte for byte as playwright-distributed v0.3 where it has an answer.
#include "lib/relay/http_surface.h"

#include <algorithm>
#include <websocketpp/http/request.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
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
constexpr char kBody503ShuttingDown[] =
    "{\"error\":{\"code\":503,\"message\":\"Server is shutting down\"}}\n";
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

}  // namespace

HttpAnswer Rejection(int status, std::string_view reason, std::string body,
                     std::vector<std::string> headers, bool keep_alive) {
  HttpAnswer a = Answer(status, kJsonContentType, std::move(body), std::move(headers), keep_alive);
  a.rejection = true;
  a.reason = std::string(reason);
  return a;
}

HttpAnswer JsonAnswer(int status, std::string body, bool keep_alive) {
  return Answer(status, "application/json", std::move(body), {"Cache-Control: no-store"},
                keep_alive);
}

HttpAnswer ErrorAnswer(int status, std::string_view message, bool keep_alive) {
  return JsonAnswer(status,
                    absl::StrCat("{\"error\":{\"code\":", status, ",\"message\":\"",
                                 GoJsonEscape(message), "\"}}\n"),
                    keep_alive);
}

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

namespace {

bool HasPrefix(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
bool HasSuffix(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// `segment` with its %XX escapes decoded; nullopt when an escape is malformed.
std::optional<std::string> PathUnescape(std::string_view segment) {
  std::string out;
  for (size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] != '%') {
      out.push_back(segment[i]);
      continue;
    }
    if (i + 2 >= segment.size() || !absl::ascii_isxdigit(segment[i + 1]) ||
        !absl::ascii_isxdigit(segment[i + 2])) {
      return std::nullopt;
    }
    auto hex = [](char c) {
      return absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10;
    };
    out.push_back(static_cast<char>(hex(segment[i + 1]) * 16 + hex(segment[i + 2])));
    i += 2;
  }
  return out;
}

// /api/v1/status, POST /api/v1/workers/{id}/drain, DELETE /api/v1/sessions/{id}.
void RouteApi(const RequestHead& request, std::string_view path, bool keep_alive, Route& route) {
  auto method_not_allowed = [&](std::string_view allow) {
    HttpAnswer a = ErrorAnswer(405, "Method Not Allowed", keep_alive);
    a.headers.push_back("Allow: " + std::string(allow));
    route.answer = std::move(a);
  };
  if (path == "/api/v1/status") {
    if (request.method != "GET" && request.method != "HEAD") return method_not_allowed("GET");
    route.admin_only = true;
    route.endpoint = Endpoint::kStatus;
    route.answer = JsonAnswer(200, "", keep_alive);
    return;
  }
  constexpr std::string_view kWorkers = "/api/v1/workers/";
  constexpr std::string_view kSessions = "/api/v1/sessions/";
  constexpr std::string_view kDrain = "/drain";
  std::optional<std::string> id;
  if (HasPrefix(path, kWorkers) && HasSuffix(path, kDrain) &&
      path.size() > kWorkers.size() + kDrain.size()) {
    id = PathUnescape(path.substr(kWorkers.size(), path.size() - kWorkers.size() - kDrain.size()));
    if (id && request.method != "POST") return method_not_allowed("POST");
    route.endpoint = Endpoint::kDrainWorker;
  } else if (HasPrefix(path, kSessions) && path.size() > kSessions.size() &&
             path.find('/', kSessions.size()) == std::string_view::npos) {
    id = PathUnescape(path.substr(kSessions.size()));
    if (id && request.method != "DELETE") return method_not_allowed("DELETE");
    route.endpoint = Endpoint::kCloseSession;
  }
  if (!id) {
    route.endpoint = Endpoint::kNone;
    route.answer = ErrorAnswer(404, "Not Found", keep_alive);
    return;
  }
  route.action = true;
  route.id = *std::move(id);
  route.answer = JsonAnswer(202, "", keep_alive);  // filled in by the session
}

}  // namespace

bool WantsPrometheusText(const RequestHead& request) {
  const auto [path, query] = SplitTarget(request.target);
  if (QueryValue(query, "format").value_or("") == "prometheus") return true;
  // Prometheus asks for "application/openmetrics-text;version=1.0.0,…,text/plain;version=0.0.4;
  // q=0.5,*/*;q=0.1"; curl and browsers send */* or text/html: they keep upstream's JSON.
  const std::string_view accept = request.Header("Accept");
  for (absl::string_view range :
       absl::StrSplit(absl::string_view(accept.data(), accept.size()), ',')) {
    std::vector<absl::string_view> params = absl::StrSplit(range, ';');
    const std::string type = absl::AsciiStrToLower(absl::StripAsciiWhitespace(params[0]));
    if (type == "application/openmetrics-text") return true;
    if (type != "text/plain") continue;
    for (size_t i = 1; i < params.size(); ++i) {
      const std::string p = absl::AsciiStrToLower(absl::StripAsciiWhitespace(params[i]));
      if (absl::StartsWith(p, "version=")) return true;
    }
  }
  return false;
}

Route RouteRequest(const RequestHead& request, BrowserType default_browser,
                   int64_t active_sessions) {
  Route route;
  const auto [path, query] = SplitTarget(request.target);
  const bool keep_alive = request.body_complete && request.version == "HTTP/1.1" &&
                          !TokenListContains(request.Header("Connection"), "close");
  if (path == "/metrics") {
    route.admin_only = true;
    route.endpoint = Endpoint::kMetrics;
    route.prometheus = WantsPrometheusText(request);
    route.answer =
        Answer(200, kJsonContentType,
               absl::StrCat("{\"activeConnections\":", active_sessions, "}\n"), {}, keep_alive);
    return route;
  }
  if (path == "/healthz") {
    route.answer = JsonAnswer(200, "{\"status\":\"ok\"}\n", keep_alive);
    return route;
  }
  if (path == "/readyz") {
    route.endpoint = Endpoint::kReadiness;
    route.answer = JsonAnswer(200, "", keep_alive);  // filled in by the session
    return route;
  }
  if (path == "/ui") {
    route.answer = Answer(301, "", "", {"Location: /ui/"}, keep_alive);
    return route;
  }
  if (path == "/ui/") {
    route.endpoint = Endpoint::kStatusPage;
    route.answer =
        Answer(200, "text/html; charset=utf-8", "", {"Cache-Control: no-store"}, keep_alive);
    return route;
  }
  if (HasPrefix(path, "/api/")) {
    RouteApi(request, path, keep_alive, route);
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
          Rejection(400, "unknown browser type",
                    absl::StrCat("{\"error\":{\"code\":400,\"message\":\"Unknown browser type: ",
                                 GoJsonEscape(*q), " - allowed: chromium, firefox, webkit\"}}\n"),
                    {}, keep_alive);
      return route;
    }
    route.browser = *parsed;
  }
  if (!TokenListContains(request.Header("Connection"), "upgrade") ||
      !TokenListContains(request.Header("Upgrade"), "websocket")) {
    route.answer = Rejection(426, "not a websocket upgrade", kBody426, {}, keep_alive);
    return route;
  }
  // Handshake checks that upstream ran only after reserving and dialling a worker (so a bad
  // handshake pinned a worker); same answers (gorilla's), but before selection.
  if (request.method != "GET") {
    route.answer = Rejection(405, "method not allowed", "Method Not Allowed\n",
                             {"Sec-Websocket-Version: 13"}, false);
    return route;
  }
  if (!TokenListContains(request.Header("Sec-WebSocket-Version"), "13") ||
      !IsValidWebSocketKey(request.Header("Sec-WebSocket-Key"))) {
    route.answer = Rejection(400, "bad websocket handshake", "Bad Request\n",
                             {"Sec-Websocket-Version: 13"}, false);
    return route;
  }
  // The client's Playwright version: an explicit one (the query parameter, then the header) must
  // be a version; Playwright's own User-Agent is read as it comes.
  std::optional<std::string> explicit_version = QueryValue(query, "playwright");
  if (!explicit_version || explicit_version->empty()) {
    const std::string_view header = request.Header("x-playwright-version");
    explicit_version =
        header.empty() ? std::nullopt : std::optional<std::string>(std::string(header));
  }
  if (explicit_version && !explicit_version->empty()) {
    if (PlaywrightMinor(*explicit_version).empty()) {
      route.answer = Rejection(
          400, "bad playwright version",
          absl::StrCat("{\"error\":{\"code\":400,\"message\":\"Invalid Playwright version: ",
                       GoJsonEscape(*explicit_version),
                       " - expected major.minor[.patch], such as 1.65 or 1.65.1\"}}\n"),
          {}, keep_alive);
      return route;
    }
    route.playwright_version = *explicit_version;
  } else {
    route.playwright_version = PlaywrightVersionFromUserAgent(request.Header("User-Agent"));
  }
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
  return Rejection(503, "too many connections", kBody503Connections, {"Retry-After: 1"}, false);
}

HttpAnswer UnauthorizedAnswer() {
  return Rejection(401, "unauthorized", kBody401, {"WWW-Authenticate: Bearer"}, false);
}

HttpAnswer BadRequestAnswer() {
  return Answer(400, kJsonContentType, "400 Bad Request\n", {}, false);
}

HttpAnswer HeadersTooLargeAnswer() {
  return Answer(431, kJsonContentType, "431 Request Header Fields Too Large\n", {}, false);
}

HttpAnswer BrowserServerErrorAnswer() {
  return Rejection(500, "browser server error", kBody500Browser, {}, false);
}

HttpAnswer ForbiddenAnswer(std::string_view message) {
  HttpAnswer a = Rejection(
      403, "forbidden",
      absl::StrCat("{\"error\":{\"code\":403,\"message\":\"", GoJsonEscape(message), "\"}}\n"), {},
      false);
  a.content_type = "application/json";
  return a;
}

HttpAnswer ShuttingDownAnswer() {
  return Rejection(503, "shutting down", kBody503ShuttingDown, {"Retry-After: 5"}, false);
}

HttpAnswer BrowserNotServedAnswer(std::string_view message) {
  return Rejection(
      503, "browser not served",
      absl::StrCat("{\"error\":{\"code\":503,\"message\":\"", GoJsonEscape(message), "\"}}\n"), {},
      false);
}

HttpAnswer VersionNotServedAnswer(std::string_view message, std::string_view client_version,
                                  const std::vector<std::string>& grid_versions) {
  std::string versions;
  for (const std::string& v : grid_versions) {
    absl::StrAppend(&versions, versions.empty() ? "" : ",", "\"", GoJsonEscape(v), "\"");
  }
  return Rejection(428, "playwright version not served",
                   absl::StrCat("{\"error\":{\"code\":428,\"message\":\"", GoJsonEscape(message),
                                "\",\"clientVersion\":\"", GoJsonEscape(client_version),
                                "\",\"gridVersions\":[", versions, "]}}\n"),
                   {}, false);
}

std::optional<SelectionFailure> AnswerSelectionFailure(const absl::Status& s, bool stopping,
                                                       absl::Duration select_timeout,
                                                       const std::string& remote) {
  SelectionFailure f;
  if (absl::IsDeadlineExceeded(s) || absl::IsFailedPrecondition(s) ||
      (absl::IsCancelled(s) && stopping)) {
    f.log_message =
        absl::StrCat("Connection from ", remote, " rejected. No workers available after ",
                     absl::FormatDuration(select_timeout), " timeout: no available workers");
    f.answer = Rejection(503, "no available servers", kBody503, {"Retry-After: 1"}, false);
  } else if (absl::IsCancelled(s)) {
    return std::nullopt;  // the client left
  } else if (absl::IsUnavailable(s)) {
    f.log_message = absl::StrCat("Connection from ", remote,
                                 " rejected. Worker registry unavailable: ", s.message());
    f.answer = Rejection(503, "registry unavailable", kBody503Registry, {"Retry-After: 1"}, false);
  } else if (absl::IsResourceExhausted(s)) {
    f.level = LogLevel::kWarn;
    f.log_message = absl::StrCat("Connection from ", remote, " rejected. ", s.message());
    f.answer = Rejection(429, "too many waiting clients", kBody429, {"Retry-After: 1"}, false);
  } else {
    f.log_message = absl::StrCat(
        "Connection from ", remote,
        " rejected. An unexpected error occurred while selecting a worker: ", s.ToString());
    f.answer = Rejection(500, "internal error", kBody500Internal, {}, false);
  }
  return f;
}

}  // namespace pwgrid::internal
