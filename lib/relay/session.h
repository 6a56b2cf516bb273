// Session: one client connection of the relay, from its first request byte to the release of its
// lease. An explicit state machine, on the I/O thread that accepted the connection:
//
//   kReadingRequest ──route: an answer──► kAnswering ──keep-alive──► kReadingRequest
//        │                                    └──────────────────────► kFinished
//        └──upgrade──► kWaitingForWorker ──lease──► kDialing ──101──► kRelaying ──► kClosing
//                         │    ▲                      │   │                           │
//                         │    └──dial failed (retry)─┘   └──other answer──►          │
//                         │                                 kForwardingRefusal        │
//                         └──failure / deadline──► kAnswering            │            │
//                                                                        ▼            ▼
//                                                                     kFinished ◄─────┘
//
// Every state can go to kFinished (the client left, Stop()); Finish() closes both sockets and
// releases the lease exactly once. The code is in three files by phase: session.cc (HTTP
// request and selection), session_worker.cc (dial, handshake, a worker's refusal) and
// byte_pipe.cc (the relay of bytes and the close). C++17: Asio types. Internal header.
//
// Thread-safety: all methods run on the session's I/O thread; CancelWaiting and ForceClose are
// posted there by Relay::Stop.
#ifndef PWGRID_LIB_RELAY_SESSION_H_
#define PWGRID_LIB_RELAY_SESSION_H_

#include "lib/common/internal.h"

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/common/endpoint.h"
#include "lib/relay/http_surface.h"
#include "lib/relay/io_thread.h"
#include "lib/relay/upgrade.h"
#include "lib/relay/ws_frame.h"
#include "pwgrid/selector.h"

namespace pwgrid::internal {

class Session : public std::enable_shared_from_this<Session> {
 public:
  enum class State {
    kReadingRequest,     // reading a request head (the first, or the next on a keep-alive)
    kAnswering,          // writing an answer of the relay's own
    kWaitingForWorker,   // queued in the selector
    kDialing,            // connecting to the worker, sending the upgrade, reading its answer
    kForwardingRefusal,  // passing a worker's non-101 answer on to the client
    kRelaying,           // both directions copy bytes
    kClosing,            // one direction has ended; the other finishes or lingers
    kFinished,           // sockets closed, lease released
  };

  // `peer`: the client's address as accept() reported it; `admission`: what RelayShared::Admit
  // said of it (kServe or kRefuse), given back by the destructor.
  Session(std::shared_ptr<RelayShared> shared, IoThread* home, asio::ip::tcp::socket socket,
          const asio::ip::tcp::endpoint& peer, Admission admission);
  ~Session();

  void Start();
  // From Relay::Stop, on the session's thread: a queued client gets its 503.
  void CancelWaiting();
  void ForceClose() { Finish(); }
  // DELETE /api/v1/sessions/{id}, posted to the session's thread: close frame 1008.
  void CloseByOperator();
  asio::any_io_executor executor() { return client_.get_executor(); }

  // What the operator views show; set before the session is listed in RelayShared::relayed, read
  // from any thread after.
  const SessionInfo& info() const { return info_; }
  int64_t bytes_to_worker() const { return bytes_to_worker_.load(std::memory_order_relaxed); }
  int64_t bytes_to_client() const { return bytes_to_client_.load(std::memory_order_relaxed); }

  // Bounds of what the relay reads for a worker's handshake answer.
  static constexpr size_t kMaxWorkerHeadBytes = 64 * 1024;  // up to the empty line
  static constexpr size_t kMaxRefusalBytes = 256 * 1024;    // a refusal with its body
  // Dials per client before upstream's 500 (each to another worker, within the deadline).
  static constexpr int kMaxDialAttempts = 3;
  // The relay's backstop after a client's deadline, for a selector that answers late.
  static constexpr absl::Duration kSelectorGrace = absl::Milliseconds(50);
  // The close code of a session ended by session_idle_timeout or session_max_duration.
  static constexpr int kPolicyViolation = 1008;

 private:
  // One direction of the relay. `buf` holds bytes [begin, end) not yet written to `to`.
  struct Pipe {
    asio::ip::tcp::socket* from;
    asio::ip::tcp::socket* to;
    bool to_worker;
    Buffer buf;
    size_t begin = 0;
    size_t end = 0;
    bool ended = false;  // the source has stopped sending
    // The last read was short and the source's last report had no end of stream in it: once
    // `buf` is written, wait for the source instead of reading it for an EAGAIN (edge_wait.h).
    bool drained = false;
    RelayPipe pipe;      // while payload bytes are spliced
    size_t spliced = 0;  // bytes in `pipe` not yet written to `to`
  };

