// The node-backed BrowserServer: runs the browser launcher (server/browser_launcher.mjs, found
// relative to the library) as a Subprocess in its own process group, reads the endpoint it
// reports, and keeps the last lines of its stderr (node's and the browser's) so that a launcher
// that fails says why.
#include "pwgrid/browser_server.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/common/json_util.h"
#include "lib/common/status_util.h"
#include "lib/worker/subprocess.h"
#include "pwgrid_build_config.h"

extern char** environ;

namespace pwgrid {

absl::StatusOr<std::string> PlaywrightCoreVersion(const std::string& dir) {
  const std::string file = absl::StrCat(dir, "/package.json");
  std::ifstream in(file);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", file));
  std::stringstream text;
  text << in.rdbuf();
  const std::string json = text.str();
  if (internal::JsonStringField(json, "name") != "playwright-core") {
    return absl::InvalidArgumentError(absl::StrCat(file, " is not playwright-core's"));
  }
  std::string version = internal::JsonStringField(json, "version");
  if (PlaywrightMinor(version).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(file, " has no Playwright version"));
  }
  return version;
}

absl::Status BrowserServerOptions::Validate() const {
  if (node_path.empty())
    return absl::InvalidArgumentError("BrowserServerOptions.node_path is empty");
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

namespace {

constexpr char kLauncherName[] = "browser_launcher.mjs";
// How much of the launcher's stderr is kept for error messages.
constexpr size_t kStderrTailBytes = 2048;
// How long a failed start waits for the launcher to exit and its stderr to end, after which
// what arrived by then is reported.
constexpr absl::Duration kFailureDrainTime = absl::Seconds(2);
// The longest line the launcher may report on stdout.
constexpr size_t kMaxReportBytes = 64 * 1024;

// The directory of the file this code was loaded from (libpwgrid.so, or the executable it was
// linked into), "" when unknown.
std::string LibraryDir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&DefaultLauncherPath), &info) == 0 ||
      info.dli_fname == nullptr) {
    return "";
  }
  std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// Where the launcher may be, relative to the library: installed, <prefix>/<datadir>/pwgrid/
// (the library being in <prefix>/<libdir>); in a build tree, beside the library.
std::vector<std::string> LauncherCandidates() {
  std::vector<std::string> out;
  const std::string dir = LibraryDir();
  if (dir.empty()) return out;
  const std::string libdir = PWGRID_LIBDIR;
  if (!libdir.empty() && libdir.front() != '/' && absl::EndsWith(dir, "/" + libdir)) {
    const std::string prefix = dir.substr(0, dir.size() - libdir.size() - 1);
    out.push_back(absl::StrCat(prefix, "/", PWGRID_DATADIR, "/", kLauncherName));
  }
  out.push_back(absl::StrCat(dir, "/", kLauncherName));
  return out;
}

absl::Status ErrnoStatus(const char* what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(err)));
}

// Reads the launcher's stderr on a thread of its own until it ends (every holder closed it):
// appends it to the log file, if any, and keeps its last kStderrTailBytes.
class StderrTail {
 public:
  StderrTail(int read_fd, int log_fd) : fd_(read_fd), log_fd_(log_fd) {
    if (pipe2(wake_, O_CLOEXEC) != 0) wake_[0] = wake_[1] = -1;
    thread_ = std::thread([this] { Run(); });
  }
  // Normally the stream has ended (its processes are gone); a descendant that still holds it is
  // given kFailureDrainTime, then the thread is told to stop.
  ~StderrTail() {
    WaitForEnd(kFailureDrainTime);
    if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
    thread_.join();
    for (int fd : {fd_, log_fd_, wake_[0], wake_[1]}) {
      if (fd >= 0) ::close(fd);
    }
  }

  // Waits up to `timeout` for the end of the stream.
  void WaitForEnd(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&ended_), timeout);
  }

  // The last lines received, trimmed to whole lines where possible.
  std::string Tail() {
    absl::MutexLock lock(&mu_);
    std::string t = tail_;
    if (t.size() == kStderrTailBytes) {
      const size_t nl = t.find('\n');
      if (nl != std::string::npos && nl + 1 < t.size()) t.erase(0, nl + 1);
    }
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
    return t;
  }

 private:
  void Run() {
    char buf[4096];
    while (true) {
      pollfd p[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      const int r = ::poll(p, wake_[0] >= 0 ? 2 : 1, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 || (p[1].revents & POLLIN) != 0) break;
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (log_fd_ >= 0) {
        for (ssize_t off = 0; off < n;) {
          const ssize_t w = ::write(log_fd_, buf + off, static_cast<size_t>(n - off));
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) break;
          off += w;
        }
      }
      absl::MutexLock lock(&mu_);
      tail_.append(buf, static_cast<size_t>(n));
      if (tail_.size() > kStderrTailBytes) tail_.erase(0, tail_.size() - kStderrTailBytes);
    }
    absl::MutexLock lock(&mu_);
    ended_ = true;
  }

  const int fd_;
  const int log_fd_;
  int wake_[2] = {-1, -1};  // written by the destructor to stop the thread
  absl::Mutex mu_;
  std::string tail_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

class NodeBrowserServer : public BrowserServer {
 public:
  NodeBrowserServer(std::unique_ptr<internal::Subprocess> process, int stdin_fd,
                    std::unique_ptr<StderrTail> stderr_tail, absl::Duration stop_timeout)
      : process_(std::move(process)),
        stderr_tail_(std::move(stderr_tail)),
        stdin_fd_(stdin_fd),
        stop_timeout_(stop_timeout) {}
  ~NodeBrowserServer() override {
    (void)Stop();
    stderr_tail_.reset();  // its stream has ended: every process that held it is gone
  }

