// The relay's limits against hostile and careless clients, with real sockets on 127.0.0.1 and a
// FakeWorker: connection limits (total and per address, answered 503), a slowloris that must
// not keep normal clients out, session idle and maximum-duration timeouts (close frame 1008,
// slot freed), the worker network allowlist, the admin token on /metrics, and that no request
// can choose which host the relay dials.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/resource.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "pwgrid/auth.h"
#include "pwgrid/ip_network.h"
#include "pwgrid/relay.h"
#include "pwgrid/testing/fake_worker.h"
#include "pwgrid/testing/status_macros.h"
#include "pwgrid/testing/ws_test_client.h"
#include "tests/capturing_logger.h"
#include "tests/loopback.h"
#include "tests/relay_grid.h"

namespace pwgrid {
namespace {

using testing::FakeWorker;
using testing::SendRawHttp;
using testing::WsTestClient;

constexpr char kTooMany[] = "{\"error\":{\"code\":503,\"message\":\"Too many connections\"}}\n";

std::string MetricsRequest(const std::string& extra = "") {
  return "GET /metrics HTTP/1.1\r\nHost: x\r\n" + extra + "Connection: close\r\n\r\n";
}

TEST_CASE("max_client_connections: one more is answered 503 and closed; a freed place is reused") {
  Grid g(GridOptions{.relay = [](RelayOptions& o) { o.max_client_connections = 3; }});
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(std::make_unique<RawClient>(g.relay->port()));
  REQUIRE(Eventually([&] { return g.relay->stats().client_connections == 3; }));
  auto over = SendRawHttp(g.relay->port(), MetricsRequest());
  PWGRID_REQUIRE_OK(over.status());
  CHECK(over->status == 503);
  CHECK(over->headers["retry-after"] == "1");
  CHECK(over->body == kTooMany);
  idle.pop_back();  // one leaves: its place serves the next client
  REQUIRE(Eventually([&] { return g.relay->stats().client_connections == 2; }));
  auto served = SendRawHttp(g.relay->port(), MetricsRequest());
  PWGRID_REQUIRE_OK(served.status());
  CHECK(served->status == 200);
}

TEST_CASE("max_connections_per_address: the address over its limit gets 503, places come back") {
  Grid g(GridOptions{.relay = [](RelayOptions& o) { o.max_connections_per_address = 2; }});
  auto a = std::make_unique<RawClient>(g.relay->port());
  RawClient b(g.relay->port());
  REQUIRE(Eventually([&] { return g.relay->stats().client_connections == 2; }));
  auto over = SendRawHttp(g.relay->port(), MetricsRequest());
  PWGRID_REQUIRE_OK(over.status());
  CHECK(over->status == 503);
  CHECK(over->body == kTooMany);
  a.reset();
  REQUIRE(Eventually([&] { return g.relay->stats().client_connections == 1; }));
  auto served = SendRawHttp(g.relay->port(), MetricsRequest());
  PWGRID_REQUIRE_OK(served.status());
  CHECK(served->status == 200);
}

TEST_CASE("a default connection limit is sized from the file limit") {
  rlimit rl{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  Grid g;
  // No limit configured: a few connections are served (the limit is (RLIMIT_NOFILE - 128) / 2).
  RawClient a(g.relay->port());
  auto served = SendRawHttp(g.relay->port(), MetricsRequest());
  PWGRID_REQUIRE_OK(served.status());
  CHECK(served->status == 200);
  RelayOptions bad = RelayOptions::ForTesting();
  bad.max_client_connections = -1;
  CHECK(absl::IsInvalidArgument(bad.Validate()));
  bad = RelayOptions::ForTesting();
  bad.peer_timeout = absl::Seconds(1);
  CHECK(absl::IsInvalidArgument(bad.Validate()));
}

TEST_CASE("a slowloris of 1500 connections does not keep a normal client from its session") {
  rlimit rl{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  const int n = rl.rlim_cur >= 8192 ? 1500 : static_cast<int>(rl.rlim_cur / 4);
  auto worker = FakeWorker::Start().value();
  Grid g(GridOptions{.io_threads = 2,
                     .relay = [](RelayOptions& o) { o.request_timeout = absl::Seconds(2); }});
  g.Add("chromium:w1", worker->ws_endpoint());
  std::vector<std::unique_ptr<RawClient>> loris;
  for (int i = 0; i < n; ++i) {
    loris.push_back(std::make_unique<RawClient>(g.relay->port()));
    loris.back()->Send("GET /?browser=chromium HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  }
  REQUIRE(Eventually([&] { return g.relay->stats().client_connections >= n; }));
  auto client = WsTestClient::Connect(g.Url());
  PWGRID_REQUIRE_OK(client.status());
  PWGRID_CHECK_OK((*client)->SendText("still served"));
  CHECK((*client)->Receive().value().data == "still served");
  PWGRID_CHECK_OK((*client)->Close(1000));
  // The slow heads are cut at request_timeout.
  CHECK(Eventually([&] { return g.relay->stats().client_connections <= 1; }, absl::Seconds(10)));
}

TEST_CASE("session_idle_timeout: an idle session gets close frame 1008 and frees its slot") {
  auto worker = FakeWorker::Start().value();
  CapturingLogger log;
  Grid g(GridOptions{.c = 1, .logger = &log, .relay = [](RelayOptions& o) {
                       o.session_idle_timeout = absl::Milliseconds(800);
                     }});
  g.Add("chromium:w1", worker->ws_endpoint());
  auto client = WsTestClient::Connect(g.Url()).value();
  // Traffic keeps it open well past the idle timeout.
  for (int i = 0; i < 8; ++i) {
    PWGRID_REQUIRE_OK(client->SendText("ping"));
    REQUIRE(client->Receive().value().data == "ping");
    absl::SleepFor(absl::Milliseconds(250));
  }
  CHECK(g.Active() == 1);
  absl::StatusOr<int> code = client->WaitClosed(absl::Seconds(10));
  PWGRID_REQUIRE_OK(code.status());
  CHECK(*code == 1008);
  CHECK(Eventually([&] { return g.Active() == 0 && worker->connections_open() == 0; }));
  CHECK(log.Contains("session idle timeout"));
  auto next = WsTestClient::Connect(g.Url());  // the slot (C = 1) serves the next client
  PWGRID_CHECK_OK(next.status());
}

TEST_CASE("session_max_duration: a busy session is closed with 1008 when its time is up") {
  auto worker = FakeWorker::Start().value();
  CapturingLogger log;
  Grid g(GridOptions{.c = 1, .logger = &log, .relay = [](RelayOptions& o) {
                       o.session_max_duration = absl::Seconds(1);
                     }});
  g.Add("chromium:w1", worker->ws_endpoint());
  auto client = WsTestClient::Connect(g.Url()).value();
  bool closed = false;
  for (int i = 0; i < 200 && !closed; ++i) {  // busy until the relay closes it (bounded: ~10 s)
    closed = !client->SendText("busy").ok() || !client->Receive(absl::Seconds(2)).ok();
    absl::SleepFor(absl::Milliseconds(50));
  }
  REQUIRE(closed);
  absl::StatusOr<int> code = client->WaitClosed(absl::Seconds(5));
  PWGRID_REQUIRE_OK(code.status());
  CHECK(*code == 1008);
  CHECK(log.Contains("session maximum duration reached"));
  CHECK(Eventually([&] { return g.Active() == 0; }));
}

TEST_CASE("a worker outside allowed_worker_networks is never dialled, and named in the log") {
  auto worker = FakeWorker::Start().value();
  CapturingLogger log;
  Grid g(
      GridOptions{.select_timeout = absl::Seconds(1), .logger = &log, .relay = [](RelayOptions& o) {
                    o.allowed_worker_networks = ParseIpNetworks("10.0.0.0/8").value();
                  }});
  g.Add("chromium:outside", worker->ws_endpoint());
  auto refused = WsTestClient::Connect(g.Url());
  CHECK(absl::StrContains(refused.status().message(), "HTTP 503"));
  CHECK(worker->connections_opened() == 0);
  CHECK(log.Contains("Refusing to dial worker chromium:outside at " + worker->ws_endpoint() +
                     ": 127.0.0.1 is outside the allowed worker networks"));
  CHECK(g.Active() == 0);
  CHECK(g.Lifetime() == 0);
}

TEST_CASE("the default allowlist takes loopback and private ranges, not link-local or public") {
  const std::vector<IpNetwork> networks = PrivateNetworks();
  for (const char* in : {"127.0.0.1", "10.1.2.3", "172.31.0.9", "192.168.1.1", "::1", "fd00::1",
                         "::ffff:10.0.0.1"}) {
    INFO(in);
    CHECK(InAnyNetwork(networks, in));
  }
  for (const char* out : {"169.254.169.254", "8.8.8.8", "172.32.0.1", "fe80::1", "2001:db8::1",
                          "::ffff:8.8.8.8", "localhost", ""}) {
    INFO(out);
    CHECK_FALSE(InAnyNetwork(networks, out));
  }
  CHECK(IpNetwork::Parse("10.9.8.7/8").value().ToString() == "10.0.0.0/8");
  CHECK(IpNetwork::Parse("fd12::5/16").value().ToString() == "fd12::/16");
  CHECK(IpNetwork::Parse("10.0.0.1").value().ToString() == "10.0.0.1/32");
  CHECK(IpNetwork::Parse("0.0.0.0/0").value().Contains("203.0.113.5"));
  for (const char* bad :
       {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "::/129", "example.com/8", "10.0.0.0/-1", ""}) {
    INFO(bad);
    CHECK(absl::IsInvalidArgument(IpNetwork::Parse(bad).status()));
  }
  CHECK(absl::IsInvalidArgument(ParseIpNetworks("10.0.0.0/8,,").status()));
}

TEST_CASE("admin_authenticator guards /metrics; upgrades keep their own authenticator") {
  auto admin = NewTokenAuthenticator({{"ops", "adm1n"}}).value();
  auto worker = FakeWorker::Start().value();
  Grid g(GridOptions{.relay = [&](RelayOptions& o) { o.admin_authenticator = admin.get(); }});
  g.Add("chromium:w1", worker->ws_endpoint());
  auto open = SendRawHttp(g.relay->port(), MetricsRequest());
  PWGRID_REQUIRE_OK(open.status());
  CHECK(open->status == 401);
  CHECK(open->headers["www-authenticate"] == "Bearer");
  auto wrong = SendRawHttp(g.relay->port(), MetricsRequest("Authorization: Bearer nope\r\n"));
  PWGRID_REQUIRE_OK(wrong.status());
  CHECK(wrong->status == 401);
  auto ok = SendRawHttp(g.relay->port(), MetricsRequest("Authorization: Bearer adm1n\r\n"));
  PWGRID_REQUIRE_OK(ok.status());
  CHECK(ok->status == 200);
  CHECK(ok->body == "{\"activeConnections\":0}\n");
  auto favicon = SendRawHttp(g.relay->port(), "GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n");
  PWGRID_REQUIRE_OK(favicon.status());
  CHECK(favicon->status == 204);
  PWGRID_CHECK_OK(WsTestClient::Connect(g.Url()).status());  // no client authenticator set
}

TEST_CASE("not an open proxy: no target, Host or path makes the relay dial another host") {
  auto worker = FakeWorker::Start().value();
  uint16_t trap_port = 0;
  const int trap = ListenOnLoopback(&trap_port);  // what a hostile client would like reached
  Grid g;
  g.Add("chromium:w1", worker->ws_endpoint());
  const std::string trap_addr = "127.0.0.1:" + std::to_string(trap_port);
  const std::string upgrade =
      "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  for (const std::string& head : {
           "GET http://" + trap_addr + "/?browser=chromium HTTP/1.1\r\nHost: " + trap_addr + "\r\n",
           "GET /?browser=chromium HTTP/1.1\r\nHost: " + trap_addr + "\r\n",
           "GET //" + trap_addr + "/ HTTP/1.1\r\nHost: " + trap_addr + "\r\n",
           "GET /" + trap_addr + "/?browser=chromium HTTP/1.1\r\nHost: x\r\n",
           "GET /?browser=chromium&endpoint=ws://" + trap_addr + "/ HTTP/1.1\r\nHost: x\r\n",
           "CONNECT " + trap_addr + " HTTP/1.1\r\nHost: " + trap_addr + "\r\n",
       }) {
    INFO(head);
    RawClient c(g.relay->port());
    c.Send(head + upgrade);
    const std::string answer = c.ReadUntilClosed(absl::Milliseconds(500));
    CHECK(answer.rfind("HTTP/1.1 ", 0) == 0);
  }
  // Nothing ever connected to the trap; every upgrade that was dialled went to the worker.
  sockaddr_in peer{};
  socklen_t len = sizeof(peer);
  const int flags = fcntl(trap, F_GETFL);
  fcntl(trap, F_SETFL, flags | O_NONBLOCK);
  CHECK(accept(trap, reinterpret_cast<sockaddr*>(&peer), &len) < 0);
  CHECK(worker->connections_opened() >= 1);
  close(trap);
}

}  // namespace
}  // namespace pwgrid
