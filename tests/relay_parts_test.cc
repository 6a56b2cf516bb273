// The relay's pure parts, without sockets: frame tracking, close frames, Go-style query parsing,
// header token lists, WebSocket key validation, Go-style JSON escaping, endpoints, the upgrade
// request and the worker's answer, and the HTTP surface (routes and failure answers).
#include <doctest/doctest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <string>
#include <vector>

#include "lib/common/endpoint.h"
#include "lib/common/json_util.h"
#include "lib/relay/http_surface.h"
#include "lib/relay/http_util.h"
#include "lib/relay/metric_families.h"
#include "lib/relay/operator_api.h"
#include "lib/relay/upgrade.h"
#include "lib/relay/ws_frame.h"

namespace pwgrid::internal {
namespace {

std::vector<unsigned char> Frame(unsigned char first, bool masked, unsigned long long len) {
  std::vector<unsigned char> f = {first};
  const unsigned char mask = masked ? 0x80 : 0;
  if (len < 126) {
    f.push_back(static_cast<unsigned char>(mask | len));
  } else if (len < 65536) {
    f.push_back(mask | 126);
    f.push_back(static_cast<unsigned char>(len >> 8));
    f.push_back(static_cast<unsigned char>(len));
  } else {
    f.push_back(mask | 127);
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<unsigned char>(len >> (8 * i)));
  }
  if (masked) f.insert(f.end(), {1, 2, 3, 4});
  f.insert(f.end(), static_cast<size_t>(std::min<unsigned long long>(len, 1 << 20)), 'x');
  return f;
}

TEST_CASE("FrameTracker follows boundaries across reads of any size") {
  std::vector<unsigned char> stream;
  for (auto f : {Frame(0x81, true, 5), Frame(0x82, false, 300), Frame(0x01, true, 70000),
                 Frame(0x80, true, 3)}) {
    stream.insert(stream.end(), f.begin(), f.end());
  }
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{4096}, stream.size()}) {
    CAPTURE(chunk);
    FrameTracker t;
    for (size_t at = 0; at < stream.size(); at += chunk) {
      t.Consume(stream.data() + at, std::min(chunk, stream.size() - at));
    }
    CHECK(t.at_boundary());
    CHECK(t.messages() == 3);  // two whole messages and a fragmented one (FIN on its last frame)
    CHECK_FALSE(t.close_seen());
  }
  FrameTracker split;
  const std::vector<unsigned char> f = Frame(0x82, true, 200);
  split.Consume(f.data(), 3);  // inside the extended length
  CHECK_FALSE(split.at_boundary());
  split.Consume(f.data() + 3, f.size() - 3);
  CHECK(split.at_boundary());
}

TEST_CASE("FrameTracker reads 64-bit lengths without the payload") {
  FrameTracker t;
  std::vector<unsigned char> head = {0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0};  // 2^32 bytes
  t.Consume(head.data(), head.size());
  CHECK_FALSE(t.at_boundary());
  std::vector<unsigned char> payload(1 << 20, 'x');
  for (int i = 0; i < 4096; ++i) t.Consume(payload.data(), payload.size());
  CHECK(t.at_boundary());
  CHECK(t.messages() == 1);
}

TEST_CASE("close frames are seen, and the injected one is a valid unmasked close") {
  FrameTracker t;
  const std::vector<unsigned char> close = Frame(0x88, true, 2);
  t.Consume(close.data(), close.size());
  CHECK(t.close_seen());
  const std::string f = ServerCloseFrame(1011, "browser server closed the connection");
  REQUIRE(f.size() == 4 + 36);
  CHECK(static_cast<unsigned char>(f[0]) == 0x88);
  CHECK(static_cast<unsigned char>(f[1]) == 38);  // no mask bit, 2 + reason
  CHECK(((static_cast<unsigned char>(f[2]) << 8) | static_cast<unsigned char>(f[3])) == 1011);
  CHECK(f.substr(4) == "browser server closed the connection");
  CHECK(ServerCloseFrame(1000, std::string(300, 'r')).size() == 4 + 123);  // fits a control frame
}

