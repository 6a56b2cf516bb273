// The relay against careless and hostile clients and broken workers (issue 10's defects): leaked
// descriptors, ghost waiters, header injection, cut-short refusals, dead workers, log wording.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
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
using testing::WsTestClient;

int LocalPort(int fd, bool peer) {
  sockaddr_storage a{};
  socklen_t len = sizeof(a);
  const int r = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
                     : getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  if (r != 0 || a.ss_family != AF_INET) return -1;
  return ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port);
}

// Descriptors of this process that are sockets bound to `local_port` or connected to
// `peer_port`, with whether each is close-on-exec.
std::vector<std::pair<int, bool>> SocketsOf(int local_port, int peer_port) {
  std::vector<std::pair<int, bool>> out;
  DIR* d = opendir("/proc/self/fd");
  REQUIRE(d != nullptr);
  while (dirent* e = readdir(d)) {
    const int fd = std::atoi(e->d_name);
    if (fd <= 2 || fd == dirfd(d)) continue;
    if (LocalPort(fd, false) == local_port || LocalPort(fd, true) == peer_port) {
      out.emplace_back(fd, (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    }
  }
  closedir(d);
  return out;
}

TEST_CASE("every socket of the relay is close-on-exec: listening, accepted and dialled") {
  auto worker = FakeWorker::Start().value();
  Grid g(GridOptions{.io_threads = 3});
  g.Add("chromium:w1", worker->ws_endpoint());
  auto client = WsTestClient::Connect(g.Url()).value();
  PWGRID_REQUIRE_OK(client->SendText("x"));
  PWGRID_REQUIRE_OK(client->Receive().status());
  // 3 listening handles + the accepted client + the socket to the worker.
  const std::vector<std::pair<int, bool>> sockets = SocketsOf(g.relay->port(), worker->port());
  CHECK(sockets.size() == 5);
  for (const auto& [fd, cloexec] : sockets) {
    INFO("fd " << fd);
    CHECK(cloexec);
  }
}

constexpr char kUpgrade[] =
    "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

TEST_CASE("a waiting client that sent bytes and then left gives its place up") {
  auto worker = FakeWorker::Start().value();
  Grid g(GridOptions{.c = 1, .select_timeout = absl::Seconds(10), .max_waiting = 1});
  g.Add("chromium:w1", worker->ws_endpoint());
  auto holder = WsTestClient::Connect(g.Url()).value();  // takes the only slot
  {
    RawClient ghost(g.relay->port());
    ghost.Send(std::string(kUpgrade) + "\r\n");
    REQUIRE(Eventually([&] { return g.selector->waiting() == 1; }));
    ghost.Send("early bytes");  // the one-shot check fired on these and was never re-armed
    absl::SleepFor(absl::Milliseconds(50));
    CHECK(g.selector->waiting() == 1);  // sending is not leaving
  }
  CHECK(Eventually([&] { return g.selector->waiting() == 0; }));
  // Its place is free (max_waiting = 1: a ghost would make this a 429), and when the slot frees
  // the real waiter gets it and no worker session was opened for the ghost.
  absl::StatusOr<std::unique_ptr<WsTestClient>> second;
  std::thread waiter([&] { second = WsTestClient::Connect(g.Url()); });
  CHECK(Eventually([&] { return g.selector->waiting() == 1; }));
  PWGRID_REQUIRE_OK(holder->Close(1000));
  waiter.join();
  PWGRID_REQUIRE_OK(second.status());
  CHECK(worker->connections_opened() == 2);
  CHECK(g.Lifetime() == 2);
}

TEST_CASE(
    "bare LF, CR or NUL in a header, or a bad header name: 400 before any worker is reserved") {
  auto worker = FakeWorker::Start().value();
  Grid g;
  g.Add("chromium:w1", worker->ws_endpoint());
  const std::vector<std::string> forged = {
      "X-A: a\nX-Forwarded-For: 6.6.6.6\r\n",
      "X-A: a\rX-B: b\r\n",
      std::string("X-A: a\0b\r\n", 10),
      "X-A: a\n\nGET /hidden HTTP/1.1\r\n",
      "Bad Name: x\r\n",
  };
  for (const std::string& header : forged) {
    INFO("header " << header);
    auto r = testing::SendRawHttp(g.relay->port(), std::string(kUpgrade) + header + "\r\n");
    PWGRID_REQUIRE_OK(r.status());
    CHECK(r->status == 400);
    CHECK(r->body == "400 Bad Request\n");
  }
  CHECK(worker->connections_opened() == 0);
  CHECK(g.Lifetime() == 0);
  // A clean request with a tab in a value still goes through.
  auto ok = WsTestClient::Connect(g.Url(), {{"X-Tab", "a\tb"}});
  PWGRID_REQUIRE_OK(ok.status());
  CHECK(worker->last_request_header("X-Tab") == "a\tb");
}

// A "worker" that answers every handshake with fixed bytes, written in two parts (the second
// after a pause, as a body that follows its head), then closes or, with `keep_open`, holds the
// connection until it is destroyed.
class ScriptedHttpWorker {
 public:
  ScriptedHttpWorker(std::string part1, std::string part2, bool keep_open)
      : fd_(ListenOnLoopback(&port_)) {
    thread_ = std::thread([this, part1, part2, keep_open] {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      (void)send(c, part1.data(), part1.size(), MSG_NOSIGNAL);
      absl::SleepFor(absl::Milliseconds(100));
      (void)send(c, part2.data(), part2.size(), MSG_NOSIGNAL);
      if (keep_open) {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(&done_));
      }
      close(c);
    });
  }
  ~ScriptedHttpWorker() {
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  std::string endpoint() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/pw"; }

 private:
  uint16_t port_ = 0;  // before fd_: the listener's constructor sets it
  int fd_;
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

TEST_CASE("a worker's refusal reaches the client whole: until close, chunked, Content-Length") {
  const std::string body(974, 'b');
  struct Case {
    const char* name;
    std::string head;
    std::string rest;
    bool keep_open;
    std::string expected_body;
  };
  const std::string chunked =
      "100\r\n" + body.substr(0, 256) + "\r\n2ce\r\n" + body.substr(256) + "\r\n0\r\n\r\n";
  const std::vector<Case> cases = {
      // Playwright's 428: no Content-Length, the body ends when the worker closes.
      {"until close",
       "HTTP/1.1 428 Precondition Required\r\nContent-Type: text/plain\r\n\r\n" +
           body.substr(0, 474),
       body.substr(474), false, body},
      {"chunked",
       "HTTP/1.1 428 Precondition Required\r\nTransfer-Encoding: chunked\r\n\r\n" +
           chunked.substr(0, 300),
       chunked.substr(300), true, chunked},
      {"content-length",
       "HTTP/1.1 428 Precondition Required\r\nContent-Length: 974\r\n\r\n" + body.substr(0, 474),
       body.substr(474), true, body},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    ScriptedHttpWorker worker(c.head, c.rest, c.keep_open);
    Grid g;
    g.Add("chromium:w1", worker.endpoint());
    auto r = testing::SendRawHttp(g.relay->port(), std::string(kUpgrade) + "\r\n");
    PWGRID_REQUIRE_OK(r.status());
    CHECK(r->status == 428);
    CHECK(r->body == c.expected_body);
    CHECK(Eventually([&] { return g.Active() == 0 && g.Lifetime() == 0; }));
  }
}

TEST_CASE("a client that drops TCP without a close frame is not logged as the worker's fault") {
  auto worker = FakeWorker::Start().value();
  CapturingLogger log;
  Grid g(GridOptions{.logger = &log});
  g.Add("chromium:w1", worker->ws_endpoint());
  {
    RawClient client(g.relay->port());
    client.Send(std::string(kUpgrade) + "\r\n");
    REQUIRE(Eventually([&] { return g.relay->stats().active_sessions == 1; }));
  }  // closed without a close frame
  CHECK(Eventually([&] { return g.relay->stats().active_sessions == 0 && g.Active() == 0; }));
  CHECK(log.Contains("closed the connection without a close frame"));
  CHECK(!log.Contains("Browser server closed the connection without a close frame"));
  // The worker's own death still is.
  auto client = WsTestClient::Connect(g.Url()).value();
  worker->Kill();
  CHECK(client->WaitClosed().value() == 1011);
  CHECK(log.Contains("Browser server closed the connection without a close frame"));
}

// A selector whose answers never come in time (its thread is stuck on a slow registry): it keeps
// every callback, and answers one only when it is cancelled (the relay's Stop does) or when the
// selector is destroyed.
class StuckSelector : public Selector {
 public:
  ~StuckSelector() override {
    std::map<uint64_t, Callback> left;
    {
      absl::MutexLock lock(&mu_);
      left.swap(pending_);
    }
    for (auto& [ticket, done] : left) done(absl::FailedPreconditionError("shutting down"));
  }
  uint64_t Acquire(SelectRequest, Callback done) override {
    absl::MutexLock lock(&mu_);
    pending_.emplace(++next_, std::move(done));
    return next_;
  }
  void Cancel(uint64_t ticket) override {
    Callback done;
    {
      absl::MutexLock lock(&mu_);
      auto it = pending_.find(ticket);
      if (it == pending_.end()) return;
      done = std::move(it->second);
      pending_.erase(it);
    }
    done(absl::CancelledError("cancelled"));
  }
  int64_t waiting() const override {
    absl::MutexLock lock(&mu_);
    return static_cast<int64_t>(pending_.size());
  }

 private:
  mutable absl::Mutex mu_;
  std::map<uint64_t, Callback> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST_CASE("the client's deadline holds when the selector cannot answer in time") {
  StuckSelector selector;
  RelayOptions o = RelayOptions::ForTesting();
  o.select_timeout = absl::Milliseconds(300);
  std::unique_ptr<Relay> relay = Relay::Create(o, &selector).value();
  PWGRID_REQUIRE_OK(relay->Start());
  auto r = testing::SendRawHttp(relay->port(), std::string(kUpgrade) + "\r\n", absl::Seconds(3));
  PWGRID_REQUIRE_OK(r.status());
  CHECK(r->status == 503);
  CHECK(r->body == "{\"error\":{\"code\":503,\"message\":\"No available servers\"}}\n");
  relay->Stop(absl::ZeroDuration());
}

TEST_CASE("a dead worker is skipped: the client is served by another, later clients never try it") {
  auto gone = FakeWorker::Start().value();
  const std::string dead_endpoint = gone->ws_endpoint();
  PWGRID_REQUIRE_OK(gone->Stop());
  auto live = FakeWorker::Start().value();
  CapturingLogger log;
  Grid g(GridOptions{.logger = &log});
  g.Add("chromium:a-dead", dead_endpoint);  // chosen first: ties go to the smaller id
  g.Add("chromium:b-live", live->ws_endpoint());
  for (int i = 0; i < 4; ++i) {
    auto client = WsTestClient::Connect(g.Url());
    PWGRID_REQUIRE_OK(client.status());
    PWGRID_REQUIRE_OK((*client)->SendText("hi"));
    CHECK((*client)->Receive().value().data == "hi");
    PWGRID_REQUIRE_OK((*client)->Close(1000));
  }
  CHECK(live->connections_opened() == 4);
  CHECK(log.Contains("trying another worker"));
  CHECK(!log.Contains("rejected"));
  const std::vector<WorkerLoad> s = g.registry->Snapshot().value();
  CHECK(!s[0].alive);
  CHECK(s[0].lifetime == 0);  // the failed dial was rolled back
  // It heartbeats again: selectable again.
  PWGRID_REQUIRE_OK(g.registry->Heartbeat("chromium:a-dead", absl::Seconds(60)));
  CHECK(g.registry->Snapshot().value()[0].alive);
}

TEST_CASE("every worker unreachable: 500 after a bounded number of tries") {
  std::vector<std::string> endpoints;
  for (int i = 0; i < 4; ++i) {
    auto gone = FakeWorker::Start().value();
    endpoints.push_back(gone->ws_endpoint());
    PWGRID_REQUIRE_OK(gone->Stop());
  }
  Grid g(GridOptions{.select_timeout = absl::Seconds(5)});
  for (int i = 0; i < 4; ++i) g.Add("chromium:" + std::to_string(i), endpoints[i]);
  auto r = testing::SendRawHttp(g.relay->port(), std::string(kUpgrade) + "\r\n");
  PWGRID_REQUIRE_OK(r.status());
  CHECK(r->status == 500);
  CHECK(r->body == "{\"error\":{\"code\":500,\"message\":\"Browser server error\"}}\n");
  int marked = 0;
  const std::vector<WorkerLoad> snapshot = g.registry->Snapshot().value();
  for (const WorkerLoad& w : snapshot) marked += w.alive ? 0 : 1;
  CHECK(marked == 3);
  CHECK(Eventually([&] { return g.Active() == 0 && g.Lifetime() == 0; }));
}

}  // namespace
}  // namespace pwgrid
