#include "pwgrid/testing/redis_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "lib/redis/redis_connection.h"

extern char** environ;

namespace pwgrid::testing {
namespace {

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
    case T::kNil:
      return "(nil)";
    case T::kInteger:
      return absl::StrCat(v.integer);
    case T::kArray: {
      std::vector<std::string> parts;
      for (const auto& e : v.elements) parts.push_back(Render(e));
      return absl::StrJoin(parts, "\n");
    }
    default:
      return v.str;
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

absl::Status RedisServer::Spawn() {
  const std::string port = absl::StrCat(port_);
  std::vector<std::string> args = {"redis-server", "--port", port, "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no", "--daemonize", "no",
                                   "--loglevel", "warning", "--dir", "/tmp"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // nothing of the test process leaks in
  const int rc = posix_spawnp(&pid_, "redis-server", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    return absl::FailedPreconditionError("cannot run redis-server (is it installed?)");
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(absl::StrCat("redis-server exited at start on port ", port));
    }
    if (Call({"PING"}).ok()) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(20));
  }
  Stop(true);
  return absl::DeadlineExceededError("redis-server did not answer PING within 10 s");
}

void RedisServer::Stop(bool crash) {
  if (pid_ <= 0) return;
  ::kill(pid_, crash ? SIGKILL : SIGTERM);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  pid_ = -1;
}

absl::Status RedisServer::Resume() {
  if (pid_ > 0) return absl::FailedPreconditionError("redis-server is running");
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
