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
#include "tests/relay_grid.h"

namespace pwgrid {
namespace {

using testing::FakeWorker;
using testing::WsTestClient;

// Keeps every log record for assertions.
class CapturingLogger : public Logger {
 public:
  bool Enabled(LogLevel) const override { return true; }
  void Log(const LogRecord& r) override {
    absl::MutexLock lock(&mu_);
    messages_.push_back(r.message);
  }
  bool Contains(std::string_view part) const {
    absl::MutexLock lock(&mu_);
    for (const std::string& m : messages_) {
      if (absl::StrContains(m, absl::string_view(part.data(), part.size()))) return true;
    }
    return false;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> messages_ ABSL_GUARDED_BY(mu_);
};

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

}  // namespace
}  // namespace pwgrid
