// Subprocess: a child process started with posix_spawn, with only the descriptors it is given
// (stdin, stdout, stderr; everything else of the host is closed in the child), default signal
// dispositions and an empty signal mask, optionally in a process group of its own; and its end:
// waiting without polling (a pidfd), SIGTERM then SIGKILL to the whole group. Used by
// BrowserServer (node and its browser) and testing::RedisServer. Internal header.
//
// Thread-safety: thread-safe. Ownership: the Subprocess owns the child: destroying it while the
// child runs is Terminate(absl::ZeroDuration()).
#ifndef PWGRID_LIB_WORKER_SUBPROCESS_H_
#define PWGRID_LIB_WORKER_SUBPROCESS_H_

#include "lib/common/internal.h"

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace pwgrid::internal {

struct SubprocessOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH; not empty
  // The child's environment; nullopt: this process's.
  std::optional<std::vector<std::string>> env;
  // Descriptors of this process that become the child's 0, 1 and 2; -1: /dev/null. They stay
  // open here (the caller closes its copies).
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  bool own_process_group = true;  // Terminate() then ends the child's descendants too
};

class Subprocess {
 public:
  // Internal: the program cannot be started (errno's message). InvalidArgument: empty argv.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Spawn(const SubprocessOptions& options);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  // False once the child has exited (it is reaped here).
  bool Running();
  // Waits up to `timeout` for the child to exit. True when it has.
  bool WaitFor(absl::Duration timeout);
  // The exit status once exited: the exit code, or 128 + the signal that ended it; nullopt while
  // running.
  std::optional<int> exit_status();
  // Sends `signal` to the child (its group with `group`). No effect once it has exited.
  void Signal(int signal, bool group = false);
  // SIGTERM, up to `grace` for the child to exit, then SIGKILL to its process group and to each
  // of `extra_groups` (e.g. a browser that put itself in a group of its own), and reaps it. A
  // child that had exited by itself with a non-zero status has `extra_groups` killed (it may not
  // have ended what it started). Only the first call acts.
  void Terminate(absl::Duration grace, const std::vector<pid_t>& extra_groups = {});

 private:
  Subprocess(pid_t pid, int pidfd, bool group) : pid_(pid), pidfd_(pidfd), group_(group) {}
  bool ReapLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WaitLocked(absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const pid_t pid_;
  const int pidfd_;  // -1 when the kernel has no pidfd_open (then WaitFor polls waitpid)
  const bool group_;
  absl::Mutex mu_;
  std::optional<int> exit_status_ ABSL_GUARDED_BY(mu_);
  bool terminated_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_WORKER_SUBPROCESS_H_
