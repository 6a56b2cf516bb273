// Relay::Impl: accept loop, HTTP surface, worker selection, handshake forwarding and the byte
// relay. C++17 island: the only place besides lib/testing/net that includes Asio.
//
// Threads: each I/O thread runs its own io_context (concurrency hint 1) and accepts on its own
// handle of the listening socket, so a connection is served by the thread that accepted it, and
// a session's sockets, timers and handlers stay on that thread for its whole life: no strands, no
// locks and no cross-thread wake-ups on the data path. Only the answer of a selector that had to
// queue the client (TryAcquire() found no slot at once) and Stop() are posted in from other
// threads.
//
// Byte relay (as nginx does it): after the worker's 101 each direction is a Pipe that waits for
// readiness, then reads and writes with non-blocking calls until the source is drained
// (EAGAIN), a bounded number of rounds per wake-up. A pipe borrows a buffer from its thread's
// pool only while bytes are in flight, so an idle session holds no buffer at all. A pipe whose
// destination is full keeps its buffer and stops reading its source (backpressure). Frame
// headers are parsed only in the worker-to-client direction, to know when a 1011 close frame can
// be injected if the worker dies.
#include "pwgrid/relay.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio.hpp>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>
#include <websocketpp/http/request.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/json_util.h"
#include "lib/log_util.h"
#include "lib/net/http_util.h"
#include "lib/status_util.h"

namespace pwgrid {

using asio::ip::tcp;

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
  if (io_threads < 1 || io_threads > 256) return absl::InvalidArgumentError("io_threads must be in 1..256");
  if (select_timeout <= absl::ZeroDuration()) return absl::InvalidArgumentError("select_timeout must be positive");
  if (dial_timeout <= absl::ZeroDuration()) return absl::InvalidArgumentError("dial_timeout must be positive");
  if (request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("request_timeout must be positive");
  }
  if (buffer_bytes < 4096 || buffer_bytes > (16u << 20)) {
    return absl::InvalidArgumentError("buffer_bytes must be in 4 KiB..16 MiB");
  }
  if (max_request_bytes < 1024 || max_request_bytes > (1u << 20)) {
    return absl::InvalidArgumentError("max_request_bytes must be in 1 KiB..1 MiB");
  }
  if (logger == nullptr) return absl::InvalidArgumentError("RelayOptions.logger is null");
  asio::error_code ec;
  asio::ip::make_address(listen_address, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("bad listen address: ", listen_address));
  return absl::OkStatus();
}

