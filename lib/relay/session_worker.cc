// Session, part 2: the worker's side of the handshake. Dialling the leased worker (its host name
// resolved, each address tried), sending it the upgrade, reading its answer; a 101 starts the
// relay, anything else is passed to the client; a worker that cannot be reached is taken out of
// selection and the client retried on another. See session.h for the state machine.
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/relay/edge_wait.h"
#include "lib/relay/session.h"

namespace pwgrid::internal {

using asio::ip::tcp;

void Session::Dial() {
  absl::StatusOr<WsEndpoint> ep = ParseWsEndpoint(lease_.worker().endpoint);
  if (!ep.ok()) {
    FailDial(ep.status().ToString());
    return;
  }
  endpoint_ = *std::move(ep);
  auto self = shared_from_this();
  ArmTimer(shared_->options.dial_timeout, [self, attempt = dial_failures_] {
    if (attempt != self->dial_failures_) return;  // fired for an earlier dial
    self->dial_timed_out_ = true;
    asio::error_code ignored;
    self->worker_.close(ignored);
  });
  asio::error_code ec;
  asio::ip::address addr = asio::ip::make_address(endpoint_.host, ec);
  if (!ec) {
    ConnectToAllowed({tcp::endpoint(addr, endpoint_.port)});
    return;
  }
  auto resolver = std::make_shared<tcp::resolver>(client_.get_executor());
  resolver->async_resolve(
      endpoint_.host, std::to_string(endpoint_.port),
      [self, resolver](const asio::error_code& e, tcp::resolver::results_type results) {
        if (self->state_ != State::kDialing) return;
        if (e || self->dial_timed_out_) {
          self->FailDial(e ? e.message() : "timed out");
          return;
        }
        std::vector<tcp::endpoint> candidates;
        for (const auto& r : results) candidates.push_back(r.endpoint());
        self->ConnectToAllowed(std::move(candidates));
      });
}

// Keeps the candidates inside allowed_worker_networks; with none left the worker is refused.
void Session::ConnectToAllowed(std::vector<tcp::endpoint> candidates) {
  const std::vector<IpNetwork>& allowed = shared_->options.allowed_worker_networks;
  if (!allowed.empty()) {
    std::vector<tcp::endpoint> inside;
    std::string outside;
    for (const tcp::endpoint& c : candidates) {
      const std::string address = c.address().to_string();
      if (InAnyNetwork(allowed, address)) {
        inside.push_back(c);
      } else if (outside.empty()) {
        outside = address;
      }
    }
    if (inside.empty() && !outside.empty()) {
      PWGRID_LOG(shared_->options.logger, LogLevel::kError,
                 absl::StrCat("Refusing to dial worker ", lease_.worker().id, " at ",
                              lease_.worker().endpoint, ": ", outside,
                              " is outside the allowed worker networks"),
                 {{"workerId", lease_.worker().id}});
      FailDial("endpoint outside the allowed worker networks");
      return;
    }
    candidates = std::move(inside);
  }
  ConnectTo(std::move(candidates));
}

// Tries `candidates` in order (a host name may resolve to several addresses), each on a socket
// of our own (see OpenSocket).
void Session::ConnectTo(std::vector<tcp::endpoint> candidates) {
  if (candidates.empty()) {
    FailDial(dial_timed_out_ ? "timed out" : "no address to connect to");
    return;
  }
  asio::error_code ignored;
  worker_.close(ignored);
  const tcp::endpoint to = candidates.front();
  if (asio::error_code ec = OpenSocket(worker_, to)) {
    FailDial(ec.message());
    return;
  }
  candidates.erase(candidates.begin());
  auto self = shared_from_this();
  worker_.async_connect(to,
                        [self, rest = std::move(candidates)](const asio::error_code& e) mutable {
                          if (self->state_ != State::kDialing) return;
                          if (e && !rest.empty() && !self->dial_timed_out_) {
                            self->ConnectTo(std::move(rest));
                          } else {
                            self->OnWorkerConnected(e);
                          }
                        });
}

void Session::OnWorkerConnected(const asio::error_code& ec) {
  if (ec) {
    FailDial(dial_timed_out_ ? "timed out" : ec.message());
    return;
  }
  SetPeerTimeout(worker_, shared_->options.peer_timeout);
  if (info_.id.empty()) info_.id = NewUuid();
  out_ = BuildWorkerRequest(endpoint_, forward_headers_, remote_ip_, info_.id);
  auto self = shared_from_this();
  asio::async_write(worker_, asio::buffer(out_), [self](const asio::error_code& e, size_t) {
    if (self->state_ != State::kDialing) return;
    if (e) {
      self->FailDial(self->dial_timed_out_ ? "timed out" : e.message());
      return;
    }
    asio::async_read_until(
        self->worker_, asio::dynamic_buffer(self->worker_head_, kMaxWorkerHeadBytes), "\r\n\r\n",
        [self](const asio::error_code& e2, size_t n) { self->OnWorkerResponse(e2, n); });
  });
}

// The chosen worker could not be reached. It is taken out of selection (grid-wide, until it
// heartbeats again) and the client is given another worker within its deadline; after
// kMaxDialAttempts failures it gets upstream's 500.
void Session::FailDial(const std::string& why) {
  timer_.cancel();
  const std::string worker_id = lease_.worker().id;
  shared_->metrics->DialFailed();
  lease_.ReleaseWorkerUnreachable();  // never committed: both counters are rolled back
  asio::error_code ignored;
  worker_.close(ignored);
  worker_head_.clear();
  dial_timed_out_ = false;
  if (++dial_failures_ < kMaxDialAttempts && shared_->options.clock->Now() < request_.deadline &&
      !shared_->stopping.load()) {
    PWGRID_LOG(shared_->options.logger, LogLevel::kWarn,
               absl::StrCat("Failed to connect to browser server for ", remote_, ": ", why,
                            "; trying another worker"),
               {{"workerId", worker_id}});
    Acquire();
    return;
  }
  PWGRID_LOG(shared_->options.logger, LogLevel::kError,
             absl::StrCat("Connection from ", remote_,
                          " rejected. Failed to connect to browser server: ", why),
             {{"workerId", worker_id}});
  Answer(BrowserServerErrorAnswer());
}

void Session::OnWorkerResponse(const asio::error_code& ec, size_t n) {
  if (state_ != State::kDialing) return;
  if (ec) {
    FailDial(dial_timed_out_ ? "timed out waiting for the handshake answer" : ec.message());
    return;
  }
  timer_.cancel();
  const WorkerAnswer answer = ParseWorkerAnswer(std::string_view(worker_head_).substr(0, n));
  if (answer.status != 101) {
    PWGRID_LOG(
        shared_->options.logger, LogLevel::kError,
        absl::StrCat("Connection from ", remote_,
                     " rejected. Browser server answered the handshake with ", answer.status),
        {{"workerId", lease_.worker().id}});
    lease_.Release();
    shared_->rejected.fetch_add(1, std::memory_order_relaxed);
    shared_->metrics->Rejected(answer.status, "worker refused");
    ForwardWorkerRefusal(n, answer.framing);
    return;
  }
  StartRelaying(n);
}

// The worker said 101: the session counts, the answer (and any frames after it) goes to the
// client, then the client's early frames to the worker, then both pipes run.
void Session::StartRelaying(size_t head_len) {
  lease_.Commit();
  state_ = State::kRelaying;
  relaying_since_ = last_byte_ = std::chrono::steady_clock::now();
  // What only the handshake needed goes now: a held session keeps its memory small.
  std::string().swap(out_);
  HeaderList().swap(forward_headers_);
  endpoint_ = WsEndpoint();
  if (in_.empty()) std::string().swap(in_);  // else swapped once passed on, below
  WatchSessionLimits();
  shared_->active.fetch_add(1, std::memory_order_relaxed);
  shared_->total.fetch_add(1, std::memory_order_relaxed);
  info_.worker_id = lease_.worker().id;
  info_.worker_version = lease_.worker().playwright_version;
  info_.worker_endpoint = lease_.worker().endpoint;
  info_.started = absl::Now();
  info_.queue_wait = absl::FromChrono(leased_at_ - request_at_);
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->relayed.emplace(info_.id, weak_from_this());
  }
  hangup_watched_ = WatchHangup(*home_->reactor, client_) && WatchHangup(*home_->reactor, worker_);
  LogSessionStart();
  AnnounceSession();
  PWGRID_LOG(shared_->options.logger, LogLevel::kDebug,
             absl::StrCat("Proxy connection established (", remote_, " <-> ",
                          lease_.worker().endpoint, ")"));
  // Bytes after the head are the worker's first frames.
  down_frames_.Consume(reinterpret_cast<const unsigned char*>(worker_head_.data()) + head_len,
                       worker_head_.size() - head_len);
  home_->bytes_to_clients.fetch_add(static_cast<int64_t>(worker_head_.size() - head_len),
                                    std::memory_order_relaxed);
  bytes_to_client_.store(static_cast<int64_t>(worker_head_.size() - head_len),
                         std::memory_order_relaxed);
  if (down_frames_.close_seen()) NoteClose("worker", down_frames_.close_code());
  auto self = shared_from_this();
  asio::async_write(client_, asio::buffer(worker_head_), [self](const asio::error_code& e, size_t) {
    std::string().swap(self->worker_head_);
    if (e) {
      self->Finish();
      return;
    }
    self->Pump(self->down_);
    if (self->in_.empty()) {
      self->Pump(self->up_);
    } else {  // the client sent frames before the 101: pass them on first
      self->up_frames_.Consume(reinterpret_cast<const unsigned char*>(self->in_.data()),
                               self->in_.size());
      self->bytes_to_worker_.store(static_cast<int64_t>(self->in_.size()),
                                   std::memory_order_relaxed);
      if (self->up_frames_.close_seen()) {
        self->NoteClose("client", self->up_frames_.close_code());
      }
      asio::async_write(self->worker_, asio::buffer(self->in_),
                        [self](const asio::error_code& e2, size_t) {
                          std::string().swap(self->in_);
                          if (e2) {
                            self->Finish();
                          } else {
                            self->Pump(self->up_);
                          }
                        });
    }
  });
}

