// Session, part 1: the HTTP phase (reading a request head, routing it, answering) and the
// selection of a worker (queueing, the client's deadline, a client leaving while queued).
// See session.h for the state machine.
#include "lib/relay/session.h"

#include <sys/socket.h>

#include <cerrno>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/common/json_util.h"
#include "lib/relay/operator_api.h"

namespace pwgrid::internal {

using asio::ip::tcp;

Session::Session(std::shared_ptr<RelayShared> shared, IoThread* home, tcp::socket socket,
                 const tcp::endpoint& peer, Admission admission)
    : shared_(std::move(shared)),
      home_(home),
      client_(std::move(socket)),
      worker_(client_.get_executor()),
      timer_(client_.get_executor()),
      linger_(client_.get_executor()),
      limits_(client_.get_executor()),
      admission_(admission),
      remote_ip_(peer.address().to_string()) {
  remote_ = absl::StrCat(remote_ip_, ":", peer.port());
}

Session::~Session() {
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->sessions.erase(this);
  }
  shared_->Leave(remote_ip_, admission_);
}

void Session::Start() {
  asio::error_code ignored;
  client_.set_option(tcp::no_delay(true), ignored);
  // accept4() made it non-blocking already; this tells Asio, which then needs no FIONBIO of its
  // own later.
  client_.non_blocking(true, ignored);
  SetPeerTimeout(client_, shared_->options.peer_timeout);
  ReadRequest();
}

void Session::CancelWaiting() {
  if (state_ == State::kWaitingForWorker) StopWaiting();
}

// ---- HTTP phase ---------------------------------------------------------------------------
void Session::ReadRequest() {
  state_ = State::kReadingRequest;
  auto self = shared_from_this();
  ArmTimer(shared_->options.request_timeout, [self] {
    asio::error_code ignored;
    self->client_.close(ignored);
  });
  asio::async_read_until(client_, asio::dynamic_buffer(in_, shared_->options.max_request_bytes),
                         "\r\n\r\n",
                         [self](const asio::error_code& ec, size_t n) { self->OnRequest(ec, n); });
}

void Session::OnRequest(const asio::error_code& ec, size_t n) {
  timer_.cancel();
  if (ec == asio::error::not_found) {  // headers larger than max_request_bytes
    Answer(HeadersTooLargeAnswer());
    return;
  }
  if (ec) {
    Finish();
    return;
  }
  std::optional<RequestHead> request = ParseRequestHead(std::string_view(in_.data(), n));
  in_.erase(0, n);
  if (!request || !IsCleanRequest(*request)) {
    Answer(BadRequestAnswer());
    return;
  }
  HandleRequest(*request);
}

// Asks `auth` about the request's token. False: the client has been answered (401; 403 for a
// wrong token when `forbid_wrong_token`; 500 when the authenticator failed).
bool Session::Authenticate(const Authenticator& auth, const RequestHead& request,
                           bool forbid_wrong_token) {
  const std::string token = RequestToken(request);
  absl::StatusOr<Tenant> tenant = auth.Authenticate({token, remote_ip_});
  if (tenant.ok()) {
    tenant_ = *std::move(tenant);
    return true;
  }
  const bool refused = absl::IsUnauthenticated(tenant.status());
  PWGRID_LOG(shared_->options.logger, refused ? LogLevel::kWarn : LogLevel::kError,
             absl::StrCat("Connection from ", remote_, " rejected. ",
                          refused ? "Not authorized" : "Authenticator failed: ",
                          refused ? "" : tenant.status().ToString()));
  if (!refused) {
    Answer(BrowserServerErrorAnswer());
  } else if (forbid_wrong_token && !token.empty()) {
    Answer(ForbiddenAnswer("Forbidden"));
  } else {
    Answer(UnauthorizedAnswer());
  }
  return false;
}

