// Relay: the listening socket, the I/O threads and their accept loops, Start/Stop; and the
// RelayOptions checks. Each connection becomes a Session (session.h), served by the thread that
// accepted it. C++17 island: with lib/testing/net, the only place that includes Asio.
//
// Threads: each I/O thread runs its own io_context (concurrency hint 1) and accepts on its own
// handle of the listening socket, so a connection is served by the thread that accepted it, and
// a session's sockets, timers and handlers stay on that thread for its whole life: no strands, no
// locks and no cross-thread wake-ups on the data path. With a Redis registry, each thread also
// has its own asynchronous Redis connection (lib/selector/loop_acquire.h), on which an
// uncontended connect is selected. Only the answer of a selector that had to queue the client (no
// slot at once) and Stop() are posted in from other threads.
#include "pwgrid/relay.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/common/status_util.h"
#include "lib/relay/io_thread.h"
#include "lib/relay/session.h"

namespace pwgrid {

using asio::ip::tcp;
using internal::Admission;
using internal::IoThread;
using internal::RelayShared;
using internal::Session;

absl::StatusOr<VersionPolicy> ParseVersionPolicy(std::string_view name) {
  if (name == "route") return VersionPolicy::kRoute;
  if (name == "any") return VersionPolicy::kAny;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown version policy \"", std::string(name), "\" (expected route or any)"));
}

std::string_view ToString(VersionPolicy policy) {
  return policy == VersionPolicy::kAny ? "any" : "route";
}

RelayOptions RelayOptions::ForTesting() {
  RelayOptions o;
  o.listen_address = "127.0.0.1";
  o.port = 0;
  o.io_threads = 1;
  o.select_timeout = absl::Seconds(2);
  o.dial_timeout = absl::Seconds(2);
  o.request_timeout = absl::Seconds(5);
  return o;
}

absl::Status RelayOptions::Validate() const {
  if (io_threads < 1 || io_threads > 256)
    return absl::InvalidArgumentError("io_threads must be in 1..256");
  if (busy_poll < absl::ZeroDuration() || busy_poll > absl::Milliseconds(1))
    return absl::InvalidArgumentError("busy_poll must be in 0..1ms");
  if (select_timeout <= absl::ZeroDuration())
    return absl::InvalidArgumentError("select_timeout must be positive");
  if (dial_timeout <= absl::ZeroDuration())
    return absl::InvalidArgumentError("dial_timeout must be positive");
  if (request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("request_timeout must be positive");
  }
  if (buffer_bytes < 4096 || buffer_bytes > (16u << 20)) {
    return absl::InvalidArgumentError("buffer_bytes must be in 4 KiB..16 MiB");
  }
  if (max_request_bytes < 1024 || max_request_bytes > (1u << 20)) {
    return absl::InvalidArgumentError("max_request_bytes must be in 1 KiB..1 MiB");
  }
  if (linger_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("linger_timeout must be positive");
  }
  if (max_client_connections < 0 || max_connections_per_address < 0) {
    return absl::InvalidArgumentError(
        "max_client_connections and max_connections_per_address must not be negative");
  }
  if (peer_timeout < absl::ZeroDuration() ||
      (peer_timeout > absl::ZeroDuration() && peer_timeout < absl::Seconds(2))) {
    return absl::InvalidArgumentError("peer_timeout must be zero (off) or at least 2s");
  }
  if (session_idle_timeout < absl::ZeroDuration() || session_max_duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "session_idle_timeout and session_max_duration must not be negative");
  }
  if (status_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("status_interval must be positive");
  }
  if (limits.max_concurrent < 1 || limits.max_lifetime < 1) {
    return absl::InvalidArgumentError("limits must be at least 1");
  }
  if (logger == nullptr) return absl::InvalidArgumentError("RelayOptions.logger is null");
  if (clock == nullptr) return absl::InvalidArgumentError("RelayOptions.clock is null");
  asio::error_code ec;
  asio::ip::make_address(listen_address, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("bad listen address: ", listen_address));
  return absl::OkStatus();
}

class Relay::Impl {
 public:
  Impl(const RelayOptions& options, Selector* selector, std::unique_ptr<Metrics> own_metrics)
      : shared_(std::make_shared<RelayShared>(options, selector, std::move(own_metrics))) {
    for (int i = 0; i < options.io_threads; ++i) {
      threads_.push_back(std::make_unique<IoThread>(options.buffer_bytes));
      threads_.back()->acceptor.emplace(threads_.back()->io);
      threads_.back()->accept_retry.emplace(threads_.back()->io);
      if (auto* source = dynamic_cast<internal::LoopAcquireSource*>(selector)) {
        IoThread& t = *threads_.back();
        t.loop = std::make_unique<internal::AsioEventLoop>(t.io);
        t.acquirer = source->OpenLoopAcquirer(t.loop.get());
      }
    }
    // The threads outlive the monitor, which Stop() joins before they go.
    shared_->byte_totals = [this] {
      const RelayStats s = stats();
      return std::make_pair(s.bytes_to_workers, s.bytes_to_clients);
    };
    shared_->monitor->SetTick([this] { shared_->SyncByteCounters(); });
  }