TEST_CASE("FrameTracker reads the first close frame's code through its mask") {
  auto close_with = [](std::vector<unsigned char> payload, bool masked) {
    std::vector<unsigned char> f = {
        0x88, static_cast<unsigned char>((masked ? 0x80 : 0) | payload.size())};
    const unsigned char key[4] = {0x11, 0x22, 0x33, 0x44};
    if (masked) f.insert(f.end(), key, key + 4);
    for (size_t i = 0; i < payload.size(); ++i) {
      f.push_back(masked ? static_cast<unsigned char>(payload[i] ^ key[i % 4]) : payload[i]);
    }
    return f;
  };
  for (size_t chunk : {size_t{1}, size_t{3}, size_t{64}}) {
    CAPTURE(chunk);
    FrameTracker t;
    CHECK(t.close_code() == -1);
    std::vector<unsigned char> stream = Frame(0x81, true, 5);
    const std::vector<unsigned char> c = close_with({0x03, 0xF0, 'b', 'y', 'e'}, true);  // 1008
    stream.insert(stream.end(), c.begin(), c.end());
    const std::vector<unsigned char> second = close_with({0x03, 0xE8}, true);  // ignored
    stream.insert(stream.end(), second.begin(), second.end());
    for (size_t at = 0; at < stream.size(); at += chunk) {
      t.Consume(stream.data() + at, std::min(chunk, stream.size() - at));
    }
    CHECK(t.close_seen());
    CHECK(t.close_code() == 1008);
  }
  FrameTracker unmasked;
  const std::vector<unsigned char> c = close_with({0x03, 0xE9}, false);
  unmasked.Consume(c.data(), c.size());
  CHECK(unmasked.close_code() == 1001);
  FrameTracker empty;
  const std::vector<unsigned char> e = close_with({}, true);
  empty.Consume(e.data(), e.size());
  CHECK(empty.close_code() == 1005);  // no status code in the frame
}

TEST_CASE("query values are decoded as Go's url.ParseQuery") {
  CHECK(QueryValue("browser=chromium", "browser").value() == "chromium");
  CHECK(QueryValue("a=1&browser=fire%66ox&browser=webkit", "browser").value() == "firefox");
  CHECK(QueryValue("browser=a+b", "browser").value() == "a b");
  CHECK(QueryValue("browser=%zz&browser=webkit", "browser").value() == "webkit");  // bad escape
  CHECK(QueryValue("browser=x;y&browser=webkit", "browser").value() == "webkit");  // ';' dropped
  CHECK(QueryValue("browser", "browser").value().empty());
  CHECK_FALSE(QueryValue("other=1", "browser").has_value());
  CHECK(SplitTarget("/a?b=c#frag") == std::pair<std::string, std::string>("/a", "b=c"));
  CHECK(SplitTarget("/") == std::pair<std::string, std::string>("/", ""));
}