void Session::HandleRequest(const RequestHead& request) {
  if (admission_ != Admission::kServe) {
    PWGRID_LOG(shared_->options.logger, LogLevel::kWarn,
               absl::StrCat("Connection from ", remote_, " rejected. Too many connections"));
    Answer(TooManyConnectionsAnswer());
    return;
  }
  Route route = RouteRequest(request, shared_->options.default_browser, shared_->active.load());
  if (!route.answer) {
    HandleUpgrade(request, std::move(route));
    return;
  }
  if (route.admin_only && shared_->options.admin_authenticator != nullptr &&
      !Authenticate(*shared_->options.admin_authenticator, request)) {
    return;
  }
  if (route.action) {
    const Authenticator* auth = shared_->options.actions_authenticator;
    if (auth == nullptr) {
      PWGRID_LOG(shared_->options.logger, LogLevel::kWarn,
                 absl::StrCat("Admin action from ", remote_,
                              " refused: no admin token is configured (ADMIN_TOKENS)"));
      Answer(ForbiddenAnswer("Admin actions are disabled: no admin token is configured"));
      return;
    }
    if (!Authenticate(*auth, request, /*forbid_wrong_token=*/true)) return;
  }
  if (route.endpoint == Endpoint::kNone) {
    Answer(*route.answer);
    return;
  }
  AnswerOperator(route);
}

// An upgrade: a worker is selected for it unless the relay is draining or no worker serves its
// browser type at all.
void Session::HandleUpgrade(const RequestHead& request, Route route) {
  if (shared_->stopping.load()) {
    PWGRID_LOG(shared_->options.logger, LogLevel::kWarn,
               absl::StrCat("Connection from ", remote_, " rejected. The server is shutting down"));
    Answer(ShuttingDownAnswer());
    return;
  }
  if (const Authenticator* auth = shared_->options.authenticator) {
    if (!Authenticate(*auth, request)) return;
  }
  request_at_ = std::chrono::steady_clock::now();
  const bool route_versions = shared_->options.version_policy == VersionPolicy::kRoute;
  forward_headers_ = ForwardedHeaders(request.headers, /*drop_version=*/!route_versions);
  info_.user_agent = std::string(request.Header("User-Agent"));
  info_.client = remote_;
  info_.tenant = tenant_.name;
  info_.browser = route.browser;
  info_.client_version = route.playwright_version;
  request_ =
      SelectRequest{route.browser, shared_->options.clock->Now() + shared_->options.select_timeout,
                    route_versions ? std::move(route.playwright_version) : std::string(),
                    tenant_.name, tenant_.max_sessions};
  if (!Unserved(*shared_->monitor->view())) {
    Acquire();
    return;
  }
  // The last read of the registry has no worker of this type (or version): read it again before
  // answering (a worker may have registered since), on the monitor's thread.
  state_ = State::kWaitingForWorker;
  auto self = shared_from_this();
  const uint64_t attempt = ++acquire_attempt_;
  shared_->monitor->RefreshThen([self, attempt](std::shared_ptr<const GridView> view) {
    asio::post(self->client_.get_executor(), [self, attempt, view] {
      if (self->state_ != State::kWaitingForWorker || attempt != self->acquire_attempt_) return;
      std::optional<std::pair<HttpAnswer, std::string>> unserved = self->Unserved(*view);
      if (!unserved) {
        self->Acquire();
        return;
      }
      PWGRID_LOG(self->shared_->options.logger, LogLevel::kWarn,
                 absl::StrCat("Connection from ", self->remote_, " rejected. ", unserved->second));
      self->Answer(unserved->first);
    });
  });
}

std::optional<std::pair<HttpAnswer, std::string>> Session::Unserved(const GridView& view) const {
  if (std::optional<std::string> m = UnservedBrowserMessage(view, request_.browser)) {
    return std::make_pair(BrowserNotServedAnswer(*m), *m);
  }
  std::optional<UnservedVersion> v =
      UnservedVersionOf(view, request_.browser, request_.client_version);
  if (!v) return std::nullopt;
  return std::make_pair(
      VersionNotServedAnswer(v->message, request_.client_version, v->grid_versions), v->message);
}