  ~Impl() { Stop(absl::ZeroDuration()); }

  absl::Status Start() {
    absl::MutexLock lock(&mu_);
    if (state_ != State::kCreated) return absl::FailedPreconditionError("Relay already started");
    asio::error_code ec;
    const asio::ip::address addr = asio::ip::make_address(shared_->options.listen_address, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("bad listen address: ", ec.message()));
    tcp::endpoint ep(addr, shared_->options.port);
    tcp::acceptor& listener = *threads_[0]->acceptor;
    // Close-on-exec and non-blocking from the start (Asio's open() sets neither): the listening
    // socket must not leak into browsers launched later, and the I/O threads accept with
    // non-blocking accept4() calls on it.
    const int listen_fd =
        ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listen_fd < 0) {
      ec = asio::error_code(errno, asio::error::get_system_category());
    } else {
      listener.assign(ep.protocol(), listen_fd, ec);
      if (ec) ::close(listen_fd);
    }
    if (!ec) listener.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) listener.bind(ep, ec);
    if (!ec) listener.listen(asio::socket_base::max_listen_connections, ec);
    for (size_t i = 1; i < threads_.size() && !ec; ++i) {
      const int fd = ::fcntl(listener.native_handle(), F_DUPFD_CLOEXEC, 0);
      if (fd < 0) {
        ec = asio::error_code(errno, asio::error::get_system_category());
      } else {
        threads_[i]->acceptor->assign(ep.protocol(), fd, ec);
        if (ec) ::close(fd);
      }
    }
    if (ec) {
      asio::error_code ignored;
      for (auto& t : threads_) t->acceptor->close(ignored);
      return absl::UnavailableError(absl::StrCat("cannot listen on ",
                                                 shared_->options.listen_address, ":",
                                                 shared_->options.port, ": ", ec.message()));
    }
    port_ = listener.local_endpoint(ec).port();
    shared_->monitor->Start();  // reads the registry once before the first client is served
    for (auto& t : threads_) DoAccept(t.get());
    for (auto& t : threads_) {
      work_.push_back(asio::make_work_guard(t->io));
      t->thread = std::thread(
          [io = &t->io, spin = shared_->options.busy_poll] { internal::RunIoThread(*io, spin); });
    }
    state_ = State::kRunning;
    return absl::OkStatus();
  }

  uint16_t port() const {
    absl::MutexLock lock(&mu_);
    return port_;
  }

  RelayStats stats() const {
    RelayStats s;
    s.active_sessions = shared_->active.load();
    s.total_sessions = shared_->total.load();
    s.rejected_requests = shared_->rejected.load();
    s.client_connections = shared_->connections();
    for (const auto& t : threads_) {
      s.bytes_to_workers += t->bytes_to_workers.load(std::memory_order_relaxed);
      s.bytes_to_clients += t->bytes_to_clients.load(std::memory_order_relaxed);
    }
    return s;
  }

  void Stop(absl::Duration grace) {
    {
      absl::MutexLock lock(&mu_);
      if (state_ != State::kRunning) {
        state_ = State::kStopped;
        return;
      }
      state_ = State::kStopping;
    }
    // Draining: /readyz says so at once and new upgrades are answered 503 (Retry-After) while
    // the port stays open, so a load balancer moves clients elsewhere before it closes.
    shared_->stopping.store(true);
    ForEachSession([](const std::shared_ptr<Session>& s) { s->CancelWaiting(); });
    const absl::Time deadline = absl::Now() + grace;
    while (shared_->active.load() > 0 && absl::Now() < deadline) absl::SleepFor(kStopPollInterval);
    for (auto& t : threads_) {
      asio::post(t->io, [t = t.get()] {
        asio::error_code ignored;
        t->acceptor->close(ignored);
        t->accept_retry->cancel();
      });
    }
    shared_->monitor->Stop();
    ForEachSession([](const std::shared_ptr<Session>& s) { s->ForceClose(); });
    work_.clear();
    // Sessions end as their cancelled operations complete; bound the wait all the same.
    const absl::Time hard = absl::Now() + kStopJoinBound;
    while (SessionCount() > 0 && absl::Now() < hard) absl::SleepFor(kStopPollInterval);
    for (auto& t : threads_) t->io.stop();
    for (auto& t : threads_) t->thread.join();
    absl::MutexLock lock(&mu_);
    state_ = State::kStopped;
  }

 private:
  enum class State { kCreated, kRunning, kStopping, kStopped };

  // How often Stop() looks whether the sessions are gone, and how long it waits for sessions to
  // end once they were told to close (their cancelled operations complete in microseconds).
  static constexpr absl::Duration kStopPollInterval = absl::Milliseconds(5);
  static constexpr absl::Duration kStopJoinBound = absl::Seconds(5);
  // Back-off of the accept loop after an error such as too many open files.
  static constexpr absl::Duration kAcceptRetryDelay = absl::Milliseconds(50);

  // Runs on `t`, which serves what it accepts: every thread waits on the listening socket, and
  // whichever is free first takes the connection (no hand-over to another thread).
  // Accepts with accept4(SOCK_CLOEXEC | SOCK_NONBLOCK) (Asio's accept sets neither) until the
  // backlog is empty, then waits for the listening socket to become readable again.
  void DoAccept(IoThread* t) {
    t->acceptor->async_wait(tcp::acceptor::wait_read, [this, t](const asio::error_code& ec) {
      if (ec || !t->acceptor->is_open()) return;
      for (int i = 0; i < kAcceptsPerWake; ++i) {
        sockaddr_storage addr{};
        socklen_t len = sizeof(addr);
        const int fd = ::accept4(t->acceptor->native_handle(), reinterpret_cast<sockaddr*>(&addr),
                                 &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) {
            break;  // another thread took it, or the client gave up: wait for the next one
          }
          // e.g. too many open files: back off instead of spinning.
          t->accept_retry->expires_after(absl::ToChronoMilliseconds(kAcceptRetryDelay));
          t->accept_retry->async_wait([this, t](const asio::error_code& e) {
            if (!e) DoAccept(t);
          });
          return;
        }
        tcp::endpoint peer;
        if (len <= peer.capacity()) {
          std::memcpy(peer.data(), &addr, len);
          peer.resize(len);
        }
        const Admission admission = shared_->Admit(peer.address().to_string());
        if (admission == Admission::kDrop) {  // too many are being refused already
          shared_->rejected.fetch_add(1, std::memory_order_relaxed);
          shared_->metrics->Rejected(503, "too many connections, dropped");
          ::close(fd);
          continue;
        }
        tcp::socket socket(t->io);
        asio::error_code assign_ec;
        socket.assign(peer.protocol(), fd, assign_ec);
        if (assign_ec) {
          ::close(fd);
          shared_->Leave(peer.address().to_string(), admission);
          continue;
        }
        auto session = std::make_shared<Session>(shared_, t, std::move(socket), peer, admission);
        {
          absl::MutexLock lock(&shared_->mu);
          shared_->sessions.emplace(session.get(), session);
        }
        session->Start();
      }
      DoAccept(t);
    });
  }

  static constexpr int kAcceptsPerWake = 16;

  void ForEachSession(void (*fn)(const std::shared_ptr<Session>&)) {
    std::vector<std::shared_ptr<Session>> live;
    {
      absl::MutexLock lock(&shared_->mu);
      for (auto& [ptr, weak] : shared_->sessions) {
        if (auto s = weak.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) {
      asio::post(s->executor(), [s, fn] { fn(s); });
    }
  }

  size_t SessionCount() {
    absl::MutexLock lock(&shared_->mu);
    return shared_->sessions.size();
  }

  std::shared_ptr<RelayShared> shared_;
  // Declared before everything that holds I/O objects of theirs.
  std::vector<std::unique_ptr<IoThread>> threads_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  mutable absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kCreated;
  uint16_t port_ ABSL_GUARDED_BY(mu_) = 0;
};

absl::StatusOr<std::unique_ptr<Relay>> Relay::Create(const RelayOptions& options,
                                                     Selector* selector) {
  if (selector == nullptr) return absl::InvalidArgumentError("selector is null");
  PWGRID_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<Metrics> own_metrics;
  if (options.metrics == nullptr) {
    MetricsOptions m;
    m.mode = options.mode;
    PWGRID_ASSIGN_OR_RETURN(own_metrics, Metrics::Create(m));
  }
  return std::unique_ptr<Relay>(
      new Relay(std::make_unique<Impl>(options, selector, std::move(own_metrics))));
}

Relay::Relay(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Relay::~Relay() = default;
absl::Status Relay::Start() { return impl_->Start(); }
uint16_t Relay::port() const { return impl_->port(); }
RelayStats Relay::stats() const { return impl_->stats(); }
void Relay::Stop(absl::Duration grace) { impl_->Stop(grace); }

}  // namespace pwgrid
