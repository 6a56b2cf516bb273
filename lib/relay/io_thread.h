// What the relay's sessions share: an I/O thread (its event loop, its pool of relay buffers, its
// byte counters, its handle on the listening socket) and the state every session of one Relay
// sees (options, selector, counters, the set of live sessions that Stop() walks). C++17: Asio
// types. Internal header.
#ifndef PWGRID_LIB_RELAY_IO_THREAD_H_
#define PWGRID_LIB_RELAY_IO_THREAD_H_

#include "lib/common/internal.h"

#include <asio.hpp>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/common/log_util.h"
#include "lib/relay/asio_event_loop.h"
#include "lib/relay/grid_monitor.h"
#include "lib/relay/metric_families.h"
#include "lib/selector/loop_acquire.h"
#include "pwgrid/metrics.h"
#include "pwgrid/relay.h"

namespace pwgrid::internal {

class Session;

// Opens `s` for a connection to `to`: close-on-exec and non-blocking in one step (Asio's open()
// and accept() set neither), so no descriptor of the relay leaks into a browser launched later
// by any thread; TCP_NODELAY.
asio::error_code OpenSocket(asio::ip::tcp::socket& s, const asio::ip::tcp::endpoint& to);

// Dead-peer detection on `s` (RelayOptions::peer_timeout): TCP keepalive and TCP_USER_TIMEOUT.
// Zero: nothing is changed.
void SetPeerTimeout(asio::ip::tcp::socket& s, absl::Duration timeout);

// A pipe(2) for splicing (both ends non-blocking, close-on-exec); closes what it holds.
struct RelayPipe {
  RelayPipe() = default;
  RelayPipe(RelayPipe&& o) noexcept : read_fd(o.read_fd), write_fd(o.write_fd) {
    o.read_fd = o.write_fd = -1;
  }
  RelayPipe& operator=(RelayPipe&& o) noexcept;
  RelayPipe(const RelayPipe&) = delete;
  RelayPipe& operator=(const RelayPipe&) = delete;
  ~RelayPipe() { Close(); }
  void Close();
  bool valid() const { return read_fd >= 0; }
  int read_fd = -1;
  int write_fd = -1;
};

struct FreeBuffer {
  void operator()(char* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<char, FreeBuffer>;

// One I/O thread. Only the thread itself touches the buffer pool; the counters are read by
// Relay::stats() from any thread.
struct IoThread {
  explicit IoThread(size_t buffer_bytes) : buffer_bytes(buffer_bytes) {}

  // A page-aligned buffer of buffer_bytes (the kernel copies to and from aligned memory
  // measurably faster), from the pool when it has one.
  Buffer TakeBuffer();
  // Back to the pool (kept up to kMaxFreeBuffers, freed beyond).
  void GiveBuffer(Buffer b);

  // An empty pipe into `pipe` (from the pool, or a new one of pipe_bytes); false when none can be
  // made (the descriptor limit): the caller reads and writes instead.
  bool TakePipe(RelayPipe& pipe);
  // Back to the pool; it must be empty.
  void GivePipe(RelayPipe pipe);

  static constexpr size_t kMaxFreeBuffers = 256;
  static constexpr size_t kMaxFreePipes = 16;
  // Asked of each new pipe (F_SETPIPE_SZ; the kernel's default of 64 KiB when refused), and the
  // most one splice asks for (a smaller pipe takes less).
  static constexpr size_t kPipeBytes = 1 << 20;
  std::vector<RelayPipe> free_pipes;
  const size_t buffer_bytes;
  std::vector<Buffer> free_buffers;
  alignas(64) std::atomic<int64_t> bytes_to_workers{0};
  std::atomic<int64_t> bytes_to_clients{0};
  // After the pool: destroying the io_context destroys the handlers it still holds, and with
  // them sessions, which give their buffers back themselves.
  asio::io_context io{1};
  asio::detail::reactor* const reactor = &asio::use_service<asio::detail::reactor>(io);
  // With a selector that can reserve on this thread's loop (Redis): the loop and the acquirer,
  // destroyed before the io_context (their handlers are still queued in it).
  std::unique_ptr<AsioEventLoop> loop;
  std::unique_ptr<LoopAcquirer> acquirer;
  // This thread's handle on the listening socket (thread 0: the socket itself; the others: a
  // dup of it), so that a connection is accepted by the thread that will serve it.
  std::optional<asio::ip::tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> accept_retry;
  std::thread thread;
};

// The body of an I/O thread: io.run(), or with `busy_poll` > 0 (RelayOptions::busy_poll) a loop
// that polls without sleeping until busy_poll has passed with nothing to do, then sleeps until
// the next event. Returns when `io` is stopped or out of work.
void RunIoThread(asio::io_context& io, absl::Duration busy_poll);

// Whether a new client connection is served (kServe), answered 503 because it is over a
// connection limit (kRefuse), or closed at once because too many are being refused (kDrop).
enum class Admission { kServe, kRefuse, kDrop };

// What the operator views show of a relayed session. Set on the session's thread before the
// session is listed in RelayShared::relayed, and not changed after: other threads read it.
struct SessionInfo {
  std::string id;  // also sent to the worker as X-Pwgrid-Session-Id
  BrowserType browser = BrowserType::kChromium;
  std::string client;          // "ip:port"
  std::string user_agent;      // the client's User-Agent
  std::string client_version;  // the client's Playwright version, "" when unknown
  std::string tenant;
  std::string worker_id;
  std::string worker_version;  // the worker's registered Playwright version, "" when none
  std::string worker_endpoint;
  absl::Time started;  // the worker's 101
  absl::Duration queue_wait;
};

// State shared by the Relay and its sessions; sessions keep it alive while they finish.
struct RelayShared {
  // Connections being answered 503 at once, beyond which further ones are closed unread.
  static constexpr int64_t kMaxRefusing = 64;

  // `own`: the Metrics of the relay's own when options.metrics is null.
  RelayShared(const RelayOptions& options, Selector* selector, std::unique_ptr<Metrics> own);

  // Counts a new client connection from `ip` in (every Admit is paired with one Leave).
  Admission Admit(const std::string& ip);
  // Brings the metric families' byte counters to the relay's totals (byte_totals).
  void SyncByteCounters();
  // Every family of the Metrics the relay records into, in the Prometheus text format.
  std::string MetricsText() const;
  void Leave(const std::string& ip, Admission admission);
  int64_t connections() const;

  const RelayOptions options;
  Selector* const selector;
  const absl::Time started = absl::Now();
  std::unique_ptr<Metrics> own_metrics;  // when options.metrics is null
  MetricFamilies* metrics = nullptr;     // never null
  std::unique_ptr<GridMonitor> monitor;  // started by Relay::Start
  // The bytes relayed so far, to workers and to clients (every I/O thread's); set by the Relay
  // before it starts.
  std::function<std::pair<int64_t, int64_t>()> byte_totals;
  const int64_t max_connections;  // options.max_client_connections, or sized from the file limit
  std::atomic<bool> stopping{false};
  std::atomic<int64_t> active{0};
  std::atomic<int64_t> total{0};
  std::atomic<int64_t> rejected{0};
  mutable absl::Mutex mu;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions ABSL_GUARDED_BY(mu);
  // Relayed sessions by SessionInfo::id (the operator views, DELETE /api/v1/sessions/{id}).
  absl::flat_hash_map<std::string, std::weak_ptr<Session>> relayed ABSL_GUARDED_BY(mu);
  int64_t serving ABSL_GUARDED_BY(mu) = 0;   // admitted connections open now
  int64_t refusing ABSL_GUARDED_BY(mu) = 0;  // connections being answered 503
  absl::flat_hash_map<std::string, int64_t> per_address ABSL_GUARDED_BY(mu);  // admitted ones
};

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_RELAY_IO_THREAD_H_