// The operator endpoints answered from the relay's state (operator_api.h).
void Session::AnswerOperator(const Route& route) {
  HttpAnswer answer = *route.answer;
  const bool keep_alive = answer.keep_alive;
  switch (route.endpoint) {
    case Endpoint::kMetrics:
      if (route.prometheus) {
        shared_->SyncByteCounters();
        answer.content_type = "text/plain; version=0.0.4; charset=utf-8";
        answer.body = shared_->MetricsText();
      }
      break;
    case Endpoint::kReadiness: answer = ReadinessAnswer(*shared_, keep_alive); break;
    case Endpoint::kStatus: answer.body = StatusJson(*shared_); break;
    case Endpoint::kStatusPage: answer.body = std::string(StatusPageHtml()); break;
    case Endpoint::kCloseSession: {
      std::shared_ptr<Session> target;
      {
        absl::MutexLock lock(&shared_->mu);
        auto it = shared_->relayed.find(route.id);
        if (it != shared_->relayed.end()) target = it->second.lock();
      }
      if (target == nullptr) {
        answer =
            ErrorAnswer(404, absl::StrCat("No session ", route.id, " on this proxy"), keep_alive);
        break;
      }
      PWGRID_LOG(shared_->options.logger, LogLevel::kInfo,
                 absl::StrCat("Closing session ", route.id, " at the request of ", remote_),
                 {{"sessionId", route.id}, {"admin", tenant_.name}});
      asio::post(target->executor(), [target] { target->CloseByOperator(); });
      answer.body =
          absl::StrCat("{\"session\":\"", GoJsonEscape(route.id), "\",\"closing\":true}\n");
      break;
    }
    case Endpoint::kDrainWorker: {
      if (shared_->options.registry == nullptr) {
        answer = ErrorAnswer(503, "This relay has no worker registry", keep_alive);
        break;
      }
      state_ = State::kAnswering;
      auto self = shared_from_this();
      const std::string admin = tenant_.name;
      shared_->monitor->Post([self, id = route.id, answer, admin](WorkerRegistry& r) mutable {
        absl::StatusOr<bool> requested = r.RequestShutdown(id);
        if (requested.ok()) {
          PWGRID_LOG(self->shared_->options.logger, LogLevel::kInfo,
                     absl::StrCat("Draining worker ", id, " at the request of ", self->remote_),
                     {{"workerId", id}, {"admin", admin}});
          answer.body = absl::StrCat(
              "{\"worker\":\"", GoJsonEscape(id),
              "\",\"draining\":true,\"alreadyRequested\":", *requested ? "false" : "true", "}\n");
        } else if (absl::IsNotFound(requested.status())) {
          answer = ErrorAnswer(404, absl::StrCat("No worker ", id), answer.keep_alive);
        } else {
          answer = ErrorAnswer(503, std::string(requested.status().message()), answer.keep_alive);
        }
        asio::post(self->client_.get_executor(), [self, answer] {
          if (self->state_ == State::kAnswering) self->Answer(answer);
        });
      });
      return;
    }
    case Endpoint::kNone: break;
  }
  Answer(answer);
}

void Session::Answer(const HttpAnswer& answer) {
  state_ = State::kAnswering;
  if (answer.rejection) {
    shared_->rejected.fetch_add(1, std::memory_order_relaxed);
    shared_->metrics->Rejected(answer.status, answer.reason);
    PWGRID_LOG(
        shared_->options.logger, LogLevel::kInfo,
        absl::StrCat("Request from ", remote_, " answered ", answer.status, ": ", answer.reason),
        {{"status", absl::StrCat(answer.status)}, {"reason", answer.reason}, {"client", remote_}});
  }
  out_ = answer.Serialize();
  auto self = shared_from_this();
  const bool keep_alive = answer.keep_alive;
  asio::async_write(client_, asio::buffer(out_),
                    [self, keep_alive](const asio::error_code& ec, size_t) {
                      if (self->state_ == State::kFinished) return;
                      if (!ec && keep_alive && !self->shared_->stopping.load()) {
                        self->ReadRequest();
                      } else {
                        self->CloseGracefully();
                      }
                    });
}

void Session::CloseGracefully() {
  asio::error_code ignored;
  client_.shutdown(tcp::socket::shutdown_send, ignored);
  client_.close(ignored);
  Finish();
}

// ---- selection ----------------------------------------------------------------------------
// Asks for a worker for request_ (again after a dial failure, with the same deadline): at once
// on this thread when the registry is in-process, then on this thread's loop when the registry
// can reserve there (Redis), else through the selector's thread. After a dial failure the loop
// is skipped: the failed worker's unreachable mark and rollback are queued on the selector's
// thread, and a selection sent on this thread's own connection could overtake them and pick
// the dead worker again.
void Session::Acquire() {
  if (std::optional<Lease> now = shared_->selector->TryAcquire(request_)) {
    OnLease(*std::move(now), /*queued=*/false);  // no thread hop when the registry is in-process
    return;
  }
  if (home_->acquirer != nullptr && dial_failures_ == 0 && TryLoopAcquire()) return;
  AcquireFromSelector();
}

