// Relay end to end on loopback: a WsTestClient -> Relay -> FakeWorker (websocketpp echo server).
#include "pwgrid/relay.h"

#include <doctest/doctest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pwgrid/metrics.h"
#include "pwgrid/selector.h"
#include "pwgrid/testing/fake_worker.h"
#include "pwgrid/testing/status_macros.h"
#include "pwgrid/testing/ws_test_client.h"
#include "pwgrid/worker_registry.h"
#include "tests/relay_grid.h"

namespace pwgrid {
namespace {

using testing::FakeWorker;
using testing::WsTestClient;

TEST_CASE("text and binary messages both ways, including 4 MiB") {
  auto worker = FakeWorker::Start().value();
  Grid g;
  g.Add("chromium:w1", worker->ws_endpoint());
  auto client =
      WsTestClient::Connect(g.Url("?browser=chromium"), {{"User-Agent", "Playwright/1.65.1 (x64)"}})
          .value();
  CHECK(worker->last_request_header("User-Agent") == "Playwright/1.65.1 (x64)");
  PWGRID_REQUIRE_OK(client->SendText("hello"));
  auto m = client->Receive();
  PWGRID_REQUIRE_OK(m.status());
  CHECK(!m->binary);
  CHECK(m->data == "hello");
  std::string big(4 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4096);
  PWGRID_REQUIRE_OK(client->SendBinary(big));
  m = client->Receive();
  PWGRID_REQUIRE_OK(m.status());
  CHECK(m->binary);
  CHECK(m->data == big);
  CHECK(g.relay->stats().active_sessions == 1);
  CHECK(g.Active() == 1);
  PWGRID_REQUIRE_OK(client->Close(1000));
  CHECK(client->WaitClosed().value() == 1000);
  CHECK(Eventually([&] { return g.Active() == 0 && g.relay->stats().active_sessions == 0; }));
  CHECK(g.Lifetime() == 1);  // committed: a finished session keeps counting towards lifetime
}

TEST_CASE("large frames are spliced byte-exact, counted, and the close after them is seen") {
  // Payloads beyond a relay buffer (64 KiB) go through a pipe with splice(2); their headers, the
  // small frames between them and the close frame are still read and tracked.
  auto worker = FakeWorker::Start().value();
  Grid g;
  g.Add("chromium:w1", worker->ws_endpoint());
  auto client = WsTestClient::Connect(g.Url()).value();
  const RelayStats before = g.relay->stats();
  std::vector<std::string> sent;
  for (size_t size : {size_t{3} << 20, size_t{5}, size_t{65537}, size_t{1} << 20, size_t{200}}) {
    std::string m(size, '\0');
    for (size_t i = 0; i < size; ++i) m[i] = static_cast<char>(i * 13 + i / 1000 + size);
    PWGRID_REQUIRE_OK(client->SendBinary(m));
    sent.push_back(std::move(m));
  }
  uint64_t payload = 0;
  uint64_t up_headers = 0;    // masked: 2 + extended length + 4
  uint64_t down_headers = 0;  // unmasked
  for (const std::string& m : sent) {
    auto got = client->Receive();
    PWGRID_REQUIRE_OK(got.status());
    CHECK(got->data == m);
    payload += m.size();
    const uint64_t ext = m.size() < 126 ? 0 : m.size() < 65536 ? 2 : 8;
    up_headers += 2 + ext + 4;
    down_headers += 2 + ext;
  }
  const RelayStats after = g.relay->stats();
  CHECK(after.bytes_to_workers - before.bytes_to_workers == payload + up_headers);
  CHECK(after.bytes_to_clients - before.bytes_to_clients == payload + down_headers);
  PWGRID_REQUIRE_OK(client->Close(4321));
  CHECK(client->WaitClosed().value() == 4321);
  CHECK(Eventually([&] { return g.Active() == 0 && g.relay->stats().active_sessions == 0; }));
}

TEST_CASE("close codes pass through in both directions") {
  auto worker = FakeWorker::Start().value();
  Grid g;
  g.Add("chromium:w1", worker->ws_endpoint());
  SUBCASE("client to worker") {
    auto client = WsTestClient::Connect(g.Url()).value();
    PWGRID_REQUIRE_OK(client->Close(4001, "bye"));
    CHECK(client->WaitClosed().value() == 4001);  // the worker echoes the code back
    CHECK(Eventually([&] { return worker->received_close_codes() == std::vector<int>{4001}; }));
  }
  SUBCASE("worker to client") {
    auto client = WsTestClient::Connect(g.Url()).value();
    PWGRID_REQUIRE_OK(client->SendText("close:4002"));
    CHECK(client->WaitClosed().value() == 4002);
  }
  CHECK(Eventually([&] { return g.Active() == 0; }));
}

TEST_CASE("a worker killed mid-session: the client gets a close, the lease is released") {
  auto worker = FakeWorker::Start().value();
  Grid g;
  g.Add("chromium:w1", worker->ws_endpoint());
  auto client = WsTestClient::Connect(g.Url()).value();
  PWGRID_REQUIRE_OK(client->SendText("ping"));
  PWGRID_REQUIRE_OK(client->Receive().status());
  CHECK(g.Active() == 1);
  worker->Kill();
  CHECK(client->WaitClosed().value() == 1011);
  CHECK(Eventually([&] { return g.Active() == 0 && g.relay->stats().active_sessions == 0; }));
}

// The relay ends a read round on a short read without a recv() for its EAGAIN; an end of stream
// that arrived with the last bytes must still be seen (edge_wait.h: EPOLLRDHUP). Each worker's
// last message and its FIN reach the relay together, so without that a session would hang here.
TEST_CASE(
    "a worker's last message and its end of stream arriving together: both reach the client") {
  auto worker = FakeWorker::Start().value();
  Grid g;
  g.Add("chromium:w1", worker->ws_endpoint());
  for (int i = 0; i < 100; ++i) {
    CAPTURE(i);
    auto client = WsTestClient::Connect(g.Url()).value();
    const std::string last = "bye " + std::to_string(i);
    PWGRID_REQUIRE_OK(client->SendText("last:" + last));
    absl::StatusOr<testing::WsMessage> m = client->Receive(absl::Seconds(5));
    PWGRID_REQUIRE_OK(m.status());
    CHECK(m->data == last);
    absl::StatusOr<int> code = client->WaitClosed(absl::Seconds(5));
    PWGRID_REQUIRE_OK(code.status());
    REQUIRE(*code == 1011);
  }
  CHECK(Eventually([&] { return g.Active() == 0 && g.relay->stats().active_sessions == 0; }));
}

TEST_CASE("busy polling: sessions relay as usual, Stop ends the polling threads") {
  RelayOptions bad = RelayOptions::ForTesting();
  bad.busy_poll = absl::Milliseconds(2);
  CHECK(absl::IsInvalidArgument(bad.Validate()));
  bad.busy_poll = -absl::Microseconds(1);
  CHECK(absl::IsInvalidArgument(bad.Validate()));
  auto worker = FakeWorker::Start().value();
  GridOptions options;
  options.io_threads = 2;
  options.relay = [](RelayOptions& o) { o.busy_poll = absl::Microseconds(20); };
  Grid g(options);
  g.Add("chromium:w1", worker->ws_endpoint());
  for (int i = 0; i < 3; ++i) {
    auto client = WsTestClient::Connect(g.Url()).value();
    for (int k = 0; k < 20; ++k) {
      const std::string text = absl::StrCat("message ", i, ".", k);
      PWGRID_REQUIRE_OK(client->SendText(text));
      absl::StatusOr<testing::WsMessage> m = client->Receive();
      PWGRID_REQUIRE_OK(m.status());
      CHECK(m->data == text);
    }
    PWGRID_REQUIRE_OK(client->Close(1000));
    CHECK(client->WaitClosed().value() == 1000);
  }
  CHECK(Eventually([&] { return g.Active() == 0; }));
  g.relay->Stop(absl::Seconds(1));  // returns once every I/O thread has ended
}

TEST_CASE("the only worker is unreachable: it is taken out of selection, the client waits, 503") {
  auto gone = FakeWorker::Start().value();
  const std::string endpoint = gone->ws_endpoint();
  PWGRID_REQUIRE_OK(gone->Stop());
  Grid g(5, absl::Milliseconds(500));
  g.Add("chromium:dead", endpoint);
  auto r = testing::SendRawHttp(
      g.relay->port(),
      "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  PWGRID_REQUIRE_OK(r.status());
  CHECK(r->status == 503);
  CHECK(r->body == "{\"error\":{\"code\":503,\"message\":\"No available servers\"}}\n");
  CHECK(Eventually([&] { return g.Active() == 0 && g.Lifetime() == 0; }));
  CHECK(!g.registry->Snapshot().value()[0].alive);  // until it heartbeats again
}

TEST_CASE("a worker that refuses the handshake: its answer reaches the client") {
  auto worker = FakeWorker::Start({.path = "/playwright/right"}).value();
  Grid g;
  g.Add("chromium:w1", "ws://127.0.0.1:" + std::to_string(worker->port()) + "/playwright/wrong");
  auto client = WsTestClient::Connect(g.Url());
  CHECK(absl::IsFailedPrecondition(client.status()));
  CHECK(client.status().message().find("HTTP 404") != std::string::npos);
  CHECK(Eventually([&] { return g.Active() == 0 && g.Lifetime() == 0; }));
}

TEST_CASE("no worker before the timeout: 503 with the exact body") {
  Grid g(5, absl::Milliseconds(300));
  auto client = WsTestClient::Connect(g.Url());
  REQUIRE(!client.ok());
  CHECK(client.status().message() ==
        "HTTP 503: {\"error\":{\"code\":503,\"message\":\"No available servers\"}}\n");
}

TEST_CASE("exact 400, 426, 404, /metrics and /favicon.ico answers") {
  Grid g;
  auto get = [&](const std::string& target, const std::string& extra = "") {
    return testing::SendRawHttp(
               g.relay->port(),
               "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra + "\r\n")
        .value();
  };
  auto r = get("/?browser=opera");
  CHECK(r.status == 400);
  CHECK(r.body ==
        "{\"error\":{\"code\":400,\"message\":\"Unknown browser type: opera - allowed: chromium, "
        "firefox, "
        "webkit\"}}\n");
  r = get("/?browser=%3Cb%3E%26");
  CHECK(r.body ==
        "{\"error\":{\"code\":400,\"message\":\"Unknown browser type: \\u003cb\\u003e\\u0026 - "
        "allowed: "
        "chromium, firefox, webkit\"}}\n");
  r = get("/?browser=chromium");
  CHECK(r.status == 426);
  CHECK(r.body == "{\"message\":\"This endpoint is for WebSocket connections only.\"}\n");
  r = get("/");
  CHECK(r.status == 426);
  r = get("/healthz");
  CHECK(r.status == 200);
  r = get("/nothing-here");
  CHECK(r.status == 404);
  CHECK(r.body == "404 page not found\n");
  CHECK(r.headers["x-content-type-options"] == "nosniff");
  r = get("/metrics");
  CHECK(r.status == 200);
  CHECK(r.body == "{\"activeConnections\":0}\n");
  r = get("/favicon.ico");
  CHECK(r.status == 204);
  CHECK(r.body.empty());
}

TEST_CASE("a waiting client gets the slot another client releases") {
  auto worker = FakeWorker::Start().value();
  Grid g(/*c=*/1, absl::Seconds(5));
  g.Add("chromium:w1", worker->ws_endpoint());
  auto first = WsTestClient::Connect(g.Url()).value();
  absl::StatusOr<std::unique_ptr<WsTestClient>> second;
  std::thread waiter([&] { second = WsTestClient::Connect(g.Url()); });
  CHECK(Eventually([&] { return g.selector->waiting() == 1; }));
  PWGRID_REQUIRE_OK(first->Close(1000));
  waiter.join();
  PWGRID_REQUIRE_OK(second.status());
  PWGRID_REQUIRE_OK((*second)->SendText("mine now"));
  CHECK((*second)->Receive().value().data == "mine now");
  CHECK(worker->connections_opened() == 2);
}

TEST_CASE("with several I/O threads each accepting, every client is served, then Stop ends all") {
  auto worker = FakeWorker::Start().value();
  Grid g(/*c=*/100, absl::Seconds(2), /*io_threads=*/4);
  g.Add("chromium:w1", worker->ws_endpoint());
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (int i = 0; i < 16; ++i) {
    auto c = WsTestClient::Connect(g.Url());
    PWGRID_REQUIRE_OK(c.status());
    clients.push_back(*std::move(c));
  }
  for (size_t i = 0; i < clients.size(); ++i) {
    PWGRID_REQUIRE_OK(clients[i]->SendText("m" + std::to_string(i)));
    CHECK(clients[i]->Receive().value().data == "m" + std::to_string(i));
  }
  CHECK(g.relay->stats().active_sessions == 16);
  CHECK(g.Active() == 16);
  g.relay->Stop(absl::ZeroDuration());
  for (auto& c : clients) CHECK(c->WaitClosed().ok());
  CHECK(g.Active() == 0);
  CHECK(g.relay->stats().active_sessions == 0);
}

TEST_CASE("a host's own Prometheus registry carries pwgrid's families beside its own") {
  auto host = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("host_jobs_total")
      .Help("the host's")
      .Register(*host)
      .Add({})
      .Increment();
  MetricsOptions mo;
  mo.registry = host;
  auto metrics = Metrics::Create(mo).value();
  CHECK(metrics->registry() == host);
  auto worker = FakeWorker::Start().value();
  Grid g(GridOptions{.relay = [&](RelayOptions& o) { o.metrics = metrics.get(); }});
  g.Add("chromium:w1", worker->ws_endpoint());
  auto client = WsTestClient::Connect(g.Url()).value();
  PWGRID_REQUIRE_OK(client->SendText("counted"));
  CHECK(client->Receive().value().data == "counted");
  PWGRID_REQUIRE_OK(client->Close(1000));
  REQUIRE(Eventually([&] { return g.relay->stats().active_sessions == 0; }));
  // The host scrapes its registry with its own exposer: pwgrid's families are in it.
  const std::string text = prometheus::TextSerializer().Serialize(host->Collect());
  CHECK(text.find("pwgrid_sessions_total{browser=\"chromium\"} 1\n") != std::string::npos);
  CHECK(text.find("pwgrid_session_duration_seconds_count{browser=\"chromium\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("host_jobs_total 1\n") != std::string::npos);
  // And the relay's /metrics serves the same registry, the host's series included.
  auto r = testing::SendRawHttp(g.relay->port(),
                                "GET /metrics?format=prometheus HTTP/1.1\r\nHost: x\r\n\r\n");
  PWGRID_REQUIRE_OK(r.status());
  CHECK(r->body.find("host_jobs_total 1\n") != std::string::npos);
  CHECK(r->body.find("pwgrid_sessions_total{browser=\"chromium\"} 1\n") != std::string::npos);
  // A registry that already has a family of that name as another type is refused, not thrown.
  auto clash = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge().Name("pwgrid_sessions_total").Help("not ours").Register(*clash);
  MetricsOptions co;
  co.registry = clash;
  CHECK(absl::IsAlreadyExists(Metrics::Create(co).status()));
}

TEST_CASE("Stop(grace) lets an open session finish") {
  auto worker = FakeWorker::Start().value();
  Grid g;
  g.Add("chromium:w1", worker->ws_endpoint());
  auto client = WsTestClient::Connect(g.Url()).value();
  const uint16_t port = g.relay->port();
  std::thread stopper([&] { g.relay->Stop(absl::Seconds(5)); });
  // Stop has begun once /readyz says the relay is draining; the port stays open meanwhile.
  REQUIRE(Eventually([&] {
    auto r =
        testing::SendRawHttp(port, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", absl::Seconds(1));
    return r.ok() && r->status == 503;
  }));
  PWGRID_REQUIRE_OK(client->SendText("still here"));
  CHECK(client->Receive().value().data == "still here");
  PWGRID_REQUIRE_OK(client->Close(1000));
  stopper.join();
  CHECK(g.Active() == 0);
}

}  // namespace
}  // namespace pwgrid
