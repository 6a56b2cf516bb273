// Dead peers, for real: a client or a worker inside a network namespace of the test's own,
// joined to the host by a veth pair, and the link cut mid-session (no FIN, no RST: packets just
// stop). With RelayOptions::peer_timeout the relay notices and frees the slot; a healthy idle
// session is not harmed by the keepalive probes. Needs root (ip netns, setns).
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pwgrid/relay.h"
#include "pwgrid/testing/fake_worker.h"
#include "pwgrid/testing/status_macros.h"
#include "pwgrid/testing/ws_test_client.h"
#include "tests/relay_grid.h"

namespace pwgrid {
namespace {

using testing::FakeWorker;
using testing::FakeWorkerOptions;
using testing::WsTestClient;

constexpr absl::Duration kPeerTimeout = absl::Seconds(2);

bool Run(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// A network namespace with a veth pair: host side host_ip (…​.1/30), namespace side ns_ip (…​.2/30).
// Removed (with its veth pair) by the destructor.
class NetNamespace {
 public:
  NetNamespace() {
    const int n = 20 + static_cast<int>(getpid() % 200);
    name_ = absl::StrCat("pwgrid-dp-", getpid());
    host_if_ = absl::StrCat("pwdp", getpid() % 100000, "h");
    ns_if_ = absl::StrCat("pwdp", getpid() % 100000, "n");
    host_ip = absl::StrCat("10.231.", n, ".1");
    ns_ip = absl::StrCat("10.231.", n, ".2");
    REQUIRE_MESSAGE(Run("ip netns add " + name_), "ip netns add failed: this test needs root");
    created_ = true;
    REQUIRE(Run(absl::StrCat("ip link add ", host_if_, " type veth peer name ", ns_if_)));
    REQUIRE(Run(absl::StrCat("ip link set ", ns_if_, " netns ", name_)));
    REQUIRE(Run(absl::StrCat("ip addr add ", host_ip, "/30 dev ", host_if_)));
    REQUIRE(Run(absl::StrCat("ip link set ", host_if_, " up")));
    REQUIRE(Run(absl::StrCat("ip netns exec ", name_, " ip addr add ", ns_ip, "/30 dev ", ns_if_)));
    REQUIRE(Run(absl::StrCat("ip netns exec ", name_, " ip link set ", ns_if_, " up")));
    REQUIRE(Run(absl::StrCat("ip netns exec ", name_, " ip link set lo up")));
  }
  ~NetNamespace() {
    if (!created_) return;
    Run("ip netns del " + name_);  // takes the veth pair with it
    Run("ip link del " + host_if_);
  }

  // Cuts the link from the namespace's side: its end goes down, packets stop both ways, and no
  // socket on either side is told.
  void Cut() {
    REQUIRE(Run(absl::StrCat("ip netns exec ", name_, " ip link set ", ns_if_, " down")));
  }

  // Runs `f` on a thread inside the namespace (sockets made there belong to it for good).
  void Inside(const std::function<void()>& f) {
    std::thread t([&] {
      const int fd = open(("/var/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
      REQUIRE(fd >= 0);
      REQUIRE(setns(fd, CLONE_NEWNET) == 0);
      close(fd);
      f();
    });
    t.join();
  }

  std::string host_ip;
  std::string ns_ip;

 private:
  std::string name_;
  std::string host_if_;
  std::string ns_if_;
  bool created_ = false;
};

// Reads until the end of an HTTP head (or `limit`); "" when nothing came.
std::string ReadHead(int fd, absl::Duration limit) {
  std::string out;
  const absl::Time end = absl::Now() + limit;
  char buf[1024];
  while (absl::Now() < end && !absl::StrContains(out, "\r\n\r\n")) {
    timeval tv{0, 100 * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    const ssize_t r = recv(fd, buf, sizeof(buf), 0);
    if (r == 0) break;
    if (r > 0) out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

TEST_CASE("a client cut off without a FIN: its session is closed and its slot freed") {
  NetNamespace ns;
  auto worker = FakeWorker::Start().value();
  const std::string host_ip = ns.host_ip;
  Grid g(GridOptions{.c = 1, .relay = [&](RelayOptions& o) {
                       o.listen_address = host_ip;
                       o.peer_timeout = kPeerTimeout;
                     }});
  g.Add("chromium:w1", worker->ws_endpoint());
  int fd = -1;
  ns.Inside([&] { fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); });
  REQUIRE(fd >= 0);
  sockaddr_in relay{};
  relay.sin_family = AF_INET;
  relay.sin_port = htons(g.relay->port());
  REQUIRE(inet_pton(AF_INET, host_ip.c_str(), &relay.sin_addr) == 1);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&relay), sizeof(relay)) == 0);
  const std::string upgrade =
      "GET /?browser=chromium HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  REQUIRE(send(fd, upgrade.data(), upgrade.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(upgrade.size()));
  REQUIRE(ReadHead(fd, absl::Seconds(5)).rfind("HTTP/1.1 101", 0) == 0);
  REQUIRE(g.Active() == 1);
  // Idle but alive for twice the peer timeout: the keepalive probes are answered, it stays.
  absl::SleepFor(2 * kPeerTimeout);
  CHECK(g.Active() == 1);
  CHECK(worker->connections_open() == 1);

  ns.Cut();
  const absl::Time cut = absl::Now();
  CHECK(Eventually([&] { return g.Active() == 0 && worker->connections_open() == 0; },
                   10 * kPeerTimeout));
  MESSAGE("slot freed ", absl::FormatDuration(absl::Now() - cut), " after the cut (peer_timeout ",
          absl::FormatDuration(kPeerTimeout), ")");
  CHECK(g.relay->stats().active_sessions == 0);
  close(fd);
}

TEST_CASE("a worker cut off without a FIN: the client gets close 1011 and the slot is freed") {
  NetNamespace ns;
  std::unique_ptr<FakeWorker> worker;
  ns.Inside([&] {
    FakeWorkerOptions o;
    o.listen_address = ns.ns_ip;
    worker = FakeWorker::Start(o).value();
  });
  Grid g(GridOptions{.c = 1, .relay = [](RelayOptions& o) { o.peer_timeout = kPeerTimeout; }});
  g.Add("chromium:w1", worker->ws_endpoint());
  auto client = WsTestClient::Connect(g.Url()).value();
  PWGRID_REQUIRE_OK(client->SendText("hello"));
  REQUIRE(client->Receive().value().data == "hello");
  REQUIRE(g.Active() == 1);

  ns.Cut();
  const absl::Time cut = absl::Now();
  absl::StatusOr<int> code = client->WaitClosed(10 * kPeerTimeout);
  PWGRID_REQUIRE_OK(code.status());
  CHECK(*code == 1011);
  CHECK(Eventually([&] { return g.Active() == 0; }, 10 * kPeerTimeout));
  MESSAGE("client told ", absl::FormatDuration(absl::Now() - cut), " after the cut");
  worker.reset();
}

}  // namespace
}  // namespace pwgrid