// Stores the session with its lease when the registry keeps sessions (Redis), so that every
// proxy's status view lists it; on the monitor's thread, as the registry may block.
void Session::AnnounceSession() {
  GridMonitor& monitor = *shared_->monitor;
  if (monitor.registry() == nullptr || !monitor.view()->keeps_sessions) return;
  GridSession g{info_.id,
                monitor.name(),
                info_.browser,
                info_.worker_id,
                info_.client,
                info_.user_agent,
                info_.client_version,
                info_.tenant,
                absl::ToUnixMillis(info_.started)};
  monitor.Post(
      [reservation = lease_.reservation(), g = std::move(g)](WorkerRegistry& registry) {
        (void)registry.AnnounceSession(reservation, g);  // the view lacks it until it works
      },
      /*refresh=*/false);
}

// Passes a worker's non-101 answer (e.g. Playwright's 428 for a version mismatch) to the client
// as it is, body included: read to its end as its head delimits it (Content-Length, chunked, or
// until the worker closes, as Playwright's answer is), within kMaxRefusalBytes and the dial
// timeout; what arrived by then is passed on.
void Session::ForwardWorkerRefusal(size_t head_len, BodyFraming framing) {
  state_ = State::kForwardingRefusal;
  auto self = shared_from_this();
  ArmTimer(shared_->options.dial_timeout, [self] {
    asio::error_code ignored;
    self->worker_.cancel(ignored);
  });
  ReadRefusal(head_len, framing);
}