// The selection script goes out on this I/O thread's own Redis connection and its answer comes
// back on this thread: no other thread runs. No slot at once (or no answer within the
// reserver's timeout) goes on to the selector, which queues the client.
bool Session::TryLoopAcquire() {
  auto self = shared_from_this();
  const uint64_t attempt = ++acquire_attempt_;
  const bool sent =
      home_->acquirer->TryAcquire(request_, [self, attempt](std::optional<Lease> lease) mutable {
        auto held = std::make_shared<std::optional<Lease>>(std::move(lease));
        // Posted (to this same thread, which costs no wake-up): the answer never runs inside the
        // Redis connection's callback, which a fallback may use again.
        asio::post(self->client_.get_executor(), [self, attempt, held] {
          // Answered already (the client left, Stop(), the timeout): a late lease releases itself.
          if (!self->LoopAcquiring(attempt)) return;
          if (held->has_value()) {
            self->OnLease(std::move(**held), /*queued=*/true);
          } else {
            self->AcquireFromSelector();
          }
        });
      });
  if (!sent) return false;
  state_ = State::kWaitingForWorker;
  loop_attempt_ = attempt;
  ArmTimer(home_->acquirer->timeout(), [self, attempt] {
    if (!self->LoopAcquiring(attempt)) return;
    self->home_->acquirer->Abandon();
    self->AcquireFromSelector();
  });
  WatchWhileWaiting();
  return true;
}

void Session::AcquireFromSelector() {
  auto self = shared_from_this();
  state_ = State::kWaitingForWorker;
  const uint64_t attempt = ++acquire_attempt_;
  ticket_ = shared_->selector->Acquire(request_, [self, attempt](absl::StatusOr<Lease> r) mutable {
    auto result = std::make_shared<absl::StatusOr<Lease>>(std::move(r));
    asio::post(self->client_.get_executor(), [self, attempt, result] {
      // Answered already (the deadline backstop, the client left): a late lease releases itself.
      if (self->state_ != State::kWaitingForWorker || attempt != self->acquire_attempt_) return;
      self->OnLease(std::move(*result), /*queued=*/true);
    });
  });
  // The client's deadline holds even when the selector cannot answer in time (its thread is
  // waiting on a slow registry): shortly after it, the client gets its 503 from here.
  ArmTimer(request_.deadline - shared_->options.clock->Now() + kSelectorGrace, [self] {
    if (self->state_ != State::kWaitingForWorker) return;
    self->shared_->selector->Cancel(self->ticket_);
    self->OnLease(absl::DeadlineExceededError("the selector did not answer in time"), true);
  });
  WatchWhileWaiting();
}

// The client waits for an answer on this thread's loop (TryLoopAcquire), not for the selector.
bool Session::LoopAcquiring(uint64_t attempt) const {
  return state_ == State::kWaitingForWorker && attempt == acquire_attempt_ &&
         loop_attempt_ == attempt;
}

// The waiting client is gone or the relay stops: a loop answer still on its way is dropped, a
// selector's waiter is cancelled (its callback then gives the answer).
void Session::StopWaiting() {
  if (LoopAcquiring(acquire_attempt_)) {
    ++acquire_attempt_;
    OnLease(absl::CancelledError("acquire cancelled"), /*queued=*/true);
    return;
  }
  shared_->selector->Cancel(ticket_);
}

// A client that leaves while waiting gives its place in the queue up. What it sends meanwhile
// (frames sent before the 101) is kept for the worker, and the watch goes on, so that a client
// that sent something and then left is noticed too.
void Session::WatchWhileWaiting() {
  auto self = shared_from_this();
  client_.async_wait(tcp::socket::wait_read, [self](const asio::error_code& ec) {
    if (ec || self->state_ != State::kWaitingForWorker) return;
    if (!self->ReadEarlyBytes()) {
      self->StopWaiting();
      return;
    }
    self->WatchWhileWaiting();
  });
}

