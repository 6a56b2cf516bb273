// Session, part 3: the byte relay after the worker's 101, and the close.
//
// As nginx does it: each direction is a Pipe that waits for readiness, then reads and writes with
// non-blocking calls until the source is drained (EAGAIN), a bounded number of rounds per
// wake-up. A pipe borrows a buffer from its thread's pool only while bytes are in flight, so an
// idle session holds no buffer at all. A pipe whose destination is full keeps its buffer and
// stops reading its source (backpressure: memory stays bounded by one buffer per direction).
// Frame headers are followed in both directions (no payload is parsed): worker to client to know
// when a 1011 close frame can be injected if the worker dies, client to worker to tell a client
// that closed properly from one that vanished. A frame payload of more than a buffer's worth is
// spliced (socket -> pipe -> socket, no copy in the relay); its header is read as above. Waits
// start without a system call, and a short read ends a round without a recv() for its EAGAIN
// unless the source's last report had its end of stream in it (edge_wait.h): epoll_wait, recv and
// send per relayed message, as nginx. See session.h for the state machine.
#include <fcntl.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "lib/relay/edge_wait.h"
#include "lib/relay/session.h"

namespace pwgrid::internal {

using asio::ip::tcp;

// Moves bytes until the source has none (then waits for it to become readable) or the
// destination is full (then waits for it to become writable). After kRoundsPerWake reads or
// writes it lets the thread's other sessions run, then goes on.
void Session::Pump(Pipe& p) {
  static constexpr int kRoundsPerWake = 32;
  for (int round = 0; round < kRoundsPerWake; ++round) {
    if (state_ == State::kFinished) return;
    asio::error_code ec;
    if (p.begin < p.end) {
      const size_t n = p.to->write_some(asio::buffer(p.buf.get() + p.begin, p.end - p.begin), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        Await(p, *p.to, tcp::socket::wait_write);
      } else if (ec) {
        Finish();
      } else {
        p.begin += n;
        // The worker is gone and the client has answered its close frame (the 1011 the relay
        // sent, or the worker's own): the close handshake is over, nothing is left to relay.
        // Without this the relay would wait linger_timeout for a client that waits for it.
        if (p.to_worker && p.begin == p.end && down_.ended && up_frames_.close_seen() &&
            up_frames_.at_boundary()) {
          Finish();
          return;
        }
        if (p.begin == p.end && p.drained) {  // as nginx: no recv() only to hear EAGAIN
          p.drained = false;
          home_->GiveBuffer(std::move(p.buf));
          Await(p, *p.from, tcp::socket::wait_read);
          return;
        }
        continue;
      }
      return;
    }
    FrameTracker& frames = p.to_worker ? up_frames_ : down_frames_;
    if (p.spliced > 0 || (p.begin == p.end && frames.payload_left() > home_->buffer_bytes &&
                          home_->TakePipe(p.pipe))) {
      home_->GiveBuffer(std::move(p.buf));  // empty: not needed while splicing
      if (!Splice(p, frames)) return;
      continue;
    }
    if (!p.buf) p.buf = home_->TakeBuffer();
    const size_t n = p.from->read_some(asio::buffer(p.buf.get(), home_->buffer_bytes), ec);
    if (ec) {
      home_->GiveBuffer(std::move(p.buf));
      SourceStopped(p, ec);
      return;
    }
    p.begin = 0;
    p.end = n;
    p.drained = hangup_watched_ && n < home_->buffer_bytes && !ReportedHangup(*p.from);
    frames.Consume(reinterpret_cast<const unsigned char*>(p.buf.get()), n);
    Count(p, n);
    if (closed_by_ == nullptr && frames.close_seen())
      NoteClose(p.to_worker ? "client" : "worker", -1);
  }
  auto self = shared_from_this();
  asio::post(client_.get_executor(), [self, &p] { self->Pump(p); });
}

// `n` bytes read from p's source. Single writer: a load and a store, no read-modify-write, for
// the per-session counters.
void Session::Count(Pipe& p, size_t n) {
  if (track_idle_) last_byte_ = std::chrono::steady_clock::now();
  std::atomic<int64_t>& thread_total =
      p.to_worker ? home_->bytes_to_workers : home_->bytes_to_clients;
  std::atomic<int64_t>& session_total = p.to_worker ? bytes_to_worker_ : bytes_to_client_;
  thread_total.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
  session_total.store(session_total.load(std::memory_order_relaxed) + static_cast<int64_t>(n),
                      std::memory_order_relaxed);
}

// The source gave no bytes: `ec` is EAGAIN (wait for it), the end of its stream, or an error.
void Session::SourceStopped(Pipe& p, const asio::error_code& ec) {
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    Await(p, *p.from, tcp::socket::wait_read);
  } else if (p.to_worker && ec != asio::error::eof) {
    // The client is gone for good (reset, or peer_timeout found it dead): nothing waits for
    // a close handshake.
    PWGRID_LOG(shared_->options.logger, LogLevel::kDebug,
               absl::StrCat("Client ", remote_,
                            " closed the connection without a close frame: ", ec.message()),
               {{"workerId", lease_.worker().id}});
    NoteClose("client", 1006);
    Finish();
  } else if (p.to_worker) {
    UpEnded();
  } else {
    if (ec != asio::error::eof) {
      PWGRID_LOG(shared_->options.logger, LogLevel::kWarn,
                 absl::StrCat("Lost the connection to the browser server: ", ec.message()),
                 {{"workerId", lease_.worker().id}});
    }
    DownEnded();
  }
}

