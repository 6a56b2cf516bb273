// Relay behaviour that had no test: 429 when the queue is full, 431, slow headers, the 405/400
// handshake checks through the relay, the headers the worker receives, a client leaving while
// queued, Stop() while clients wait (503) and during the drain (no new connections), a slow
// reader (backpressure holds memory bounded), and deadlines on an injected clock.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "pwgrid/auth.h"
#include "pwgrid/relay.h"
#include "pwgrid/selector.h"
#include "pwgrid/testing/fake_worker.h"
#include "pwgrid/testing/manual_clock.h"
#include "pwgrid/testing/status_macros.h"
#include "pwgrid/testing/ws_test_client.h"
#include "pwgrid/worker_registry.h"
#include "tests/loopback.h"
#include "tests/relay_grid.h"

namespace pwgrid {
namespace {

using testing::FakeWorker;
using testing::SendRawHttp;
using testing::WsTestClient;

constexpr char kHandshake[] =
    "Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

TEST_CASE("a full waiting queue answers 429 with Retry-After") {
  auto worker = FakeWorker::Start().value();
  Grid g(GridOptions{.c = 1, .select_timeout = absl::Seconds(10), .max_waiting = 1});
  g.Add("chromium:w1", worker->ws_endpoint());
  auto holder = WsTestClient::Connect(g.Url()).value();
  RawClient queued(g.relay->port());
  queued.Send(std::string("GET / HTTP/1.1\r\n") + kHandshake + "\r\n");
  REQUIRE(Eventually([&] { return g.selector->waiting() == 1; }));
  auto r = SendRawHttp(g.relay->port(), std::string("GET / HTTP/1.1\r\n") + kHandshake + "\r\n");
  PWGRID_REQUIRE_OK(r.status());
  CHECK(r->status == 429);
  CHECK(r->headers["retry-after"] == "1");
  CHECK(r->body == "{\"error\":{\"code\":429,\"message\":\"Too many waiting clients\"}}\n");
}

TEST_CASE(
    "headers over max_request_bytes: 431; headers never finished: closed at request_timeout") {
  auto registry = NewInMemoryWorkerRegistry({}).value();
  auto selector = NewRegistrySelector(registry.get(), {}).value();
  RelayOptions o = RelayOptions::ForTesting();
  o.max_request_bytes = 1024;
  o.request_timeout = absl::Milliseconds(300);
  auto relay = Relay::Create(o, selector.get()).value();
  PWGRID_REQUIRE_OK(relay->Start());
  auto big =
      SendRawHttp(relay->port(), "GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
  PWGRID_REQUIRE_OK(big.status());
  CHECK(big->status == 431);
  RawClient slow(relay->port());
  slow.Send("GET / HTTP/1.1\r\nHost: x\r\n");              // and nothing more
  CHECK(slow.ReadUntilClosed(absl::Seconds(10)).empty());  // closed without an answer
  relay->Stop(absl::ZeroDuration());
}

TEST_CASE(
    "handshake checks through the relay: 405 for POST, 400 for a bad key, no worker touched") {
  auto worker = FakeWorker::Start().value();
  Grid g;
  g.Add("chromium:w1", worker->ws_endpoint());
  auto post =
      SendRawHttp(g.relay->port(), std::string("POST / HTTP/1.1\r\n") + kHandshake + "\r\n");
  PWGRID_REQUIRE_OK(post.status());
  CHECK(post->status == 405);
  CHECK(post->headers["sec-websocket-version"] == "13");
  auto badkey =
      SendRawHttp(g.relay->port(),
                  "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n");
  PWGRID_REQUIRE_OK(badkey.status());
  CHECK(badkey->status == 400);
  CHECK(badkey->body == "Bad Request\n");
  CHECK(worker->connections_opened() == 0);
  CHECK(g.Lifetime() == 0);
}

TEST_CASE(
    "the worker gets the client's headers, without credentials, with its own X-Forwarded-For") {
  auto worker = FakeWorker::Start().value();
  Grid g;
  g.Add("chromium:w1", worker->ws_endpoint());
  auto client = WsTestClient::Connect(g.Url(), {{"Authorization", "Bearer secret"},
                                                {"Cookie", "grid=1"},
                                                {"X-Forwarded-For", "6.6.6.6"},
                                                {"User-Agent", "Playwright/1.65.1 (x64)"},
                                                {"x-playwright-browser", "chromium"}});
  PWGRID_REQUIRE_OK(client.status());
  CHECK(worker->last_request_header("Authorization").empty());
  CHECK(worker->last_request_header("Cookie").empty());
  CHECK(worker->last_request_header("X-Forwarded-For") == "127.0.0.1");
  CHECK(worker->last_request_header("User-Agent") == "Playwright/1.65.1 (x64)");
  CHECK(worker->last_request_header("x-playwright-browser") == "chromium");
}

TEST_CASE("a client that leaves while queued gives its place up; no worker session for it") {
  auto worker = FakeWorker::Start().value();
  Grid g(GridOptions{.c = 1, .select_timeout = absl::Seconds(10)});
  g.Add("chromium:w1", worker->ws_endpoint());
  auto holder = WsTestClient::Connect(g.Url()).value();
  {
    RawClient leaver(g.relay->port());
    leaver.Send(std::string("GET / HTTP/1.1\r\n") + kHandshake + "\r\n");
    REQUIRE(Eventually([&] { return g.selector->waiting() == 1; }));
  }
  CHECK(Eventually([&] { return g.selector->waiting() == 0; }));
  PWGRID_CHECK_OK(holder->Close(1000));
  CHECK(Eventually([&] { return g.Active() == 0; }));
  CHECK(worker->connections_opened() == 1);
}

TEST_CASE(
    "Stop() while clients wait: they get 503; during the drain /readyz and new upgrades get 503") {
  auto worker = FakeWorker::Start().value();
  Grid g(GridOptions{.c = 1, .select_timeout = absl::Seconds(30)});
  g.Add("chromium:w1", worker->ws_endpoint());
  auto holder = WsTestClient::Connect(g.Url()).value();
  RawClient waiter(g.relay->port());
  waiter.Send(std::string("GET / HTTP/1.1\r\n") + kHandshake + "\r\n");
  REQUIRE(Eventually([&] { return g.selector->waiting() == 1; }));
  const uint16_t port = g.relay->port();
  std::thread stopper([&] { g.relay->Stop(absl::Seconds(5)); });  // the holder keeps it draining
  const std::string answer = waiter.ReadUntilClosed(absl::Seconds(10));
  CHECK(answer.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
  CHECK(answer.find("No available servers") != std::string::npos);
  // Draining: the port stays open; /readyz says 503 and a new upgrade is answered 503 with
  // Retry-After instead of a reset connection.
  auto ready =
      testing::SendRawHttp(port, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", absl::Seconds(2));
  PWGRID_REQUIRE_OK(ready.status());
  CHECK(ready->status == 503);
  CHECK(ready->body.find("draining") != std::string::npos);
  auto late = testing::SendRawHttp(port, std::string("GET / HTTP/1.1\r\n") + kHandshake + "\r\n",
                                   absl::Seconds(2));
  PWGRID_REQUIRE_OK(late.status());
  CHECK(late->status == 503);
  CHECK(late->headers["retry-after"] == "5");
  CHECK(late->body.find("shutting down") != std::string::npos);
  PWGRID_CHECK_OK(holder->Close(1000));  // the open session finishes within the grace
  stopper.join();
  CHECK(g.relay->stats().active_sessions == 0);
}

TEST_CASE("a slow reader: backpressure stops the relay reading, memory stays bounded") {
  auto worker = FakeWorker::Start().value();
  Grid g;
  g.Add("chromium:w1", worker->ws_endpoint());
  // A client that completes the handshake, then sends 1 MiB frames (masked, key 0) that the
  // worker echoes, and never reads: the relay must stop reading from the worker instead of
  // buffering what the client does not take.
  RawClient client(g.relay->port());
  client.Send(std::string("GET / HTTP/1.1\r\n") + kHandshake + "\r\n");
  REQUIRE(Eventually([&] { return g.relay->stats().active_sessions == 1; }));
  std::string frame = {static_cast<char>(0x82), static_cast<char>(0x80 | 127)};
  for (int i = 7; i >= 0; --i) frame.push_back(static_cast<char>(((1ull << 20) >> (8 * i)) & 0xff));
  frame.append(4, '\0');  // masking key 0: the payload goes as it is
  frame.append(1 << 20, 'x');
  int64_t sent = 0;
  for (int i = 0; i < 64; ++i) {
    if (!client.TrySend(frame, absl::Seconds(2))) break;  // the relay stopped taking bytes
    sent += static_cast<int64_t>(frame.size());
  }
  CHECK(Eventually(
      [&] {
        const int64_t before = g.relay->stats().bytes_to_clients;
        absl::SleepFor(absl::Milliseconds(200));  // sampling: does the count still move?
        return g.relay->stats().bytes_to_clients == before;
      },
      absl::Seconds(20)));
  // In flight towards the client: its socket buffers and one relay buffer, far below 64 MiB.
  CHECK(g.relay->stats().bytes_to_clients < int64_t{16} << 20);
  CHECK(sent > int64_t{16} << 20);
}

TEST_CASE("deadlines follow the injected clock (RelayOptions::clock = the selector's)") {
  testing::ManualClock clock;
  RegistryOptions ro;
  ro.clock = &clock;
  auto registry = NewInMemoryWorkerRegistry(ro).value();
  SelectorOptions so;
  so.clock = &clock;
  so.poll_interval = absl::Milliseconds(20);
  auto selector = NewRegistrySelector(registry.get(), so).value();
  RelayOptions o = RelayOptions::ForTesting();
  o.clock = &clock;
  o.select_timeout = absl::Seconds(5);
  auto relay = Relay::Create(o, selector.get()).value();
  PWGRID_REQUIRE_OK(relay->Start());
  RawClient waiter(relay->port());
  waiter.Send(std::string("GET / HTTP/1.1\r\n") + kHandshake + "\r\n");  // no worker at all
  REQUIRE(Eventually([&] { return selector->waiting() == 1; }));
  clock.Advance(absl::Seconds(6));  // past the deadline on the shared clock: 503 at once
  const std::string answer = waiter.ReadUntilClosed(absl::Seconds(4));
  CHECK(answer.rfind("HTTP/1.1 503", 0) == 0);
  relay->Stop(absl::ZeroDuration());
}

TEST_CASE("with an authenticator: 401 before any worker is reserved; a token's session works") {
  auto worker = FakeWorker::Start().value();
  auto registry = NewInMemoryWorkerRegistry({}).value();
  WorkerInfo w;
  w.id = "chromium:w1";
  w.endpoint = worker->ws_endpoint();
  PWGRID_REQUIRE_OK(registry->Register(w, absl::Seconds(60)));
  auto selector = NewRegistrySelector(registry.get(), {}).value();
  auto auth = NewTokenAuthenticator({{"team-a", "s3cret"}}).value();
  RelayOptions o = RelayOptions::ForTesting();
  o.authenticator = auth.get();
  auto relay = Relay::Create(o, selector.get()).value();
  PWGRID_REQUIRE_OK(relay->Start());
  const std::string url = "ws://127.0.0.1:" + std::to_string(relay->port()) + "/";
  for (const auto& headers : std::vector<std::map<std::string, std::string>>{
           {},
           {{"Authorization", "Bearer wrong"}},
           {{"Authorization", "Basic d3Jvbmc6d3Jvbmc="}}}) {
    auto refused = WsTestClient::Connect(url, headers);
    CHECK(refused.status().message() ==
          "HTTP 401: {\"error\":{\"code\":401,\"message\":\"Unauthorized\"}}\n");
  }
  auto raw = SendRawHttp(relay->port(), std::string("GET / HTTP/1.1\r\n") + kHandshake + "\r\n");
  PWGRID_REQUIRE_OK(raw.status());
  CHECK(raw->headers["www-authenticate"] == "Bearer");
  CHECK(worker->connections_opened() == 0);  // refused before any worker was reserved
  CHECK(registry->Snapshot().value()[0].lifetime == 0);
  for (const auto& [target, headers] :
       std::vector<std::pair<std::string, std::map<std::string, std::string>>>{
           {"", {{"Authorization", "Bearer s3cret"}}},
           {"", {{"Authorization", "Basic YWxpY2U6czNjcmV0"}}},
           {"?token=s3cret", {}}}) {
    auto client = WsTestClient::Connect(url + target, headers);
    PWGRID_REQUIRE_OK(client.status());
    PWGRID_CHECK_OK((*client)->SendText("hi"));
    CHECK((*client)->Receive().value().data == "hi");
    CHECK(worker->last_request_header("Authorization").empty());  // never forwarded
    PWGRID_CHECK_OK((*client)->Close(1000));
  }
  CHECK(relay->stats().rejected_requests == 4);
  relay->Stop(absl::ZeroDuration());
}

}  // namespace
}  // namespace pwgrid