// Reads what the client has sent so far into in_. False when it has left (end of stream or an
// error) or sent more than a request's worth of bytes before being served.
bool Session::ReadEarlyBytes() {
  char buf[4096];
  for (int round = 0; round < 64; ++round) {
    const ssize_t r = ::recv(client_.native_handle(), buf, sizeof(buf), MSG_DONTWAIT);
    if (r > 0) {
      if (in_.size() + static_cast<size_t>(r) > shared_->options.max_request_bytes) return false;
      in_.append(buf, static_cast<size_t>(r));
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  return true;
}

void Session::OnLease(absl::StatusOr<Lease> result, bool queued) {
  if (!result.ok()) {
    std::optional<SelectionFailure> failure = AnswerSelectionFailure(
        result.status(), shared_->stopping.load(), shared_->options.select_timeout, remote_);
    if (!failure) {
      Finish();  // the client left
      return;
    }
    PWGRID_LOG(shared_->options.logger, failure->level, std::move(failure->log_message));
    Answer(failure->answer);
    return;
  }
  lease_ = std::move(*result);
  state_ = State::kDialing;
  if (!leased_) {
    leased_ = true;
    leased_at_ = std::chrono::steady_clock::now();
  }
  // A queued client may have left just now, before its watch saw it: no worker session for it.
  if (!client_.is_open() || (queued && !ReadEarlyBytes())) {
    lease_.Release();
    Finish();
    return;
  }
  Dial();
}

// Closes both sockets and releases the lease. Idempotent.
void Session::Finish() {
  if (state_ == State::kFinished) return;
  const bool established = state_ == State::kRelaying || state_ == State::kClosing;
  state_ = State::kFinished;
  asio::error_code ignored;
  timer_.cancel();
  linger_.cancel();
  limits_.cancel();
  client_.close(ignored);
  worker_.close(ignored);
  home_->GiveBuffer(std::move(up_.buf));
  home_->GiveBuffer(std::move(down_.buf));
  up_.pipe.Close();  // may hold bytes: never back to the pool
  down_.pipe.Close();
  if (established) {
    shared_->active.fetch_sub(1, std::memory_order_relaxed);
    {
      absl::MutexLock lock(&shared_->mu);
      shared_->relayed.erase(info_.id);
    }
    if (closed_by_ == nullptr) NoteClose(shared_->stopping.load() ? "shutdown" : "relay", 1006);
    LogSessionEnd();
    PWGRID_LOG(
        shared_->options.logger, LogLevel::kDebug,
        absl::StrCat("Proxy connection closed (", remote_, " <-> ", lease_.worker().endpoint, ")"));
  }
  lease_.Release();
}

void Session::NoteClose(const char* closer, int code) {
  if (closed_by_ != nullptr) return;
  closed_by_ = closer;
  close_code_ = code;
}

// The fields both session lines carry, so that the end line can be read without the start.
std::vector<std::pair<std::string, std::string>> Session::SessionLogFields() const {
  return {{"sessionId", info_.id},
          {"client", remote_},
          {"browser", std::string(ToString(info_.browser))},
          {"workerId", info_.worker_id},
          {"clientVersion", info_.client_version},
          {"workerVersion", info_.worker_version},
          {"queueWaitMs", absl::StrFormat("%.1f", absl::ToDoubleMilliseconds(info_.queue_wait))}};
}

void Session::LogSessionStart() {
  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  const double connect_s = duration_cast<microseconds>(relaying_since_ - request_at_).count() / 1e6;
  shared_->metrics->SessionStarted(info_.browser, connect_s,
                                   absl::ToDoubleSeconds(info_.queue_wait));
  std::vector<std::pair<std::string, std::string>> fields = SessionLogFields();
  fields.emplace_back("connectMs", absl::StrFormat("%.1f", connect_s * 1e3));
  PWGRID_LOG(shared_->options.logger, LogLevel::kInfo,
             absl::StrCat("New connection from ", remote_), std::move(fields));
}

void Session::LogSessionEnd() {
  if (close_code_ == -1) {  // a close frame: its code, once it had fully arrived
    const FrameTracker& t = std::string_view(closed_by_) == "client" ? up_frames_ : down_frames_;
    close_code_ = t.close_code() == -1 ? 1006 : t.close_code();
  }
  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  const double duration_s =
      duration_cast<microseconds>(std::chrono::steady_clock::now() - relaying_since_).count() / 1e6;
  shared_->metrics->SessionEnded(info_.browser, duration_s);
  std::vector<std::pair<std::string, std::string>> fields = SessionLogFields();
  fields.insert(fields.end(), {{"durationMs", absl::StrFormat("%.1f", duration_s * 1e3)},
                               {"bytesToWorker", absl::StrCat(bytes_to_worker())},
                               {"bytesToClient", absl::StrCat(bytes_to_client())},
                               {"closedBy", closed_by_},
                               {"closeCode", absl::StrCat(close_code_)}});
  PWGRID_LOG(shared_->options.logger, LogLevel::kInfo,
             absl::StrCat("Session of ", remote_, " ended: closed by ", closed_by_, " (",
                          close_code_, ")"),
             std::move(fields));
}

}  // namespace pwgrid::internal