TEST_CASE("header token lists and WebSocket keys are checked as gorilla does") {
  CHECK(TokenListContains("keep-alive, Upgrade", "upgrade"));
  CHECK(TokenListContains(" websocket ", "websocket"));
  CHECK_FALSE(TokenListContains("upgrades", "upgrade"));
  CHECK_FALSE(TokenListContains("", "upgrade"));
  CHECK(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZQ=="));
  CHECK_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZQ="));
  CHECK_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZR=="));  // the last sextet carries 4 bits
  CHECK_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25j!Q=="));
  CHECK(PlaywrightVersionFromUserAgent("Playwright/1.65.1 (x64; debian 12) node/20.0") == "1.65.1");
  CHECK(PlaywrightVersionFromUserAgent("curl/8").empty());
  CHECK(IsCleanHeader("X-Token", "a\tb"));
  CHECK_FALSE(IsCleanHeader("X-Token", "a\rb"));
  CHECK_FALSE(IsCleanHeader("X Token", "a"));
  CHECK_FALSE(IsCleanTarget("/a\x01"));
}

TEST_CASE("strings are escaped as Go's encoding/json does") {
  CHECK(GoJsonEscape("a\"b\\c") == "a\\\"b\\\\c");
  CHECK(GoJsonEscape("\n\r\t") == "\\n\\r\\t");
  CHECK(GoJsonEscape(std::string("\x01", 1)) == "\\u0001");
  CHECK(GoJsonEscape("<a>&") == "\\u003ca\\u003e\\u0026");
  CHECK(GoJsonEscape("\xe2\x80\xa8") == "\\u2028");
  CHECK(GoJsonEscape("\xff") == "\\ufffd");
  CHECK(GoJsonEscape("h\xc3\xa9") == "h\xc3\xa9");
}

TEST_CASE("worker endpoints") {
  CHECK(ParseWsEndpoint("ws://[::1]:3131/playwright/x").value().host == "::1");
  CHECK(ParseWsEndpoint("ws://h/").value().port == 80);
  CHECK(ParseWsEndpoint("ws://h:1").value().path == "/");
  CHECK_FALSE(ParseWsEndpoint("wss://h:1/").ok());
  CHECK_FALSE(ParseWsEndpoint("ws://h:0/").ok());
  CHECK_FALSE(ParseWsEndpoint("ws://:1/").ok());
  CHECK(RewriteEndpointHost("ws://0.0.0.0:3131/p", "worker") == "ws://worker:3131/p");
  CHECK(RewriteEndpointHost("ws://[::1]:3131/p", "worker") == "ws://worker:3131/p");
  CHECK(RewriteEndpointHost("ws://10.0.0.1:3131/p", "worker") == "ws://10.0.0.1:3131/p");
  CHECK(RewriteEndpointHost("ws://localhostx:1/p", "worker") == "ws://localhostx:1/p");
  CHECK(RewriteEndpointHost("ws://0.0.0.0:3131/p", "") == "ws://0.0.0.0:3131/p");
}

TEST_CASE("the upgrade request drops credentials and hop-by-hop headers and adds X-Forwarded-For") {
  const HeaderList client = {{"Host", "grid:8080"},
                             {"Connection", "Upgrade"},
                             {"Upgrade", "websocket"},
                             {"Sec-WebSocket-Key", "k"},
                             {"Sec-WebSocket-Version", "13"},
                             {"Authorization", "Bearer t"},
                             {"Cookie", "c=1"},
                             {"X-Forwarded-For", "6.6.6.6"},
                             {"User-Agent", "Playwright/1.65.1"},
                             {"x-playwright-browser", "chromium"}};
  const HeaderList forwarded = ForwardedHeaders(client);
  CHECK(forwarded == HeaderList{{"Sec-WebSocket-Key", "k"},
                                {"Sec-WebSocket-Version", "13"},
                                {"User-Agent", "Playwright/1.65.1"},
                                {"x-playwright-browser", "chromium"}});
  WsEndpoint worker{"::1", 3131, "/playwright/u"};
  CHECK(BuildWorkerRequest(worker, forwarded, "10.0.0.5") ==
        "GET /playwright/u HTTP/1.1\r\nHost: [::1]:3131\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n"
        "User-Agent: Playwright/1.65.1\r\nx-playwright-browser: chromium\r\n"
        "X-Forwarded-For: 10.0.0.5\r\n\r\n");
  // The session id is sent so that the worker's log can be joined with the relay's; a client's
  // own X-Pwgrid-Session-Id is not passed on.
  HeaderList spoofed = client;
  spoofed.push_back({"x-pwgrid-session-id", "forged"});
  const std::string with_id = BuildWorkerRequest(worker, ForwardedHeaders(spoofed), "10.0.0.5",
                                                 "3f2c9a4e-0000-4000-8000-000000000001");
  CHECK(with_id.find("X-Pwgrid-Session-Id: 3f2c9a4e-0000-4000-8000-000000000001\r\n") !=
        std::string::npos);
  CHECK(with_id.find("forged") == std::string::npos);
  // VERSION_POLICY=any: the worker's Playwright must not see the client's version.
  HeaderList versioned = client;
  versioned.push_back({"X-Playwright-Version", "1.64"});
  CHECK(ForwardedHeaders(versioned, /*drop_version=*/true) ==
        HeaderList{{"Sec-WebSocket-Key", "k"},
                   {"Sec-WebSocket-Version", "13"},
                   {"x-playwright-browser", "chromium"}});
  CHECK(ForwardedHeaders(versioned).back() ==
        std::pair<std::string, std::string>{"X-Playwright-Version", "1.64"});
}

TEST_CASE("the worker's answer: status and body framing") {
  using Kind = BodyFraming::Kind;
  WorkerAnswer a =
      ParseWorkerAnswer("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
  CHECK(a.status == 101);
  CHECK(a.framing.kind == Kind::kNone);
  a = ParseWorkerAnswer("HTTP/1.1 428 Precondition Required\r\nContent-Length: 12\r\n\r\n");
  CHECK(a.status == 428);
  CHECK(a.framing.kind == Kind::kLength);
  CHECK(a.framing.length == 12);
  a = ParseWorkerAnswer(
      "HTTP/1.1 500 x\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  CHECK(a.framing.kind == Kind::kChunked);
  a = ParseWorkerAnswer("HTTP/1.1 428 x\r\nConnection: close\r\n\r\n");
  CHECK(a.framing.kind == Kind::kUntilClose);
  CHECK(ParseWorkerAnswer("HTTP/1.1 204 No Content\r\n\r\n").framing.kind == Kind::kNone);
  CHECK(ParseWorkerAnswer("SSH-2.0-OpenSSH\r\n\r\n").status == 0);
  // Codes websocketpp's enum cannot hold are not an answer (UB in its parser before the check:
  // found by tests/fuzz/worker_answer_fuzz, the input is in its corpus).
  CHECK(ParseWorkerAnswer("HTTP/1.1 711 Bad Request\r\nContent-Length: 11\r\n\r\n").status == 0);
  CHECK(ParseWorkerAnswer("HTTP/1.1 -42 x\r\n\r\n").status == 0);
  CHECK(ParseWorkerAnswer("HTTP/1.1 4280 x\r\n\r\n").status == 0);
  CHECK(ParseWorkerAnswer("HTTP/1.1 99 x\r\n\r\n").status == 0);
  CHECK(ParseWorkerAnswer("HTTP/1.1 511 Network Authentication Required\r\n\r\n").status == 511);
  CHECK(ChunkedBodyComplete("5\r\nhello\r\n0\r\n\r\n"));
  CHECK(ChunkedBodyComplete("5\r\nhello\r\n0\r\nTrailer: x\r\n\r\n"));
  CHECK_FALSE(ChunkedBodyComplete("5\r\nhello\r\n0\r\n"));
  CHECK_FALSE(ChunkedBodyComplete("5\r\nhel"));
  CHECK_FALSE(ChunkedBodyComplete("zz\r\n"));
}

RequestHead Upgrade(std::string target) {
  RequestHead r;
  r.method = "GET";
  r.target = std::move(target);
  r.version = "HTTP/1.1";
  r.headers = {{"Connection", "Upgrade"},
               {"Upgrade", "websocket"},
               {"Sec-WebSocket-Version", "13"},
               {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
               {"User-Agent", "Playwright/1.65.1 (x64)"}};
  return r;
}

TEST_CASE("the HTTP surface: routes and handshake checks") {
  Route r = RouteRequest(Upgrade("/?browser=firefox"), BrowserType::kChromium, 0);
  CHECK_FALSE(r.answer.has_value());
  CHECK(r.browser == BrowserType::kFirefox);
  CHECK(r.playwright_version == "1.65.1");
  CHECK(RouteRequest(Upgrade("/"), BrowserType::kWebkit, 0).browser == BrowserType::kWebkit);
  CHECK(RouteRequest(Upgrade("/?browser="), BrowserType::kWebkit, 0).browser ==
        BrowserType::kWebkit);

  r = RouteRequest(Upgrade("/metrics"), BrowserType::kChromium, 7);
  REQUIRE(r.answer.has_value());
  CHECK(r.answer->Serialize() ==
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 24\r\n\r\n"
        "{\"activeConnections\":7}\n");
  CHECK_FALSE(r.answer->rejection);
  CHECK(RouteRequest(Upgrade("/favicon.ico"), BrowserType::kChromium, 0).answer->Serialize() ==
        "HTTP/1.1 204 No Content\r\n\r\n");
  CHECK(RouteRequest(Upgrade("/x"), BrowserType::kChromium, 0).answer->status == 404);

  r = RouteRequest(Upgrade("/?browser=%3Cedge%3E"), BrowserType::kChromium, 0);
  CHECK(r.answer->status == 400);
  CHECK(
      r.answer->body ==
      "{\"error\":{\"code\":400,\"message\":\"Unknown browser type: \\u003cedge\\u003e - allowed: "
      "chromium, firefox, webkit\"}}\n");
  CHECK(r.answer->rejection);

  RequestHead plain = Upgrade("/");
  plain.headers.erase(plain.headers.begin(), plain.headers.begin() + 2);
  CHECK(RouteRequest(plain, BrowserType::kChromium, 0).answer->status == 426);
  CHECK(RouteRequest(plain, BrowserType::kChromium, 0).answer->keep_alive);
  plain.headers.push_back({"Connection", "close"});
  CHECK_FALSE(RouteRequest(plain, BrowserType::kChromium, 0).answer->keep_alive);

  RequestHead post = Upgrade("/");
  post.method = "POST";
  r = RouteRequest(post, BrowserType::kChromium, 0);
  CHECK(r.answer->status == 405);
  CHECK(r.answer->headers == std::vector<std::string>{"Sec-Websocket-Version: 13"});
  RequestHead badkey = Upgrade("/");
  badkey.headers[3].second = "short";
  CHECK(RouteRequest(badkey, BrowserType::kChromium, 0).answer->status == 400);
  RequestHead v8 = Upgrade("/");
  v8.headers[2].second = "8";
  CHECK(RouteRequest(v8, BrowserType::kChromium, 0).answer->body == "Bad Request\n");

  RequestHead dirty = Upgrade("/");
  dirty.headers.push_back({"X-A", "a\nb"});
  CHECK_FALSE(IsCleanRequest(dirty));
  CHECK(IsCleanRequest(Upgrade("/")));
}

TEST_CASE(
    "the client's Playwright version: ?playwright=, then x-playwright-version, then User-Agent") {
  CHECK(RouteRequest(Upgrade("/"), BrowserType::kChromium, 0).playwright_version == "1.65.1");
  CHECK(RouteRequest(Upgrade("/?playwright=1.64"), BrowserType::kChromium, 0).playwright_version ==
        "1.64");
  CHECK(RouteRequest(Upgrade("/?playwright="), BrowserType::kChromium, 0).playwright_version ==
        "1.65.1");
  RequestHead with_header = Upgrade("/");
  with_header.headers.push_back({"X-Playwright-Version", "1.63.2"});
  CHECK(RouteRequest(with_header, BrowserType::kChromium, 0).playwright_version == "1.63.2");
  with_header.target = "/?browser=chromium&playwright=1.62.0-beta";
  CHECK(RouteRequest(with_header, BrowserType::kChromium, 0).playwright_version == "1.62.0-beta");
  RequestHead hidden = Upgrade("/");
  hidden.headers.pop_back();  // no User-Agent
  CHECK(RouteRequest(hidden, BrowserType::kChromium, 0).playwright_version.empty());
  hidden.headers.push_back({"User-Agent", "curl/8.0"});
  CHECK(RouteRequest(hidden, BrowserType::kChromium, 0).playwright_version.empty());
  // An explicit version that is not one is refused, before any worker is looked for.
  for (const char* target : {"/?playwright=latest", "/?playwright=1"}) {
    CAPTURE(target);
    Route r = RouteRequest(Upgrade(target), BrowserType::kChromium, 0);
    REQUIRE(r.answer.has_value());
    CHECK(r.answer->status == 400);
    CHECK(r.answer->rejection);
  }
  CHECK(RouteRequest(Upgrade("/?playwright=%3Cx%3E"), BrowserType::kChromium, 0).answer->body ==
        "{\"error\":{\"code\":400,\"message\":\"Invalid Playwright version: \\u003cx\\u003e - "
        "expected major.minor[.patch], such as 1.65 or 1.65.1\"}}\n");
  RequestHead bad_header = Upgrade("/");
  bad_header.headers.push_back({"x-playwright-version", "next"});
  CHECK(RouteRequest(bad_header, BrowserType::kChromium, 0).answer->status == 400);

  const HttpAnswer a =
      VersionNotServedAnswer("No worker serves Playwright 1.40", "1.40.1", {"1.64", "1.65"});
  CHECK(a.status == 428);
  CHECK(a.rejection);
  CHECK(a.Serialize().rfind("HTTP/1.1 428 Precondition Required\r\n", 0) == 0);
  CHECK(a.body ==
        "{\"error\":{\"code\":428,\"message\":\"No worker serves Playwright 1.40\","
        "\"clientVersion\":\"1.40.1\",\"gridVersions\":[\"1.64\",\"1.65\"]}}\n");
}

TEST_CASE("a client's version that no registered worker of its browser has") {
  auto worker = [](BrowserType b, std::string version, bool alive = true) {
    WorkerLoad w;
    w.info.id = "w" + version;
    w.info.browser = b;
    w.info.playwright_version = std::move(version);
    w.alive = alive;
    return w;
  };
  GridView view;
  view.refreshed = true;
  view.workers = {worker(BrowserType::kChromium, "1.65.1"),
                  worker(BrowserType::kChromium, "1.64.0", /*alive=*/false),
                  worker(BrowserType::kFirefox, "1.63.0")};
  std::optional<UnservedVersion> u = UnservedVersionOf(view, BrowserType::kChromium, "1.63.1");
  REQUIRE(u.has_value());
  CHECK(u->grid_versions == std::vector<std::string>{"1.64", "1.65"});
  CHECK(u->message ==
        "No worker serves Playwright 1.63 (client 1.63.1) for browser type chromium - the grid "
        "has: 1.64, 1.65");
  CHECK_FALSE(UnservedVersionOf(view, BrowserType::kChromium, "1.65.0"));
  CHECK_FALSE(UnservedVersionOf(view, BrowserType::kChromium, "1.64"));  // registered, not alive
  CHECK_FALSE(UnservedVersionOf(view, BrowserType::kChromium, ""));      // unknown: any worker
  CHECK_FALSE(UnservedVersionOf(view, BrowserType::kWebkit, "1.63"));    // the browser answer
  view.workers.push_back(worker(BrowserType::kChromium, ""));  // upstream's: serves any version
  CHECK_FALSE(UnservedVersionOf(view, BrowserType::kChromium, "1.63.1"));
  view.workers.pop_back();
  view.registry = absl::UnavailableError("down");  // cannot tell: queue as usual
  CHECK_FALSE(UnservedVersionOf(view, BrowserType::kChromium, "1.63.1"));
}

RequestHead Get(std::string target, HeaderList headers = {}) {
  RequestHead r;
  r.method = "GET";
  r.target = std::move(target);
  r.version = "HTTP/1.1";
  r.headers = std::move(headers);
  return r;
}

TEST_CASE("/metrics: JSON for a plain request, Prometheus text when the scraper asks for it") {
  CHECK_FALSE(WantsPrometheusText(Get("/metrics")));
  CHECK_FALSE(WantsPrometheusText(Get("/metrics", {{"Accept", "*/*"}})));
  CHECK_FALSE(WantsPrometheusText(Get("/metrics", {{"Accept", "application/json"}})));
  CHECK_FALSE(WantsPrometheusText(Get("/metrics", {{"Accept", "text/plain"}})));
  CHECK_FALSE(WantsPrometheusText(Get("/metrics?format=json")));
  CHECK(WantsPrometheusText(Get("/metrics?format=prometheus")));
  // What Prometheus 2.42's scraper sends.
  CHECK(WantsPrometheusText(
      Get("/metrics", {{"Accept",
                        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                        "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"}})));
  CHECK(WantsPrometheusText(Get("/metrics", {{"accept", "text/plain; version=0.0.4"}})));
  Route r = RouteRequest(Get("/metrics?format=prometheus"), BrowserType::kChromium, 0);
  CHECK(r.endpoint == Endpoint::kMetrics);
  CHECK(r.prometheus);
  CHECK(r.admin_only);
  r = RouteRequest(Get("/metrics"), BrowserType::kChromium, 3);
  CHECK_FALSE(r.prometheus);
}

TEST_CASE("the operator's routes: probes, status, page and actions") {
  auto route = [](std::string method, std::string target) {
    RequestHead r = Get(std::move(target));
    r.method = std::move(method);
    return RouteRequest(r, BrowserType::kChromium, 0);
  };
  Route r = route("GET", "/healthz");
  REQUIRE(r.answer.has_value());
  CHECK(r.answer->status == 200);
  CHECK_FALSE(r.admin_only);
  CHECK(route("GET", "/readyz").endpoint == Endpoint::kReadiness);
  CHECK_FALSE(route("GET", "/readyz").admin_only);
  r = route("GET", "/ui");
  CHECK(r.answer->status == 301);
  CHECK(r.answer->Serialize().find("Location: /ui/\r\n") != std::string::npos);
  CHECK(route("GET", "/ui/").endpoint == Endpoint::kStatusPage);
  r = route("GET", "/api/v1/status");
  CHECK(r.endpoint == Endpoint::kStatus);
  CHECK(r.admin_only);
  CHECK_FALSE(r.action);
  r = route("POST", "/api/v1/workers/chromium%3Aw1/drain");
  CHECK(r.endpoint == Endpoint::kDrainWorker);
  CHECK(r.action);
  CHECK(r.id == "chromium:w1");
  r = route("DELETE", "/api/v1/sessions/abc-1");
  CHECK(r.endpoint == Endpoint::kCloseSession);
  CHECK(r.action);
  CHECK(r.id == "abc-1");
  // Wrong methods get 405 with Allow and the JSON error body; unknown API paths 404 JSON.
  r = route("GET", "/api/v1/sessions/abc-1");
  CHECK(r.answer->status == 405);
  CHECK(r.answer->Serialize().find("Allow: DELETE\r\n") != std::string::npos);
  CHECK(r.answer->body.find("\"error\"") != std::string::npos);
  CHECK(route("GET", "/api/v1/workers/w1/drain").answer->status == 405);
  CHECK(route("POST", "/api/v1/status").answer->status == 405);
  r = route("GET", "/api/v1/nothing");
  CHECK(r.answer->status == 404);
  CHECK(r.answer->body.find("\"error\"") != std::string::npos);
}

TEST_CASE("grid-wide series: workers by status, free slots, recycles seen draining or gone") {
  prometheus::Registry registry;
  MetricFamilies m(registry, "redis", "");
  auto worker = [](std::string id, WorkerStatus status, int64_t active, bool alive = true) {
    WorkerLoad w;
    w.info.id = std::move(id);
    w.info.status = status;
    w.active = active;
    w.lifetime = 10;
    w.alive = alive;
    return w;
  };
  auto text = [&] { return prometheus::TextSerializer().Serialize(registry.Collect()); };
  auto has = [&](const std::string& line) { return text().find(line + "\n") != std::string::npos; };
  GridMetricsInput in;
  in.registry_up = true;
  in.limits = {5, 50};
  in.workers = {worker("chromium:a", WorkerStatus::kAvailable, 2),
                worker("chromium:b", WorkerStatus::kAvailable, 0),
                worker("chromium:c", WorkerStatus::kAvailable, 0, /*alive=*/false)};
  m.SetGrid(in);
  CHECK(has(R"(pwgrid_grid_workers{browser="chromium",primary="true",status="available"} 2)"));
  CHECK(has(R"(pwgrid_grid_workers{browser="chromium",primary="true",status="unreachable"} 1)"));
  CHECK(has(R"(pwgrid_grid_free_slots{browser="chromium",primary="true"} 8)"));
  CHECK(has(R"(pwgrid_grid_worker_recycles_total{primary="true"} 0)"));
  // a starts draining; b is gone between two reads (swapped out at once); both count once.
  in.workers = {worker("chromium:a", WorkerStatus::kShuttingDown, 2),
                worker("chromium:d", WorkerStatus::kAvailable, 0)};
  m.SetGrid(in);
  CHECK(has(R"(pwgrid_grid_worker_recycles_total{primary="true"} 2)"));
  CHECK(has(R"(pwgrid_grid_workers{browser="chromium",primary="true",status="draining"} 1)"));
  m.SetGrid(in);  // nothing new
  in.workers = {worker("chromium:d", WorkerStatus::kAvailable, 0)};
  m.SetGrid(in);  // a, already counted while draining, leaves
  CHECK(has(R"(pwgrid_grid_worker_recycles_total{primary="true"} 2)"));
  // Another proxy became the reporter: the series move to primary="false", none left behind.
  in.primary = false;
  m.SetGrid(in);
  CHECK(has(R"(pwgrid_grid_workers{browser="chromium",primary="false",status="available"} 1)"));
  CHECK(text().find(R"(pwgrid_grid_workers{browser="chromium",primary="true")") ==
        std::string::npos);
  CHECK(text().find(R"(pwgrid_grid_worker_recycles_total{primary="true"})") == std::string::npos);
  CHECK(has(R"(pwgrid_grid_worker_recycles_total{primary="false"} 0)"));
}

TEST_CASE("grid-wide series per Playwright version; a version that leaves leaves no series") {
  prometheus::Registry registry;
  MetricFamilies m(registry, "redis", "");
  auto worker = [](std::string id, std::string version, int64_t active, bool alive = true) {
    WorkerLoad w;
    w.info.id = std::move(id);
    w.info.playwright_version = std::move(version);
    w.active = active;
    w.lifetime = 10;
    w.alive = alive;
    return w;
  };
  auto text = [&] { return prometheus::TextSerializer().Serialize(registry.Collect()); };
  auto has = [&](const std::string& line) { return text().find(line + "\n") != std::string::npos; };
  GridMetricsInput in;
  in.registry_up = true;
  in.limits = {5, 50};
  in.workers = {worker("chromium:a", "1.65.1", 2), worker("chromium:b", "1.65.0", 0),
                worker("chromium:c", "1.64.1", 1), worker("chromium:d", "", 0, /*alive=*/false)};
  m.SetGrid(in);
  const std::string v = R"(pwgrid_grid_version_workers{browser="chromium",playwright_version=)";
  CHECK(has(v + R"("1.65",primary="true",status="available"} 2)"));
  CHECK(has(v + R"("1.64",primary="true",status="available"} 1)"));
  CHECK(has(v + R"("any",primary="true",status="unreachable"} 1)"));
  CHECK(has(
      R"(pwgrid_grid_version_free_slots{browser="chromium",playwright_version="1.65",primary="true"} 8)"));
  CHECK(has(
      R"(pwgrid_grid_version_free_slots{browser="chromium",playwright_version="1.64",primary="true"} 4)"));
  in.workers = {worker("chromium:a", "1.65.1", 0)};
  m.SetGrid(in);
  CHECK(has(v + R"("1.65",primary="true",status="available"} 1)"));
  CHECK(text().find(R"(playwright_version="1.64")") == std::string::npos);
  CHECK(text().find(R"(playwright_version="any")") == std::string::npos);
}

TEST_CASE("the HTTP surface: each selection failure's answer") {
  auto answer = [](absl::Status s, bool stopping = false) {
    return AnswerSelectionFailure(s, stopping, absl::Seconds(5), "1.2.3.4:5");
  };
  auto timeout = answer(absl::DeadlineExceededError("x"));
  REQUIRE(timeout.has_value());
  CHECK(timeout->answer.Serialize() ==
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Retry-After: 1\r\nContent-Length: 56\r\nConnection: close\r\n\r\n"
        "{\"error\":{\"code\":503,\"message\":\"No available servers\"}}\n");
  CHECK(timeout->log_message ==
        "Connection from 1.2.3.4:5 rejected. No workers available after 5s timeout: no available "
        "workers");
  CHECK(answer(absl::FailedPreconditionError("shutting down"))->answer.status == 503);
  CHECK(answer(absl::CancelledError("stop"), /*stopping=*/true)->answer.status == 503);
  CHECK_FALSE(answer(absl::CancelledError("client left")).has_value());
  auto redis = answer(absl::UnavailableError("redis down"));
  CHECK(redis->answer.body ==
        "{\"error\":{\"code\":503,\"message\":\"Worker registry unavailable\"}}\n");
  CHECK(redis->answer.headers == std::vector<std::string>{"Retry-After: 1"});
  auto full = answer(absl::ResourceExhaustedError("queue full"));
  CHECK(full->answer.status == 429);
  CHECK(full->level == LogLevel::kWarn);
  CHECK(answer(absl::InternalError("bug"))->answer.body ==
        "{\"error\":{\"code\":500,\"message\":\"An internal error occurred\"}}\n");
  CHECK(BrowserServerErrorAnswer().body ==
        "{\"error\":{\"code\":500,\"message\":\"Browser server error\"}}\n");
  CHECK(HeadersTooLargeAnswer().status == 431);
  CHECK(BadRequestAnswer().Serialize().find("400 Bad Request\n") != std::string::npos);
}

TEST_CASE("the client's token: Bearer, else the basic-auth password, else ?token=") {
  auto with = [](std::vector<std::pair<std::string, std::string>> headers, std::string target) {
    RequestHead r;
    r.method = "GET";
    r.target = std::move(target);
    r.version = "HTTP/1.1";
    r.headers = std::move(headers);
    return RequestToken(r);
  };
  CHECK(with({{"Authorization", "Bearer s3cret"}}, "/") == "s3cret");
  CHECK(with({{"authorization", "bearer  s3cret"}}, "/") == "s3cret");
  // ws://alice:s3cret@grid/ -> Basic base64("alice:s3cret")
  CHECK(with({{"Authorization", "Basic YWxpY2U6czNjcmV0"}}, "/") == "s3cret");
  CHECK(with({}, "/?browser=chromium&token=s3cret") == "s3cret");
  CHECK(with({{"Authorization", "Bearer a"}}, "/?token=b") == "a");   // the header wins
  CHECK(with({{"Authorization", "Basic !!!"}}, "/?token=b") == "b");  // not base64
  CHECK(with({}, "/?browser=chromium").empty());
  CHECK(UnauthorizedAnswer().Serialize() ==
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "WWW-Authenticate: Bearer\r\nContent-Length: 48\r\nConnection: close\r\n\r\n"
        "{\"error\":{\"code\":401,\"message\":\"Unauthorized\"}}\n");
  CHECK(UnauthorizedAnswer().rejection);
}

}  // namespace
}  // namespace pwgrid::internal