  // session.cc: HTTP phase and selection.
  void ReadRequest();
  void OnRequest(const asio::error_code& ec, size_t n);
  void HandleRequest(const RequestHead& request);
  void HandleUpgrade(const RequestHead& request, Route route);
  // The answer to an upgrade that no worker in `view` can serve (its browser type, or its
  // Playwright version under VersionPolicy::kRoute), with the line logged; nullopt: one can.
  std::optional<std::pair<HttpAnswer, std::string>> Unserved(const GridView& view) const;
  void AnswerOperator(const Route& route);
  bool Authenticate(const Authenticator& auth, const RequestHead& request,
                    bool forbid_wrong_token = false);
  void Answer(const HttpAnswer& answer);
  void CloseGracefully();
  void Acquire();
  bool TryLoopAcquire();
  void AcquireFromSelector();
  bool LoopAcquiring(uint64_t attempt) const;
  void StopWaiting();
  void WatchWhileWaiting();
  bool ReadEarlyBytes();
  void OnLease(absl::StatusOr<Lease> result, bool queued);
  void Finish();
  template <typename F>
  void ArmTimer(absl::Duration d, F on_expiry);

  // session_worker.cc: the worker's handshake.
  void Dial();
  void ConnectToAllowed(std::vector<asio::ip::tcp::endpoint> candidates);
  void ConnectTo(std::vector<asio::ip::tcp::endpoint> candidates);
  void OnWorkerConnected(const asio::error_code& ec);
  void FailDial(const std::string& why);
  void OnWorkerResponse(const asio::error_code& ec, size_t n);
  void StartRelaying(size_t head_len);
  void AnnounceSession();
  void ForwardWorkerRefusal(size_t head_len, BodyFraming framing);
  void ReadRefusal(size_t head_len, BodyFraming framing);
  void SendRefusal();

  // byte_pipe.cc: the byte relay and the close.
  void Pump(Pipe& p);
  bool Splice(Pipe& p, FrameTracker& frames);
  void Count(Pipe& p, size_t n);
  void SourceStopped(Pipe& p, const asio::error_code& ec);
  void Await(Pipe& p, asio::ip::tcp::socket& socket, asio::ip::tcp::socket::wait_type what);
  void UpEnded();
  void DownEnded();
  void Linger();
  void WatchSessionLimits();
  // `closer`: who ended it, for the end-of-session log line ("relay", "operator").
  void EndSession(const char* reason, const char* closer);
  // The first side seen to close, with its close code (1006: none, the connection dropped).
  void NoteClose(const char* closer, int code);
  std::vector<std::pair<std::string, std::string>> SessionLogFields() const;
  void LogSessionStart();
  void LogSessionEnd();

  std::shared_ptr<RelayShared> shared_;
  IoThread* const home_;  // outlives the session's handlers
  asio::ip::tcp::socket client_;
  asio::ip::tcp::socket worker_;
  asio::steady_timer timer_;
  asio::steady_timer linger_;
  asio::steady_timer limits_;  // session_idle_timeout and session_max_duration
  std::chrono::steady_clock::time_point relaying_since_;
  std::chrono::steady_clock::time_point last_byte_;  // the last byte relayed either way
  bool track_idle_ = false;                          // session_idle_timeout is set
  State state_ = State::kReadingRequest;
  const Admission admission_;
  std::string remote_;
  std::string remote_ip_;
  Tenant tenant_;            // the authenticator's answer; no name without one
  std::string in_;           // client bytes not yet consumed
  std::string out_;          // the answer or request being written
  std::string worker_head_;  // the worker's handshake answer
  HeaderList forward_headers_;
  WsEndpoint endpoint_;
  Lease lease_;
  uint64_t ticket_ = 0;
  uint64_t acquire_attempt_ = 0;  // tags the selector's answers: only the current one counts
  uint64_t loop_attempt_ = 0;     // the attempt that waits for the loop's answer, if current
  SelectRequest request_;         // what the client asked for, with its deadline
  int dial_failures_ = 0;
  bool dial_timed_out_ = false;  // why the current dial failed
  Pipe up_{&client_, &worker_, /*to_worker=*/true, nullptr, 0, 0, false, false, {}, 0};
  Pipe down_{&worker_, &client_, /*to_worker=*/false, nullptr, 0, 0, false, false, {}, 0};
  FrameTracker down_frames_;
  FrameTracker up_frames_;       // only to tell whether the client sent a close frame
  bool hangup_watched_ = false;  // both sockets report EPOLLRDHUP: short reads may end a round
  SessionInfo info_;
  std::atomic<int64_t> bytes_to_worker_{0};  // written only on the session's thread
  std::atomic<int64_t> bytes_to_client_{0};
  std::chrono::steady_clock::time_point request_at_;  // the upgrade request was read
  std::chrono::steady_clock::time_point leased_at_;   // the first lease (end of the queue wait)
  bool leased_ = false;
  const char* closed_by_ = nullptr;  // "client", "worker", "relay", "operator", "shutdown"
  int close_code_ = -1;
};

// Runs `on_expiry` after `d` unless the timer is re-armed or cancelled first.
template <typename F>
void Session::ArmTimer(absl::Duration d, F on_expiry) {
  timer_.expires_after(std::chrono::microseconds(absl::ToInt64Microseconds(d)));
  timer_.async_wait([on_expiry](const asio::error_code& ec) {
    if (!ec) on_expiry();
  });
}

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_RELAY_SESSION_H_