  void SetEndpoint(std::string endpoint, std::string version, pid_t browser_pid) {
    endpoint_ = std::move(endpoint);
    version_ = std::move(version);
    browser_pid_ = browser_pid;
  }

  std::string ws_endpoint() const override { return endpoint_; }
  std::string playwright_version() const override { return version_; }
  bool Running() override { return process_->Running(); }

  absl::Status Stop() override {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return absl::OkStatus();
      stopped_ = true;
      if (stdin_fd_ >= 0) {
        ::close(stdin_fd_);  // the launcher closes its browser when stdin ends
        stdin_fd_ = -1;
      }
    }
    // SIGTERM (the launcher closes the browser, exit 0), then SIGKILL to the launcher's group and
    // the browser's own (Playwright starts the browser detached, in a group of its own).
    process_->Terminate(stop_timeout_, {browser_pid_});
    // What the processes wrote to stderr before they ended is in BROWSER_LOG when Stop returns
    // (the tail thread may still hold it in the pipe).
    stderr_tail_->WaitForEnd(kFailureDrainTime);
    return absl::OkStatus();
  }

  // For a failed start: waits a little for the launcher to end, stops it, and says why it failed
  // with its exit status and last stderr lines.
  absl::Status Failed(const absl::Status& why) {
    process_->WaitFor(kFailureDrainTime);
    const std::optional<int> status = process_->exit_status();
    (void)Stop();
    stderr_tail_->WaitForEnd(kFailureDrainTime);
    std::string message(why.message());
    if (status) absl::StrAppend(&message, " (exit status ", *status, ")");
    const std::string tail = stderr_tail_->Tail();
    absl::StrAppend(&message, tail.empty() ? "; its stderr was empty"
                                           : absl::StrCat("; its stderr ended with:\n", tail));
    return absl::Status(why.code(), message);
  }

 private:
  const std::unique_ptr<internal::Subprocess> process_;
  std::unique_ptr<StderrTail> stderr_tail_;
  absl::Mutex mu_;
  int stdin_fd_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  const absl::Duration stop_timeout_;
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
    if (ms <= 0)
      return absl::DeadlineExceededError("browser server did not report its endpoint in time");
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
    if (line.size() > kMaxReportBytes) return absl::InternalError("browser launcher line too long");
    line.push_back(c);
  }
}

}  // namespace

std::string DefaultLauncherPath() {
  if (const char* env = std::getenv("PWGRID_LAUNCHER"); env != nullptr && *env != '\0') return env;
  const std::vector<std::string> candidates = LauncherCandidates();
  for (const std::string& c : candidates) {
    if (::access(c.c_str(), R_OK) == 0) return c;
  }
  return candidates.empty() ? kLauncherName : candidates.front();
}

absl::StatusOr<std::unique_ptr<BrowserServer>> LaunchBrowserServer(
    const BrowserServerOptions& options) {
  PWGRID_RETURN_IF_ERROR(options.Validate());
  const std::string launcher =
      options.launcher_path.empty() ? DefaultLauncherPath() : options.launcher_path;
  if (access(launcher.c_str(), R_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("browser launcher not found: ", launcher,
                                            " (set PWGRID_LAUNCHER to its path)"));
  }
  int log_fd = -1;
  if (!options.log_path.empty()) {
    log_fd = ::open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return ErrnoStatus(absl::StrCat("opening ", options.log_path).c_str(), errno);
  }
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) {
    if (log_fd >= 0) ::close(log_fd);
    return ErrnoStatus("pipe2", errno);
  }
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int err = errno;
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]}) ::close(fd);
    if (log_fd >= 0) ::close(log_fd);
    return ErrnoStatus("pipe2", err);
  }

  internal::SubprocessOptions spawn;
  spawn.argv = {options.node_path, launcher};
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
  if (!options.playwright_core_dir.empty()) {
    env.push_back(absl::StrCat("PWGRID_PLAYWRIGHT_CORE=", options.playwright_core_dir));
  }
  spawn.env = std::move(env);
  spawn.stdin_fd = in_pipe[0];
  spawn.stdout_fd = out_pipe[1];
  spawn.stderr_fd = err_pipe[1];
  absl::StatusOr<std::unique_ptr<internal::Subprocess>> process =
      internal::Subprocess::Spawn(spawn);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (!process.ok()) {
    for (int fd : {in_pipe[1], out_pipe[0], err_pipe[0]}) ::close(fd);
    if (log_fd >= 0) ::close(log_fd);
    return process.status();
  }
  auto server = std::make_unique<NodeBrowserServer>(
      *std::move(process), in_pipe[1], std::make_unique<StderrTail>(err_pipe[0], log_fd),
      options.stop_timeout);
  absl::StatusOr<std::string> line = ReadLine(out_pipe[0], absl::Now() + options.start_timeout);
  ::close(out_pipe[0]);
  if (!line.ok()) return server->Failed(line.status());
  std::string error = internal::JsonStringField(*line, "error");
  std::string endpoint = internal::JsonStringField(*line, "wsEndpoint");
  if (!error.empty() || endpoint.empty()) {
    return server->Failed(absl::InternalError(
        absl::StrCat("browser launcher failed: ", error.empty() ? *line : error)));
  }
  int64_t browser_pid = 0;
  (void)absl::SimpleAtoi(internal::JsonNumberField(*line, "browserPid"), &browser_pid);
  server->SetEndpoint(std::move(endpoint), internal::JsonStringField(*line, "playwrightVersion"),
                      static_cast<pid_t>(browser_pid));
  return std::unique_ptr<BrowserServer>(std::move(server));
}

}  // namespace pwgrid