void Session::ReadRefusal(size_t head_len, BodyFraming framing) {
  using Kind = BodyFraming::Kind;
  const std::string_view body = std::string_view(worker_head_).substr(head_len);
  const bool complete = framing.kind == Kind::kNone ||
                        (framing.kind == Kind::kLength && body.size() >= framing.length) ||
                        (framing.kind == Kind::kChunked && ChunkedBodyComplete(body));
  if (complete || worker_head_.size() >= kMaxRefusalBytes) {
    SendRefusal();
    return;
  }
  auto self = shared_from_this();
  const size_t at = worker_head_.size();
  worker_head_.resize(std::min(kMaxRefusalBytes, at + 16 * 1024));
  worker_.async_read_some(
      asio::buffer(&worker_head_[at], worker_head_.size() - at),
      [self, at, head_len, framing](const asio::error_code& ec, size_t n) {
        if (self->state_ != State::kForwardingRefusal) return;
        self->worker_head_.resize(at + n);
        if (ec) {
          self->SendRefusal();  // closed (the end of a close-delimited body), or timed out
        } else {
          self->ReadRefusal(head_len, framing);
        }
      });
}

void Session::SendRefusal() {
  timer_.cancel();
  asio::error_code ignored;
  worker_.close(ignored);
  out_ = std::move(worker_head_);
  state_ = State::kAnswering;
  auto self = shared_from_this();
  asio::async_write(client_, asio::buffer(out_),
                    [self](const asio::error_code&, size_t) { self->CloseGracefully(); });
}

}  // namespace pwgrid::internal
