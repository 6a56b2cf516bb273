// Child processes: spawn with a clean descriptor table and signal state, wait, terminate.
#include "lib/worker/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace pwgrid::internal {
namespace {

// The interval at which WaitFor checks the child when the kernel offers no pidfd.
constexpr absl::Duration kReapPollInterval = absl::Milliseconds(10);

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // pidfds are close-on-exec already; be sure
  return fd;
#else
  return -1;
#endif
}

}  // namespace

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Spawn(const SubprocessOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("Subprocess: empty argv");
  std::vector<std::string> args = options.argv;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_copy;
  std::vector<char*> envp;
  if (options.env) {
    env_copy = *options.env;
    for (std::string& e : env_copy) envp.push_back(e.data());
    envp.push_back(nullptr);
  }

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const int fds[3] = {options.stdin_fd, options.stdout_fd, options.stderr_fd};
  for (int target = 0; target < 3; ++target) {
    if (fds[target] >= 0) {
      posix_spawn_file_actions_adddup2(&fa, fds[target], target);
    } else {
      posix_spawn_file_actions_addopen(&fa, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY,
                                       0);
    }
  }
  // Hand over stdin, stdout and stderr only: any descriptor of the host (a library cannot know
  // them all, nor whether each was opened close-on-exec) stays out of the child.
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);  // hosts often block signals for sigwait()
  posix_spawnattr_setsigdefault(&attr, &defaults);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.own_process_group) {
    posix_spawnattr_setpgroup(&attr, 0);
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(&attr, flags);
  pid_t pid = 0;
  const int err =
      posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), options.env ? envp.data() : environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    return absl::InternalError(
        absl::StrCat("starting ", options.argv[0], ": ", std::strerror(err)));
  }
  return std::unique_ptr<Subprocess>(
      new Subprocess(pid, PidfdOpen(pid), options.own_process_group));
}

Subprocess::~Subprocess() {
  Terminate(absl::ZeroDuration());
  if (pidfd_ >= 0) ::close(pidfd_);
}

bool Subprocess::ReapLocked() {
  if (exit_status_) return true;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = WIFEXITED(status)     ? WEXITSTATUS(status)
                   : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                         : -1;
  } else if (r < 0 && errno == ECHILD) {
    exit_status_ = -1;  // reaped by someone else (a host with SIGCHLD ignored)
  }
  return exit_status_.has_value();
}

bool Subprocess::WaitLocked(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!ReapLocked()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    if (pidfd_ >= 0) {
      pollfd p{pidfd_, POLLIN, 0};
      const int ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left), 999) + 1);
      (void)::poll(&p, 1, ms);  // readable once the child has exited
    } else {
      absl::SleepFor(std::min(left, kReapPollInterval));
    }
  }
  return true;
}

bool Subprocess::Running() {
  absl::MutexLock lock(&mu_);
  return !ReapLocked();
}

bool Subprocess::WaitFor(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return WaitLocked(timeout);
}

std::optional<int> Subprocess::exit_status() {
  absl::MutexLock lock(&mu_);
  ReapLocked();
  return exit_status_;
}

void Subprocess::Signal(int signal, bool group) {
  absl::MutexLock lock(&mu_);
  if (ReapLocked()) return;
  ::kill(group && group_ ? -pid_ : pid_, signal);
}

void Subprocess::Terminate(absl::Duration grace, const std::vector<pid_t>& extra_groups) {
  absl::MutexLock lock(&mu_);
  if (terminated_) return;
  terminated_ = true;
  if (!ReapLocked()) {
    if (grace > absl::ZeroDuration()) {
      ::kill(pid_, SIGTERM);
      WaitLocked(grace);
    }
    if (!ReapLocked()) {
      ::kill(group_ ? -pid_ : pid_, SIGKILL);
      for (pid_t g : extra_groups) {
        if (g > 0) ::kill(-g, SIGKILL);
      }
      WaitLocked(absl::InfiniteDuration());
      return;
    }
  }
  // It exited by itself. After a failure it may not have ended what it started: end that too.
  if (*exit_status_ != 0) {
    for (pid_t g : extra_groups) {
      if (g > 0) ::kill(-g, SIGKILL);
    }
  }
}

}  // namespace pwgrid::internal