// Large payloads go socket -> pipe -> socket (splice(2)): the kernel moves page references and
// the relay copies nothing. Only bytes inside a frame's payload, which the tracker knows the
// length of, are spliced, so that every frame header still passes through Consume(). One round:
// empties the pipe into the destination, or fills it from the source. False: the pipe waits (for
// the destination, the source) or the session ended.
bool Session::Splice(Pipe& p, FrameTracker& frames) {
  constexpr unsigned kFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
  if (p.spliced > 0) {
    const ssize_t out =
        ::splice(p.pipe.read_fd, nullptr, p.to->native_handle(), nullptr, p.spliced, kFlags);
    if (out < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (errno == EAGAIN) Await(p, *p.to, tcp::socket::wait_write);
      return errno == EINTR;
    }
    if (out <= 0) {
      Finish();
      return false;
    }
    p.spliced -= static_cast<size_t>(out);
    if (p.spliced == 0) home_->GivePipe(std::move(p.pipe));
    return true;
  }
  const size_t want = static_cast<size_t>(
      std::min<unsigned long long>(frames.payload_left(), IoThread::kPipeBytes));
  const ssize_t in =
      ::splice(p.from->native_handle(), nullptr, p.pipe.write_fd, nullptr, want, kFlags);
  if (in <= 0) {
    const int err = errno;
    home_->GivePipe(std::move(p.pipe));  // empty
    if (in < 0 && err == EINTR) return true;
    SourceStopped(p, in == 0 ? asio::error_code(asio::error::eof)
                             : asio::error_code(err, asio::error::get_system_category()));
    return false;
  }
  const size_t n = static_cast<size_t>(in);
  frames.Skip(n);
  p.spliced = n;
  Count(p, n);
  return true;
}

void Session::Await(Pipe& p, tcp::socket& socket, tcp::socket::wait_type what) {
  auto self = shared_from_this();
  // No system call to start (edge_wait.h); a spurious wake-up reads EAGAIN and comes back.
  AsyncEdgeWait(*home_->reactor, socket, what, [self, &p](const asio::error_code& ec) {
    // Other errors show up in the next read or write.
    if (ec != asio::error::operation_aborted) self->Pump(p);
  });
}

// The client stopped sending (close handshake done, or it went away): tell the worker.
void Session::UpEnded() {
  if (state_ == State::kFinished) return;
  up_.ended = true;
  NoteClose("client", up_frames_.close_seen() ? -1 : 1006);
  if (!up_frames_.close_seen()) {
    PWGRID_LOG(shared_->options.logger, LogLevel::kDebug,
               absl::StrCat("Client ", remote_, " closed the connection without a close frame"),
               {{"workerId", lease_.worker().id}});
  }
  asio::error_code ignored;
  worker_.shutdown(tcp::socket::shutdown_send, ignored);
  if (down_.ended) {
    Finish();
  } else {
    Linger();
  }
}

