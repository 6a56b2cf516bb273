// RedisServer: a real redis-server on a free loopback port, started and stopped by the tests.
#include "pwgrid/testing/redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "lib/redis/redis_connection.h"
#include "lib/worker/subprocess.h"

namespace pwgrid::testing {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(10);  // until it answers PING
constexpr absl::Duration kPingInterval = absl::Milliseconds(20);
constexpr absl::Duration kStopTimeout = absl::Seconds(5);  // SIGTERM, then SIGKILL

// A port the kernel just handed out on 127.0.0.1 (free at this moment).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string Render(const internal::RedisValue& v) {
  using T = internal::RedisValue::Type;
  switch (v.type) {
    case T::kNil: return "(nil)";
    case T::kInteger: return absl::StrCat(v.integer);
    case T::kArray: {
      std::vector<std::string> parts;
      for (const auto& e : v.elements) parts.push_back(Render(e));
      return absl::StrJoin(parts, "\n");
    }
    default: return v.str;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start() {
  std::unique_ptr<RedisServer> server(new RedisServer());
  absl::Status last = absl::UnavailableError("no attempt");
  for (int attempt = 0; attempt < 5; ++attempt) {
    server->port_ = FreePort();
    last = server->Spawn();
    if (last.ok()) return server;
  }
  return last;
}

RedisServer::~RedisServer() { Stop(); }

pid_t RedisServer::pid() const { return process_ ? process_->pid() : -1; }

absl::Status RedisServer::Spawn() {
  const std::string port = absl::StrCat(port_);
  internal::SubprocessOptions spawn;
  spawn.argv = {"redis-server", "--port",     port,           "--bind", "127.0.0.1",
                "--save",       "",           "--appendonly", "no",     "--daemonize",
                "no",           "--loglevel", "warning",      "--dir",  "/tmp"};
  spawn.stderr_fd = STDERR_FILENO;
  spawn.own_process_group = false;
  absl::StatusOr<std::unique_ptr<internal::Subprocess>> p = internal::Subprocess::Spawn(spawn);
  if (!p.ok()) return absl::FailedPreconditionError("cannot run redis-server (is it installed?)");
  process_ = *std::move(p);
  const absl::Time deadline = absl::Now() + kStartTimeout;
  while (absl::Now() < deadline) {
    if (!process_->Running()) {
      process_.reset();
      return absl::UnavailableError(absl::StrCat("redis-server exited at start on port ", port));
    }
    if (Call({"PING"}).ok()) return absl::OkStatus();
    process_->WaitFor(kPingInterval);  // returns early if it exits
  }
  Stop(true);
  return absl::DeadlineExceededError("redis-server did not answer PING within 10 s");
}

void RedisServer::Stop(bool crash) {
  if (!process_) return;
  if (crash) process_->Signal(SIGKILL);
  process_->Terminate(kStopTimeout);
  process_.reset();
}

absl::Status RedisServer::Resume() {
  if (process_) return absl::FailedPreconditionError("redis-server is running");
  return Spawn();
}

absl::StatusOr<std::string> RedisServer::Call(const std::vector<std::string>& args) const {
  internal::RedisEndpoint e;
  e.port = port_;
  internal::RedisConnection conn(e);
  if (absl::Status s = conn.Connect(); !s.ok()) return s;
  absl::StatusOr<internal::RedisValue> r = conn.Command(args);
  if (!r.ok()) return r.status();
  if (r->is_error()) return absl::InternalError(r->str);
  return Render(*r);
}

absl::StatusOr<std::map<std::string, std::string>> RedisServer::HGetAll(
    const std::string& key) const {
  internal::RedisEndpoint e;
  e.port = port_;
  internal::RedisConnection conn(e);
  if (absl::Status s = conn.Connect(); !s.ok()) return s;
  absl::StatusOr<internal::RedisValue> r = conn.Command({"HGETALL", key});
  if (!r.ok()) return r.status();
  std::map<std::string, std::string> out;
  for (size_t i = 0; i + 1 < r->elements.size(); i += 2) {
    out[r->elements[i].str] = r->elements[i + 1].str;
  }
  return out;
}

}  // namespace pwgrid::testing
