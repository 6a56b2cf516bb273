// The node-backed BrowserServer: spawns server/browser_launcher.mjs and tracks its process group.
#include "pwgrid/browser_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/json_util.h"
#include "lib/status_util.h"
#include "pwgrid_build_config.h"

extern char** environ;

namespace pwgrid {

absl::Status BrowserServerOptions::Validate() const {
  if (node_path.empty()) return absl::InvalidArgumentError("BrowserServerOptions.node_path is empty");
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError("BrowserServerOptions.port must be in 0..65535");
  }
  if (start_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("BrowserServerOptions.start_timeout must be positive");
  }
  if (stop_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("BrowserServerOptions.stop_timeout must not be negative");
  }
  if (!ws_path.empty() && ws_path.front() != '/') {
    return absl::InvalidArgumentError("BrowserServerOptions.ws_path must start with '/'");
  }
  return absl::OkStatus();
}

std::string DefaultLauncherPath() {
  if (const char* env = std::getenv("PWGRID_LAUNCHER"); env != nullptr && *env != '\0') return env;
  return PWGRID_DEFAULT_LAUNCHER;
}

namespace {

absl::Status ErrnoStatus(const char* what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(err)));
}

class NodeBrowserServer : public BrowserServer {
 public:
  NodeBrowserServer(pid_t pid, int stdin_fd, absl::Duration stop_timeout)
      : pid_(pid), stdin_fd_(stdin_fd), stop_timeout_(stop_timeout) {}
  ~NodeBrowserServer() override { (void)Stop(); }

  void SetEndpoint(std::string endpoint, std::string version, pid_t browser_pid) {
    endpoint_ = std::move(endpoint);
    version_ = std::move(version);
    browser_pid_ = browser_pid;
  }

  std::string ws_endpoint() const override { return endpoint_; }
  std::string playwright_version() const override { return version_; }

  bool Running() override {
    absl::MutexLock lock(&mu_);
    return !ReapLocked();
  }

  absl::Status Stop() override {
    absl::MutexLock lock(&mu_);
    if (stopped_) return absl::OkStatus();
    stopped_ = true;
    if (stdin_fd_ >= 0) {
      close(stdin_fd_);  // the launcher closes its browser when stdin ends
      stdin_fd_ = -1;
    }
    bool graceful = ReapLocked();
    if (!graceful) {
      kill(pid_, SIGTERM);
      const absl::Time deadline = absl::Now() + stop_timeout_;
      while (!(graceful = ReapLocked()) && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
    }
    if (!graceful) {
      // Force: the launcher's process group, then the browser's own group (Playwright starts the
      // browser detached, in a group of its own).
      kill(-pid_, SIGKILL);
      if (browser_pid_ > 0) kill(-browser_pid_, SIGKILL);
      while (!ReapLocked()) absl::SleepFor(absl::Milliseconds(5));
    } else if (browser_pid_ > 0 && exit_code_ != 0) {
      kill(-browser_pid_, SIGKILL);  // the launcher failed while closing: leave nothing behind
    }
    return absl::OkStatus();
  }

 private:
  // True once the launcher has exited (and was reaped).
  bool ReapLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (exited_) return true;
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      exited_ = true;
      exit_code_ = (r == pid_ && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
    }
    return exited_;
  }

  const pid_t pid_;
  absl::Mutex mu_;
  int stdin_fd_ ABSL_GUARDED_BY(mu_);
  const absl::Duration stop_timeout_;
  bool exited_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  int exit_code_ ABSL_GUARDED_BY(mu_) = 0;
  std::string endpoint_;
  std::string version_;
  pid_t browser_pid_ = 0;
};

// Reads one '\n'-terminated line from `fd` before `deadline`.
absl::StatusOr<std::string> ReadLine(int fd, absl::Time deadline) {
  std::string line;
  char c;
  while (true) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return absl::DeadlineExceededError("browser server did not report its endpoint in time");
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoStatus("poll", errno);
    if (r == 0) continue;
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read", errno);
    if (n == 0) return absl::InternalError("browser launcher exited before reporting an endpoint");
    if (c == '\n') return line;
    if (line.size() > 64 * 1024) return absl::InternalError("browser launcher line too long");
    line.push_back(c);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<BrowserServer>> LaunchBrowserServer(
    const BrowserServerOptions& options) {
  PWGRID_RETURN_IF_ERROR(options.Validate());
  const std::string launcher =
      options.launcher_path.empty() ? DefaultLauncherPath() : options.launcher_path;
  if (access(launcher.c_str(), R_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("browser launcher not found: ", launcher));
  }

  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return ErrnoStatus("pipe2", errno);
  }

  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "PWGRID_", 7) != 0) env.emplace_back(*e);
  }
  env.push_back(absl::StrCat("PWGRID_BROWSER=", std::string(ToString(options.browser))));
  if (!options.executable_path.empty()) {
    env.push_back(absl::StrCat("PWGRID_EXECUTABLE=", options.executable_path));
  }
  env.push_back(absl::StrCat("PWGRID_HOST=", options.host));
  env.push_back(absl::StrCat("PWGRID_PORT=", options.port));
  if (!options.ws_path.empty()) env.push_back(absl::StrCat("PWGRID_WS_PATH=", options.ws_path));
  env.push_back(absl::StrCat("PWGRID_HEADLESS=", options.headless ? "true" : "false"));
  std::vector<char*> envp;
  for (std::string& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string node = options.node_path;
  std::string script = launcher;
  char* argv[] = {node.data(), script.data(), nullptr};

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  const std::string log = options.log_path.empty() ? "/dev/null" : options.log_path;
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  // Hand over stdin, stdout and stderr only: any descriptor of the host (a library cannot know
  // them all, nor whether each was opened close-on-exec) stays out of node and the browser.
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGHUP);
  posix_spawnattr_setsigmask(&attr, &none);  // hosts often block signals for sigwait()
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int err = posix_spawnp(&pid, node.c_str(), &fa, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (err != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    return ErrnoStatus(absl::StrCat("starting ", node).c_str(), err);
  }

  auto server = std::make_unique<NodeBrowserServer>(pid, in_pipe[1], options.stop_timeout);
  absl::StatusOr<std::string> line = ReadLine(out_pipe[0], absl::Now() + options.start_timeout);
  close(out_pipe[0]);
  if (!line.ok()) return line.status();  // `server` stops the process on the way out
  std::string error = internal::JsonStringField(*line, "error");
  std::string endpoint = internal::JsonStringField(*line, "wsEndpoint");
  if (!error.empty() || endpoint.empty()) {
    return absl::InternalError(absl::StrCat("browser launcher failed: ",
                                            error.empty() ? *line : error));
  }
  int64_t browser_pid = 0;
  (void)absl::SimpleAtoi(internal::JsonNumberField(*line, "browserPid"), &browser_pid);
  server->SetEndpoint(std::move(endpoint), internal::JsonStringField(*line, "playwrightVersion"),
                      static_cast<pid_t>(browser_pid));
  return std::unique_ptr<BrowserServer>(std::move(server));
}

}  // namespace pwgrid
