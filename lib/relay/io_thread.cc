// Sockets and buffers of the relay's I/O threads (see io_thread.h).
#include "lib/relay/io_thread.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <new>

namespace pwgrid::internal {

using asio::ip::tcp;

asio::error_code OpenSocket(tcp::socket& s, const tcp::endpoint& to) {
  const int fd = ::socket(to.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return asio::error_code(errno, asio::error::get_system_category());
  asio::error_code ec;
  s.assign(to.protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    return ec;
  }
  s.non_blocking(true, ec);  // tells Asio what the descriptor already is
  s.set_option(tcp::no_delay(true), ec);
  return asio::error_code();
}

void SetPeerTimeout(tcp::socket& s, absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration()) return;
  const int fd = s.native_handle();
  const int on = 1;
  const int idle = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Seconds(timeout / 2)));
  const int interval = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Seconds(timeout / 6)));
  const int count = 3;
  const unsigned user_timeout = static_cast<unsigned>(absl::ToInt64Milliseconds(timeout / 2));
  // Best effort: a failure leaves the kernel's defaults, which are only slower.
  (void)::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
}

void RunIoThread(asio::io_context& io, absl::Duration busy_poll) {
  if (busy_poll <= absl::ZeroDuration()) {
    io.run();
    return;
  }
  using Clock = std::chrono::steady_clock;
  const Clock::duration spin = absl::ToChronoNanoseconds(busy_poll);
  while (!io.stopped()) {
    // Awake: ready handlers and sockets (epoll_wait with a zero timeout) until `spin` passes idle.
    for (Clock::time_point until = Clock::now() + spin; Clock::now() < until;) {
      if (io.poll() > 0) until = Clock::now() + spin;
      if (io.stopped()) return;
    }
    if (io.run_one() == 0) return;  // asleep until the next event
  }
}

namespace {

// Descriptors kept out of the client budget: the worker side is counted per session; these are
// for listening sockets, Redis, logs and the browsers an embedded grid launches.
constexpr int64_t kReservedDescriptors = 128;

int64_t ConnectionLimit(int configured) {
  if (configured > 0) return configured;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 1 << 20;
  return std::max<int64_t>(1, (static_cast<int64_t>(rl.rlim_cur) - kReservedDescriptors) / 2);
}

}  // namespace

RelayShared::RelayShared(const RelayOptions& options, Selector* selector,
                         std::unique_ptr<Metrics> own)
    : options(options),
      selector(selector),
      own_metrics(std::move(own)),
      metrics(&(options.metrics != nullptr ? options.metrics : own_metrics.get())->families()),
      max_connections(ConnectionLimit(options.max_client_connections)) {
  GridMonitor::Options o;
  o.interval = options.status_interval;
  o.limits = options.limits;
  o.metrics = metrics;
  o.logger = options.logger;
  monitor = std::make_unique<GridMonitor>(options.registry, selector, o);
}

void RelayShared::SyncByteCounters() {
  if (!byte_totals) return;
  const auto [to_workers, to_clients] = byte_totals();
  metrics->SetRelayedBytes(to_workers, to_clients);
}

std::string RelayShared::MetricsText() const {
  return (options.metrics != nullptr ? options.metrics : own_metrics.get())->TextExposition();
}

Admission RelayShared::Admit(const std::string& ip) {
  absl::MutexLock lock(&mu);
  const int64_t per_address_limit = options.max_connections_per_address;
  int64_t* from_ip = per_address_limit > 0 ? &per_address[ip] : nullptr;
  if (serving < max_connections && (from_ip == nullptr || *from_ip < per_address_limit)) {
    ++serving;
    if (from_ip != nullptr) ++*from_ip;
    return Admission::kServe;
  }
  if (from_ip != nullptr && *from_ip == 0) per_address.erase(ip);
  if (refusing >= kMaxRefusing) return Admission::kDrop;
  ++refusing;
  return Admission::kRefuse;
}

void RelayShared::Leave(const std::string& ip, Admission admission) {
  absl::MutexLock lock(&mu);
  if (admission == Admission::kRefuse) {
    --refusing;
    return;
  }
  if (admission != Admission::kServe) return;
  --serving;
  if (options.max_connections_per_address > 0) {
    auto it = per_address.find(ip);
    if (it != per_address.end() && --it->second <= 0) per_address.erase(it);
  }
}

int64_t RelayShared::connections() const {
  absl::MutexLock lock(&mu);
  return serving + refusing;
}

Buffer IoThread::TakeBuffer() {
  if (free_buffers.empty()) {
    Buffer b(static_cast<char*>(std::aligned_alloc(4096, (buffer_bytes + 4095) / 4096 * 4096)));
    if (!b) throw std::bad_alloc();
    return b;
  }
  Buffer b = std::move(free_buffers.back());
  free_buffers.pop_back();
  return b;
}

RelayPipe& RelayPipe::operator=(RelayPipe&& o) noexcept {
  if (this != &o) {
    Close();
    read_fd = o.read_fd;
    write_fd = o.write_fd;
    o.read_fd = o.write_fd = -1;
  }
  return *this;
}

void RelayPipe::Close() {
  if (read_fd >= 0) ::close(read_fd);
  if (write_fd >= 0) ::close(write_fd);
  read_fd = write_fd = -1;
}

bool IoThread::TakePipe(RelayPipe& pipe) {
  if (!free_pipes.empty()) {
    pipe = std::move(free_pipes.back());
    free_pipes.pop_back();
    return true;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  pipe.read_fd = fds[0];
  pipe.write_fd = fds[1];
  (void)::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(kPipeBytes));  // else 64 KiB
  return true;
}

void IoThread::GivePipe(RelayPipe pipe) {
  if (pipe.valid() && free_pipes.size() < kMaxFreePipes) free_pipes.push_back(std::move(pipe));
}

void IoThread::GiveBuffer(Buffer b) {
  if (b && free_buffers.size() < kMaxFreeBuffers) free_buffers.push_back(std::move(b));
}

}  // namespace pwgrid::internal