namespace {

constexpr char kJsonContentType[] = "text/plain; charset=utf-8";  // what Go sniffs for JSON text
constexpr char kBody503[] = "{\"error\":{\"code\":503,\"message\":\"No available servers\"}}\n";
// pwgrid: the registry (Redis) cannot be reached; upstream answers 500 at once (defect I7).
constexpr char kBody503Registry[] =
    "{\"error\":{\"code\":503,\"message\":\"Worker registry unavailable\"}}\n";
constexpr char kBody500Internal[] =
    "{\"error\":{\"code\":500,\"message\":\"An internal error occurred\"}}\n";
constexpr char kBody500Browser[] = "{\"error\":{\"code\":500,\"message\":\"Browser server error\"}}\n";
constexpr char kBody429[] = "{\"error\":{\"code\":429,\"message\":\"Too many waiting clients\"}}\n";
constexpr char kBody426[] = "{\"message\":\"This endpoint is for WebSocket connections only.\"}\n";

class Session;

// Sockets are created close-on-exec and non-blocking in one step (Asio's open() and accept() set
// neither), so no descriptor of the relay leaks into a browser launched later by any thread.
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

// One I/O thread: its io_context, its pool of free relay buffers and its byte counters. Only the
// thread itself touches the pool; the counters are read by Relay::stats().
struct FreeBuffer {
  void operator()(char* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<char, FreeBuffer>;

struct IoThread {
  explicit IoThread(size_t buffer_bytes) : buffer_bytes(buffer_bytes) {}

  // Page-aligned: the kernel copies to and from aligned memory measurably faster.
  Buffer TakeBuffer() {
    if (free_buffers.empty()) {
      Buffer b(static_cast<char*>(std::aligned_alloc(4096, (buffer_bytes + 4095) / 4096 * 4096)));
      if (!b) throw std::bad_alloc();
      return b;
    }
    Buffer b = std::move(free_buffers.back());
    free_buffers.pop_back();
    return b;
  }
  void GiveBuffer(Buffer b) {
    if (b && free_buffers.size() < kMaxFreeBuffers) free_buffers.push_back(std::move(b));
  }

  static constexpr size_t kMaxFreeBuffers = 256;
  const size_t buffer_bytes;
  std::vector<Buffer> free_buffers;
  alignas(64) std::atomic<int64_t> bytes_to_workers{0};
  std::atomic<int64_t> bytes_to_clients{0};
  // After the pool: destroying the io_context destroys the handlers it still holds, and with
  // them sessions, which free their buffers themselves.
  asio::io_context io{1};
  // This thread's handle on the listening socket (thread 0: the socket itself; the others: a
  // dup of it), so that a connection is accepted by the thread that will serve it.
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> accept_retry;
  std::thread thread;
};

// State shared by the Relay and its sessions; sessions keep it alive while they finish.
struct Shared {
  RelayOptions options;
  Selector* selector = nullptr;
  std::atomic<bool> stopping{false};
  std::atomic<int64_t> active{0};
  std::atomic<int64_t> total{0};
  std::atomic<int64_t> rejected{0};
  absl::Mutex mu;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions ABSL_GUARDED_BY(mu);

  void Log(LogLevel level, std::string message,
           std::vector<std::pair<std::string, std::string>> fields = {}) {
    internal::Log(options.logger, level, std::move(message), std::move(fields));
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<Shared> shared, IoThread* home, tcp::socket socket)
      : shared_(std::move(shared)),
        home_(home),
        client_(std::move(socket)),
        worker_(client_.get_executor()),
        timer_(client_.get_executor()),
        linger_(client_.get_executor()) {}

  ~Session() {
    absl::MutexLock lock(&shared_->mu);
    shared_->sessions.erase(this);
  }

  // `peer`: the client's address as accept() reported it.
  void Start(const tcp::endpoint& peer) {
    asio::error_code ignored;
    client_.set_option(tcp::no_delay(true), ignored);
    // accept4() made it non-blocking already; this tells Asio, which then needs no FIONBIO of
    // its own later.
    client_.non_blocking(true, ignored);
    remote_ip_ = peer.address().to_string();
    remote_ = absl::StrCat(remote_ip_, ":", peer.port());
    ReadRequest();
  }

  // Called from Relay::Stop, posted to the session's thread.
  void CancelWaiting() {
    if (waiting_) shared_->selector->Cancel(ticket_);
  }
  void ForceClose() { Finish(); }
  asio::any_io_executor executor() { return client_.get_executor(); }

 private:
  // ---- HTTP phase -------------------------------------------------------------------------
  void ReadRequest() {
    auto self = shared_from_this();
    ArmTimer(shared_->options.request_timeout, [self] {
      asio::error_code ignored;
      self->client_.close(ignored);
    });
    asio::async_read_until(
        client_, asio::dynamic_buffer(in_, shared_->options.max_request_bytes), "\r\n\r\n",
        [self](const asio::error_code& ec, size_t n) { self->OnRequest(ec, n); });
  }

  void OnRequest(const asio::error_code& ec, size_t n) {
    timer_.cancel();
    if (ec == asio::error::not_found) {  // headers larger than max_request_bytes
      Respond(431, kJsonContentType, "431 Request Header Fields Too Large\n", {}, false);
      return;
    }
    if (ec) {
      Finish();
      return;
    }
    websocketpp::http::parser::request req;
    try {
      req.consume(in_.data(), n);
    } catch (...) {
      in_.erase(0, n);
      Respond(400, kJsonContentType, "400 Bad Request\n", {}, false);
      return;
    }
    in_.erase(0, n);
    if (!IsClean(req)) {
      Respond(400, kJsonContentType, "400 Bad Request\n", {}, false);
      return;
    }
    HandleRequest(req);
  }

  static bool IsClean(const websocketpp::http::parser::request& req) {
    if (!internal::IsCleanTarget(req.get_uri())) return false;
    for (const auto& [name, value] : req.get_headers()) {
      if (!internal::IsCleanHeader(name, value)) return false;
    }
    return true;
  }

  void HandleRequest(const websocketpp::http::parser::request& req) {
    const auto [path, query] = internal::SplitTarget(req.get_uri());
    const bool keep_alive = req.ready() && req.get_version() == "HTTP/1.1" &&
                            !internal::TokenListContains(req.get_header("Connection"), "close");
    if (path == "/metrics") {
      Respond(200, kJsonContentType,
              absl::StrCat("{\"activeConnections\":", shared_->active.load(), "}\n"), {}, keep_alive);
      return;
    }
    if (path == "/favicon.ico") {
      Respond(204, "", "", {}, keep_alive);
      return;
    }
    if (path != "/") {
      Respond(404, "text/plain; charset=utf-8", "404 page not found\n",
              {"X-Content-Type-Options: nosniff"}, keep_alive);
      return;
    }
    BrowserType browser = shared_->options.default_browser;
    if (std::optional<std::string> q = internal::QueryValue(query, "browser"); q && !q->empty()) {
      absl::StatusOr<BrowserType> parsed = ParseBrowserType(*q);
      if (!parsed.ok()) {
        Reject(400, absl::StrCat("{\"error\":{\"code\":400,\"message\":\"Unknown browser type: ",
                                 internal::GoJsonEscape(*q),
                                 " - allowed: chromium, firefox, webkit\"}}\n"),
               {}, keep_alive);
        return;
      }
      browser = *parsed;
    }
    if (!internal::TokenListContains(req.get_header("Connection"), "upgrade") ||
        !internal::TokenListContains(req.get_header("Upgrade"), "websocket")) {
      Reject(426, kBody426, {}, keep_alive);
      return;
    }
    // Handshake checks that upstream ran only after reserving and dialling a worker (so a bad
    // handshake pinned a worker); same answers, but before selection.
    if (req.get_method() != "GET") {
      Reject(405, "Method Not Allowed\n", {"Sec-Websocket-Version: 13"}, false);
      return;
    }
    if (!internal::TokenListContains(req.get_header("Sec-WebSocket-Version"), "13") ||
        !internal::IsValidWebSocketKey(req.get_header("Sec-WebSocket-Key"))) {
      Reject(400, "Bad Request\n", {"Sec-Websocket-Version: 13"}, false);
      return;
    }
    forward_headers_.clear();
    for (const auto& [name, value] : req.get_headers()) {
      if (!internal::IsDroppedRequestHeader(absl::AsciiStrToLower(name))) {
        forward_headers_.emplace_back(name, value);
      }
    }
    request_ = SelectRequest{browser, absl::Now() + shared_->options.select_timeout,
                             internal::PlaywrightVersionFromUserAgent(req.get_header("User-Agent"))};
    Acquire();
  }

  void Reject(int status, std::string body, std::vector<std::string> headers, bool keep_alive) {
    shared_->rejected.fetch_add(1, std::memory_order_relaxed);
    Respond(status, kJsonContentType, std::move(body), std::move(headers), keep_alive);
  }

  void Respond(int status, std::string_view content_type, std::string body,
               std::vector<std::string> headers, bool keep_alive) {
    out_ = internal::BuildResponse(status, content_type, body, headers, keep_alive);
    auto self = shared_from_this();
    asio::async_write(client_, asio::buffer(out_), [self, keep_alive](const asio::error_code& ec, size_t) {
      if (!ec && keep_alive && !self->shared_->stopping.load()) {
        self->ReadRequest();
      } else {
        self->CloseGracefully();
      }
    });
  }

  void CloseGracefully() {
    asio::error_code ignored;
    client_.shutdown(tcp::socket::shutdown_send, ignored);
    client_.close(ignored);
    Finish();
  }

  // ---- selection --------------------------------------------------------------------------
  // Asks for a worker for request_ (again after a dial failure, with the same deadline).
  void Acquire() {
    if (std::optional<Lease> now = shared_->selector->TryAcquire(request_)) {
      OnLease(*std::move(now));  // no thread hop when the registry is in this process
      return;
    }
    auto self = shared_from_this();
    waiting_ = true;
    ticket_ = shared_->selector->Acquire(request_, [self](absl::StatusOr<Lease> r) mutable {
      auto result = std::make_shared<absl::StatusOr<Lease>>(std::move(r));
      asio::post(self->client_.get_executor(), [self, result] {
        if (self->gave_up_waiting_) return;  // answered already; a late lease releases itself
        self->OnLease(std::move(*result));
      });
    });
    // The client's deadline holds even when the selector cannot answer in time (its thread is
    // waiting on a slow registry): shortly after it, the client gets its 503 from here.
    ArmTimer(request_.deadline - absl::Now() + absl::Milliseconds(50), [self] {
      if (!self->waiting_) return;
      self->gave_up_waiting_ = true;
      self->shared_->selector->Cancel(self->ticket_);
      self->OnLease(absl::DeadlineExceededError("the selector did not answer in time"));
    });
    WatchWhileWaiting();
  }

  // A client that leaves while waiting gives its place in the queue up. What it sends meanwhile
  // (frames sent before the 101) is kept for the worker, and the watch goes on, so that a client
  // that sent something and then left is noticed too.
  void WatchWhileWaiting() {
    auto self = shared_from_this();
    client_.async_wait(tcp::socket::wait_read, [self](const asio::error_code& ec) {
      if (ec || !self->waiting_) return;
      if (!self->ReadEarlyBytes()) {
        self->shared_->selector->Cancel(self->ticket_);
        return;
      }
      self->WatchWhileWaiting();
    });
  }

  // Reads what the client has sent so far into in_. False when it has left (end of stream or
  // an error) or sent more than a request's worth of bytes before being served.
  bool ReadEarlyBytes() {
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

  void OnLease(absl::StatusOr<Lease> result) {
    const bool was_waiting = std::exchange(waiting_, false);
    if (!result.ok()) {
      const absl::Status& s = result.status();
      if (absl::IsDeadlineExceeded(s) || absl::IsFailedPrecondition(s) ||
          (absl::IsCancelled(s) && shared_->stopping.load())) {
        shared_->Log(LogLevel::kError,
                     absl::StrCat("Connection from ", remote_, " rejected. No workers available after ",
                                  absl::FormatDuration(shared_->options.select_timeout),
                                  " timeout: no available workers"));
        Reject(503, kBody503, {"Retry-After: 1"}, false);
      } else if (absl::IsCancelled(s)) {
        Finish();  // the client left
      } else if (absl::IsUnavailable(s)) {
        shared_->Log(LogLevel::kError,
                     absl::StrCat("Connection from ", remote_,
                                  " rejected. Worker registry unavailable: ", s.message()));
        Reject(503, kBody503Registry, {"Retry-After: 1"}, false);
      } else if (absl::IsResourceExhausted(s)) {
        shared_->Log(LogLevel::kWarn,
                     absl::StrCat("Connection from ", remote_, " rejected. ", s.message()));
        Reject(429, kBody429, {"Retry-After: 1"}, false);
      } else {
        shared_->Log(LogLevel::kError,
                     absl::StrCat("Connection from ", remote_,
                                  " rejected. An unexpected error occurred while selecting a worker: ",
                                  s.ToString()));
        Reject(500, kBody500Internal, {}, false);
      }
      return;
    }
    lease_ = std::move(*result);
    // A queued client may have left just now, before its watch saw it: no worker session for it.
    if (!client_.is_open() || (was_waiting && !ReadEarlyBytes())) {
      lease_.Release();
      Finish();
      return;
    }
    Dial();
  }

  // ---- worker handshake -------------------------------------------------------------------
  void Dial() {
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
      ConnectTo({tcp::endpoint(addr, endpoint_.port)});
      return;
    }
    auto resolver = std::make_shared<tcp::resolver>(client_.get_executor());
    resolver->async_resolve(
        endpoint_.host, std::to_string(endpoint_.port),
        [self, resolver](const asio::error_code& e, tcp::resolver::results_type results) {
          if (e || self->dial_timed_out_) {
            self->FailDial(e ? e.message() : "timed out");
            return;
          }
          std::vector<tcp::endpoint> candidates;
          for (const auto& r : results) candidates.push_back(r.endpoint());
          self->ConnectTo(std::move(candidates));
        });
  }

  // Tries `candidates` in order (a host name may resolve to several addresses), each on a
  // socket of our own (see OpenSocket).
  void ConnectTo(std::vector<tcp::endpoint> candidates) {
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
    worker_.async_connect(to, [self, rest = std::move(candidates)](const asio::error_code& e) mutable {
      if (e && !rest.empty() && !self->dial_timed_out_) {
        self->ConnectTo(std::move(rest));
      } else {
        self->OnWorkerConnected(e);
      }
    });
  }

  void OnWorkerConnected(const asio::error_code& ec) {
    if (ec) {
      FailDial(dial_timed_out_ ? "timed out" : ec.message());
      return;
    }
    const bool v6 = endpoint_.host.find(':') != std::string::npos;
    std::string host = v6 ? absl::StrCat("[", endpoint_.host, "]") : endpoint_.host;
    out_ = absl::StrCat("GET ", endpoint_.path, " HTTP/1.1\r\nHost: ", host, ":", endpoint_.port,
                        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
    for (const auto& [name, value] : forward_headers_) absl::StrAppend(&out_, name, ": ", value, "\r\n");
    if (!remote_ip_.empty()) absl::StrAppend(&out_, "X-Forwarded-For: ", remote_ip_, "\r\n");
    out_ += "\r\n";
    auto self = shared_from_this();
    asio::async_write(worker_, asio::buffer(out_), [self](const asio::error_code& e, size_t) {
      if (e) {
        self->FailDial(self->dial_timed_out_ ? "timed out" : e.message());
        return;
      }
      asio::async_read_until(
          self->worker_, asio::dynamic_buffer(self->worker_head_, 64 * 1024), "\r\n\r\n",
          [self](const asio::error_code& e2, size_t n) { self->OnWorkerResponse(e2, n); });
    });
  }

  // The chosen worker could not be reached. It is taken out of selection (grid-wide, until it
  // heartbeats again) and the client is given another worker within its deadline; after
  // kMaxDialAttempts failures it gets upstream's 500.
  void FailDial(const std::string& why) {
    timer_.cancel();
    const std::string worker_id = lease_.worker().id;
    lease_.ReleaseWorkerUnreachable();  // never committed: both counters are rolled back
    asio::error_code ignored;
    worker_.close(ignored);
    worker_head_.clear();
    dial_timed_out_ = false;
    if (++dial_failures_ < kMaxDialAttempts && absl::Now() < request_.deadline &&
        !shared_->stopping.load()) {
      shared_->Log(LogLevel::kWarn,
                   absl::StrCat("Failed to connect to browser server for ", remote_, ": ", why,
                                "; trying another worker"),
                   {{"workerId", worker_id}});
      Acquire();
      return;
    }
    shared_->Log(LogLevel::kError,
                 absl::StrCat("Connection from ", remote_,
                              " rejected. Failed to connect to browser server: ", why),
                 {{"workerId", worker_id}});
    Reject(500, kBody500Browser, {}, false);
  }

  static constexpr int kMaxDialAttempts = 3;

  void OnWorkerResponse(const asio::error_code& ec, size_t n) {
    if (ec) {
      FailDial(dial_timed_out_ ? "timed out waiting for the handshake answer" : ec.message());
      return;
    }
    const int status = internal::ResponseStatus(std::string_view(worker_head_).substr(0, n));
    if (status != 101) {
      timer_.cancel();
      shared_->Log(LogLevel::kError,
                   absl::StrCat("Connection from ", remote_, " rejected. Browser server answered the handshake with ",
                                status),
                   {{"workerId", lease_.worker().id}});
      lease_.Release();
      shared_->rejected.fetch_add(1, std::memory_order_relaxed);
      ForwardWorkerRefusal(n);
      return;
    }
    timer_.cancel();
    lease_.Commit();
    established_ = true;
    shared_->active.fetch_add(1, std::memory_order_relaxed);
    shared_->total.fetch_add(1, std::memory_order_relaxed);
    shared_->Log(LogLevel::kInfo, absl::StrCat("New connection from ", remote_),
                 {{"workerId", lease_.worker().id}});
    shared_->Log(LogLevel::kDebug, absl::StrCat("Proxy connection established (", remote_, " <-> ",
                                                lease_.worker().endpoint, ")"));
    // Bytes after the head are the worker's first frames.
    down_frames_.Consume(reinterpret_cast<const unsigned char*>(worker_head_.data()) + n,
                         worker_head_.size() - n);
    home_->bytes_to_clients.fetch_add(static_cast<int64_t>(worker_head_.size() - n),
                                      std::memory_order_relaxed);
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
        asio::async_write(self->worker_, asio::buffer(self->in_), [self](const asio::error_code& e2, size_t) {
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

  // Passes a worker's non-101 answer (e.g. Playwright's 428 for a version mismatch) to the client
  // as it is, body included: read to its end as its head delimits it (Content-Length, chunked,
  // or until the worker closes, as Playwright's answer is), within kMaxRefusalBytes and the
  // dial timeout; what arrived by then is passed on.
  void ForwardWorkerRefusal(size_t head_len) {
    const internal::BodyFraming framing =
        internal::ResponseBodyFraming(std::string_view(worker_head_).substr(0, head_len));
    auto self = shared_from_this();
    ArmTimer(shared_->options.dial_timeout, [self] {
      asio::error_code ignored;
      self->worker_.cancel(ignored);
    });
    ReadRefusal(head_len, framing);
  }

  void ReadRefusal(size_t head_len, internal::BodyFraming framing) {
    using Kind = internal::BodyFraming::Kind;
    const std::string_view body = std::string_view(worker_head_).substr(head_len);
    const bool complete = framing.kind == Kind::kNone ||
                          (framing.kind == Kind::kLength && body.size() >= framing.length) ||
                          (framing.kind == Kind::kChunked && internal::ChunkedBodyComplete(body));
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
          self->worker_head_.resize(at + n);
          if (ec) {
            self->SendRefusal();  // closed (the end of a close-delimited body), or timed out
          } else {
            self->ReadRefusal(head_len, framing);
          }
        });
  }

  void SendRefusal() {
    timer_.cancel();
    asio::error_code ignored;
    worker_.close(ignored);
    out_ = std::move(worker_head_);
    auto self = shared_from_this();
    asio::async_write(client_, asio::buffer(out_),
                      [self](const asio::error_code&, size_t) { self->CloseGracefully(); });
  }

  static constexpr size_t kMaxRefusalBytes = 256 * 1024;

  // ---- byte relay -------------------------------------------------------------------------
  // One direction of the relay. `buf` holds bytes [begin, end) not yet written to `to`.
  struct Pipe {
    tcp::socket* from;
    tcp::socket* to;
    bool to_worker;
    Buffer buf;
    size_t begin = 0;
    size_t end = 0;
  };

  // Moves bytes until the source has none (then waits for it to become readable) or the
  // destination is full (then waits for it to become writable). After kRoundsPerWake reads or
  // writes it lets the thread's other sessions run, then goes on.
  void Pump(Pipe& p) {
    static constexpr int kRoundsPerWake = 32;
    for (int round = 0; round < kRoundsPerWake; ++round) {
      if (finished_) return;
      asio::error_code ec;
      if (p.begin < p.end) {
        const size_t n = p.to->write_some(asio::buffer(p.buf.get() + p.begin, p.end - p.begin), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
          Await(p, *p.to, tcp::socket::wait_write);
        } else if (ec) {
          Finish();
        } else {
          p.begin += n;
          continue;
        }
        return;
      }
      if (!p.buf) p.buf = home_->TakeBuffer();
      const size_t n = p.from->read_some(asio::buffer(p.buf.get(), home_->buffer_bytes), ec);
      if (ec) {
        home_->GiveBuffer(std::move(p.buf));
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
          Await(p, *p.from, tcp::socket::wait_read);
        } else if (p.to_worker) {
          UpEnded();
        } else {
          DownEnded();
        }
        return;
      }
      p.begin = 0;
      p.end = n;
      if (p.to_worker) {
        up_frames_.Consume(reinterpret_cast<const unsigned char*>(p.buf.get()), n);
        home_->bytes_to_workers.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
      } else {
        down_frames_.Consume(reinterpret_cast<const unsigned char*>(p.buf.get()), n);
        home_->bytes_to_clients.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
      }
    }
    auto self = shared_from_this();
    asio::post(client_.get_executor(), [self, &p] { self->Pump(p); });
  }

  void Await(Pipe& p, tcp::socket& socket, tcp::socket::wait_type what) {
    auto self = shared_from_this();
    socket.async_wait(what, [self, &p](const asio::error_code& ec) {
      // Other errors show up in the next read or write.
      if (ec != asio::error::operation_aborted) self->Pump(p);
    });
  }

  // The client stopped sending (close handshake done, or it went away): tell the worker.
  void UpEnded() {
    if (finished_) return;
    up_done_ = true;
    if (!up_frames_.close_seen()) {
      shared_->Log(LogLevel::kDebug,
                   absl::StrCat("Client ", remote_, " closed the connection without a close frame"),
                   {{"workerId", lease_.worker().id}});
    }
    asio::error_code ignored;
    worker_.shutdown(tcp::socket::shutdown_send, ignored);
    if (down_done_) {
      Finish();
    } else {
      Linger();
    }
  }

  // The worker stopped sending. If it died without a close frame while the client was still
  // there, the client gets a 1011 close frame (when the stream is at a frame boundary), not a
  // silent TCP close. After the client's own end, the worker's close is only the answer to it.
  void DownEnded() {
    if (finished_) return;
    down_done_ = true;
    auto self = shared_from_this();
    auto after = [self] {
      asio::error_code ignored;
      self->client_.shutdown(tcp::socket::shutdown_send, ignored);
      if (self->up_done_) {
        self->Finish();
      } else {
        self->Linger();
      }
    };
    if (!up_done_ && !down_frames_.close_seen() && down_frames_.at_boundary()) {
      shared_->Log(LogLevel::kWarn, "Browser server closed the connection without a close frame",
                   {{"workerId", lease_.worker().id}});
      out_ = internal::ServerCloseFrame(1011, "browser server closed the connection");
      asio::async_write(client_, asio::buffer(out_), [after](const asio::error_code&, size_t) { after(); });
    } else {
      after();
    }
  }

  // One direction has ended; the other gets a bounded time to finish its close handshake.
  void Linger() {
    auto self = shared_from_this();
    linger_.expires_after(std::chrono::seconds(10));
    linger_.async_wait([self](const asio::error_code& ec) {
      if (!ec) self->Finish();
    });
  }

  // Closes both sockets and releases the lease. Idempotent.
  void Finish() {
    if (finished_) return;
    finished_ = true;
    waiting_ = false;
    asio::error_code ignored;
    timer_.cancel();
    linger_.cancel();
    client_.close(ignored);
    worker_.close(ignored);
    home_->GiveBuffer(std::move(up_.buf));
    home_->GiveBuffer(std::move(down_.buf));
    if (established_) {
      shared_->active.fetch_sub(1, std::memory_order_relaxed);
      shared_->Log(LogLevel::kDebug, absl::StrCat("Proxy connection closed (", remote_, " <-> ",
                                                  lease_.worker().endpoint, ")"));
    }
    lease_.Release();
  }

  template <typename F>
  void ArmTimer(absl::Duration d, F on_expiry) {
    timer_.expires_after(std::chrono::microseconds(absl::ToInt64Microseconds(d)));
    timer_.async_wait([on_expiry](const asio::error_code& ec) {
      if (!ec) on_expiry();
    });
  }

  std::shared_ptr<Shared> shared_;
  IoThread* const home_;  // outlives the session's handlers
  tcp::socket client_;
  tcp::socket worker_;
  asio::steady_timer timer_;
  asio::steady_timer linger_;
  std::string remote_;
  std::string remote_ip_;
  std::string in_;           // client bytes not yet consumed
  std::string out_;          // the response or request being written
  std::string worker_head_;  // the worker's handshake answer
  std::vector<std::pair<std::string, std::string>> forward_headers_;
  WsEndpoint endpoint_;
  Lease lease_;
  uint64_t ticket_ = 0;
  SelectRequest request_;  // what the client asked for, with its deadline
  int dial_failures_ = 0;
  bool waiting_ = false;
  bool gave_up_waiting_ = false;  // the client got its 503 before the selector answered
  bool dial_timed_out_ = false;
  bool established_ = false;
  bool up_done_ = false;
  bool down_done_ = false;
  bool finished_ = false;
  Pipe up_{&client_, &worker_, /*to_worker=*/true, nullptr, 0, 0};
  Pipe down_{&worker_, &client_, /*to_worker=*/false, nullptr, 0, 0};
  internal::FrameTracker down_frames_;
  internal::FrameTracker up_frames_;  // only to tell whether the client sent a close frame
};

}  // namespace

class Relay::Impl {
 public:
  Impl(const RelayOptions& options, Selector* selector) : shared_(std::make_shared<Shared>()) {
    shared_->options = options;
    shared_->selector = selector;
    for (int i = 0; i < options.io_threads; ++i) {
      threads_.push_back(std::make_unique<IoThread>(options.buffer_bytes));
      threads_.back()->acceptor.emplace(threads_.back()->io);
      threads_.back()->accept_retry.emplace(threads_.back()->io);
    }
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
      return absl::UnavailableError(absl::StrCat("cannot listen on ", shared_->options.listen_address,
                                                 ":", shared_->options.port, ": ", ec.message()));
    }
    port_ = listener.local_endpoint(ec).port();
    for (auto& t : threads_) DoAccept(t.get());
    for (auto& t : threads_) {
      work_.push_back(asio::make_work_guard(t->io));
      t->thread = std::thread([io = &t->io] { io->run(); });
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
    shared_->stopping.store(true);
    for (auto& t : threads_) {
      asio::post(t->io, [t = t.get()] {
        asio::error_code ignored;
        t->acceptor->close(ignored);
        t->accept_retry->cancel();
      });
    }
    ForEachSession([](const std::shared_ptr<Session>& s) { s->CancelWaiting(); });
    const absl::Time deadline = absl::Now() + grace;
    while (shared_->active.load() > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
    ForEachSession([](const std::shared_ptr<Session>& s) { s->ForceClose(); });
    work_.clear();
    // Sessions end as their cancelled operations complete; bound the wait all the same.
    const absl::Time hard = absl::Now() + absl::Seconds(5);
    while (SessionCount() > 0 && absl::Now() < hard) absl::SleepFor(absl::Milliseconds(5));
    for (auto& t : threads_) t->io.stop();
    for (auto& t : threads_) t->thread.join();
    absl::MutexLock lock(&mu_);
    state_ = State::kStopped;
  }

 private:
  enum class State { kCreated, kRunning, kStopping, kStopped };

  // Runs on `t`, which serves what it accepts: every thread waits on the listening socket, and
  // whichever is free first takes the connection (no hand-over to another thread).
  // Accepts with accept4(SOCK_CLOEXEC | SOCK_NONBLOCK) (Asio's accept sets neither) until the
  // backlog is empty, then waits for the listening socket to become readable again.
  void DoAccept(IoThread* t) {
    t->acceptor->async_wait(tcp::acceptor::wait_read, [this, t](const asio::error_code& ec) {
      if (ec || !t->acceptor->is_open() || shared_->stopping.load()) return;
      for (int i = 0; i < kAcceptsPerWake; ++i) {
        sockaddr_storage addr{};
        socklen_t len = sizeof(addr);
        const int fd = ::accept4(t->acceptor->native_handle(), reinterpret_cast<sockaddr*>(&addr),
                                 &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
              errno == ECONNABORTED) {
            break;  // another thread took it, or the client gave up: wait for the next one
          }
          // e.g. too many open files: back off instead of spinning.
          t->accept_retry->expires_after(std::chrono::milliseconds(50));
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
        tcp::socket socket(t->io);
        asio::error_code assign_ec;
        socket.assign(peer.protocol(), fd, assign_ec);
        if (assign_ec) {
          ::close(fd);
          continue;
        }
        auto session = std::make_shared<Session>(shared_, t, std::move(socket));
        {
          absl::MutexLock lock(&shared_->mu);
          shared_->sessions.emplace(session.get(), session);
        }
        session->Start(peer);
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

  std::shared_ptr<Shared> shared_;
  // Declared before everything that holds I/O objects of theirs.
  std::vector<std::unique_ptr<IoThread>> threads_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  mutable absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kCreated;
  uint16_t port_ ABSL_GUARDED_BY(mu_) = 0;
};

absl::StatusOr<std::unique_ptr<Relay>> Relay::Create(const RelayOptions& options, Selector* selector) {
  if (selector == nullptr) return absl::InvalidArgumentError("selector is null");
  PWGRID_RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<Relay>(new Relay(std::make_unique<Impl>(options, selector)));
}

Relay::Relay(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Relay::~Relay() = default;
absl::Status Relay::Start() { return impl_->Start(); }
uint16_t Relay::port() const { return impl_->port(); }
RelayStats Relay::stats() const { return impl_->stats(); }
void Relay::Stop(absl::Duration grace) { impl_->Stop(grace); }

}  // namespace pwgrid