// The worker stopped sending. If it died without a close frame while the client was still
// there, the client gets a 1011 close frame (when the stream is at a frame boundary), not a
// silent TCP close. After the client's own end, the worker's close is only the answer to it.
void Session::DownEnded() {
  if (state_ == State::kFinished) return;
  down_.ended = true;
  auto self = shared_from_this();
  auto after = [self] {
    asio::error_code ignored;
    self->client_.shutdown(tcp::socket::shutdown_send, ignored);
    if (self->up_.ended) {
      self->Finish();
    } else {
      self->Linger();
    }
  };
  if (!up_.ended && !down_frames_.close_seen() && down_frames_.at_boundary()) {
    PWGRID_LOG(shared_->options.logger, LogLevel::kWarn,
               "Browser server closed the connection without a close frame",
               {{"workerId", lease_.worker().id}});
    NoteClose("worker", 1011);  // what the client is told
    out_ = ServerCloseFrame(1011, "browser server closed the connection");
    asio::async_write(client_, asio::buffer(out_),
                      [after](const asio::error_code&, size_t) { after(); });
  } else {
    NoteClose("worker", down_frames_.close_seen() ? -1 : 1006);
    after();
  }
}

// One direction has ended; the other gets options.linger_timeout to finish its close handshake.
void Session::Linger() {
  if (state_ == State::kFinished) return;
  state_ = State::kClosing;
  auto self = shared_from_this();
  linger_.expires_after(
      std::chrono::microseconds(absl::ToInt64Microseconds(shared_->options.linger_timeout)));
  linger_.async_wait([self](const asio::error_code& ec) {
    if (!ec) self->Finish();
  });
}

}  // namespace pwgrid::internal

namespace pwgrid::internal {

// Arms limits_ for the sooner of session_max_duration and session_idle_timeout; when it fires
// and a limit is really reached, the session ends, else the watch is armed again.
void Session::WatchSessionLimits() {
  const RelayOptions& o = shared_->options;
  if (o.session_idle_timeout <= absl::ZeroDuration() &&
      o.session_max_duration <= absl::ZeroDuration()) {
    return;
  }
  using std::chrono::steady_clock;
  const auto max_duration = absl::ToChronoMicroseconds(o.session_max_duration);
  const auto idle_timeout = absl::ToChronoMicroseconds(o.session_idle_timeout);
  track_idle_ = idle_timeout.count() > 0;
  steady_clock::time_point due = steady_clock::time_point::max();
  if (max_duration.count() > 0) due = relaying_since_ + max_duration;
  if (track_idle_) due = std::min(due, last_byte_ + idle_timeout);
  limits_.expires_at(due);
  auto self = shared_from_this();
  limits_.async_wait([self, max_duration, idle_timeout](const asio::error_code& ec) {
    if (ec || self->state_ != State::kRelaying) return;
    const steady_clock::time_point now = steady_clock::now();
    if (max_duration.count() > 0 && now >= self->relaying_since_ + max_duration) {
      self->EndSession("session maximum duration reached", "relay");
    } else if (idle_timeout.count() > 0 && now >= self->last_byte_ + idle_timeout) {
      self->EndSession("session idle timeout", "relay");
    } else {
      self->WatchSessionLimits();
    }
  });
}

// A session limit was reached: the worker's connection is closed (its browser context goes with
// it), the client gets close frame 1008 with `reason` when the stream is between frames (else a
// TCP close), and the slot is freed once the client has answered or linger_timeout passed.
void Session::EndSession(const char* reason, const char* closer) {
  PWGRID_LOG(shared_->options.logger, LogLevel::kInfo,
             absl::StrCat("Closing the session of ", remote_, ": ", reason),
             {{"workerId", lease_.worker().id}, {"sessionId", info_.id}});
  NoteClose(closer, kPolicyViolation);
  asio::error_code ignored;
  worker_.close(ignored);
  down_.ended = true;
  up_.ended = true;  // what the client still sends has nowhere to go
  if (down_.begin != down_.end || !down_frames_.at_boundary() || down_frames_.close_seen()) {
    Finish();
    return;
  }
  state_ = State::kClosing;
  out_ = ServerCloseFrame(kPolicyViolation, reason);
  auto self = shared_from_this();
  asio::async_write(client_, asio::buffer(out_), [self](const asio::error_code& e, size_t) {
    if (e) {
      self->Finish();
      return;
    }
    asio::error_code ignored2;
    self->client_.shutdown(tcp::socket::shutdown_send, ignored2);
    self->Linger();
  });
}

}  // namespace pwgrid::internal

namespace pwgrid::internal {

void Session::CloseByOperator() {
  if (state_ == State::kRelaying) EndSession("closed by an operator", "operator");
}

}  // namespace pwgrid::internal
