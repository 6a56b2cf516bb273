// Relay: the client-facing endpoint of a grid. It accepts Playwright clients' WebSocket upgrades,
// acquires a worker through a Selector, forwards the handshake to the worker and, once the worker
// answers 101, copies bytes both ways until either side closes; then it releases the lease,
// exactly once. It also answers upstream's plain HTTP requests (/metrics, /favicon.ico).
//
// HTTP surface (playwright-distributed v0.3 compatible; bodies end in \n; error bodies are
// sent as text/plain; charset=utf-8, as Go's sniffing labels them):
//   /favicon.ico            204, empty body
//   /metrics                200 {"activeConnections":N}
//   / ?browser=<bad>        400 {"error":{"code":400,"message":"Unknown browser type: …"}}
//   / not an upgrade        426 {"message":"This endpoint is for WebSocket connections only."}
//   / upgrade refused by the authenticator (no token, a wrong one)
//                           401 {"error":{"code":401,"message":"Unauthorized"}},
//                           WWW-Authenticate: Bearer, before any worker is reserved
//   / upgrade, not GET      405 "Method Not Allowed", Sec-Websocket-Version: 13
//   / upgrade, bad Sec-WebSocket-Version or -Key
//                           400 "Bad Request", Sec-Websocket-Version: 13
//   / no worker in time     503 {"error":{"code":503,"message":"No available servers"}},
//                           Retry-After: 1, by the client's deadline (select_timeout) even when
//                           the Selector is late; also for clients still waiting at Stop()
//   / registry unavailable  503 {"error":{"code":503,"message":"Worker registry unavailable"}},
//                           Retry-After: 1, at once (the Selector answered Unavailable)
//   / waiting queue full    429 {"error":{"code":429,"message":"Too many waiting clients"}},
//                           Retry-After: 1
//   / selection error       500 {"error":{"code":500,"message":"An internal error occurred"}}
//   / worker not reachable  the client is given another worker before its deadline (the one that
//                           failed is released with Lease::ReleaseWorkerUnreachable); after 3
//                           failed dials 500 {"error":{"code":500,"message":"Browser server error"}}
//   a control character in the target or a header value, a header name that is not a token, a
//   head that does not parse
//                           400 "400 Bad Request", before any worker is reserved
//   headers over max_request_bytes
//                           431 "431 Request Header Fields Too Large"
//   headers not complete within request_timeout
//                           the connection is closed, no answer
//   any other path          404 "404 page not found"
//   over max_client_connections or max_connections_per_address
//                           503 {"error":{"code":503,"message":"Too many connections"}},
//                           Retry-After: 1
//   /metrics without an admin token, when admin_authenticator is set
//                           401 as above
// pwgrid's operator surface (same port):
//   /metrics with an Accept naming text/plain;version=0.0.4 or application/openmetrics-text (as
//   Prometheus's scraper sends it), or /metrics?format=prometheus
//                           200, the Prometheus text format 0.0.4 of every family of `metrics`
//   /healthz                200 {"status":"ok"} while the relay serves (liveness)
//   /readyz                 200 {"status":"ready",…} when a client could be served now or soon:
//                           the registry answers and a worker of default_browser is registered
//                           and not draining; else 503 {"status":"not ready","reason":"…"}; 503
//                           {"status":"draining"} from the moment Stop() is called
//   /api/v1/status          200, the grid as this relay sees it (JSON; see status_page.md in
//                           the README): workers, sessions, waiting clients
//   POST /api/v1/workers/{id}/drain
//                           202 {"worker":id,"draining":true}: the worker drains and recycles;
//                           404 unknown worker
//   DELETE /api/v1/sessions/{id}
//                           202 {"session":id,"closing":true}: the client gets close frame 1008
//                           "closed by an operator", the slot is freed; 404 unknown session
//   the two actions         need a token of actions_authenticator: 401 without a token, 403 with
//                           a wrong one or when actions_authenticator is null
//   /ui/                    200, the live status page (HTML, compiled in)
//   upgrade while stopping  503 {"error":{"code":503,"message":"Server is shutting down"}},
//                           Retry-After: 5: Stop(grace) keeps the port open until the sessions
//                           are gone or the grace is over, answering instead of resetting
//   browser no worker serves (the registry read by the status monitor has none of that type)
//                           503 at once, the message names the types the grid has
// Answers other than to an upgrade keep an HTTP/1.1 connection open for the next request unless
// the client sent Connection: close; error answers to an upgrade close it.
// A worker that answers the handshake with anything but 101 has its answer passed to the client,
// body included (read as its head delimits it, up to 256 KiB); a status line that is not
// "HTTP/x.y NNN" with NNN in 100..511 is passed on as such a non-HTTP answer.
// A relayed session ends with a WebSocket close frame to the client, never raw HTTP: 1011 when
// the worker went away without one, 1008 with the reason at session_idle_timeout or
// session_max_duration (a TCP close when the stream is mid-frame).
// Every socket of the relay is close-on-exec.
//
// States:   Created ──Start()──► Running ──Stop(grace)──► Stopped
// Start() in any state but Created returns FailedPrecondition. Stop() is idempotent.
//
// Thread-safety: Start, Stop, port and stats are thread-safe. The Relay owns its I/O threads.
// Ownership: the Selector and the Options' pointers are borrowed and must outlive the Relay.
// Destroying a running Relay is Stop(absl::ZeroDuration()): open sessions are closed at once
// (clients get TCP closes, workers too).
#ifndef PWGRID_RELAY_H_
#define PWGRID_RELAY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pwgrid/auth.h"
#include "pwgrid/clock.h"
#include "pwgrid/ip_network.h"
#include "pwgrid/logging.h"
#include "pwgrid/metrics.h"
#include "pwgrid/selector.h"
#include "pwgrid/types.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid {

// How a client's Playwright version picks its worker (RelayOptions::version_policy).
enum class VersionPolicy {
  // The client's version (?playwright=, the x-playwright-version header, or Playwright's
  // User-Agent) selects only workers of its major.minor, or of no known version (selector.h); a
  // client whose version no registered worker of its browser type has is answered at once
  // with 428 {"error":{"code":428,"message":…,"clientVersion":…,"gridVersions":[…]}}.
  kRoute,
  // Upstream's proxy: any worker of the browser type, and the client's User-Agent and
  // x-playwright-version are not forwarded, so the worker's Playwright runs no version check. A
  // client of another major.minor then talks to a browser server of another protocol version:
  // it may work, or fail in the middle of a session.
  kAny,
};
// "route" or "any".
absl::StatusOr<VersionPolicy> ParseVersionPolicy(std::string_view name);
std::string_view ToString(VersionPolicy policy);

struct RelayOptions {
  // IPv4 or IPv6 literal. Loopback by default: a host opens the grid to its network on purpose
  // ("0.0.0.0"; pwgrid-server's SERVER_HOST default).
  std::string listen_address = "127.0.0.1";
  uint16_t port = 8080;                                  // 0: any free port, see Relay::port()
  int io_threads = 2;                                    // 1..256
  BrowserType default_browser = BrowserType::kChromium;  // when ?browser is absent or empty
  absl::Duration select_timeout = absl::Seconds(5);      // waiting for a worker, > 0
  absl::Duration dial_timeout = absl::Seconds(30);  // TCP connect + worker's handshake answer, > 0
  absl::Duration request_timeout = absl::Seconds(15);  // reading a request's headers, > 0
  size_t buffer_bytes = 64 * 1024;                     // per direction per session, 4 KiB..16 MiB
  size_t max_request_bytes = 16 * 1024;                // request line + headers, 1 KiB..1 MiB
  // After one side of a relayed session has closed, how long the other may take to finish its
  // close handshake before both sockets are closed, > 0.
  absl::Duration linger_timeout = absl::Seconds(10);
  // Busy polling: after its last event an I/O thread keeps polling its sockets (epoll_wait with
  // a zero timeout) for this long before it sleeps, so that the next message of a busy session finds
  // it awake instead of waiting to be woken: about half the round-trip overhead, for up to this
  // much CPU per quiet gap of each thread. Zero (the default): off, threads sleep at once (as
  // nginx). 0..1 ms; 20 us is where the gain stops on a 2-core machine (bench/ANALYSIS.md).
  absl::Duration busy_poll = absl::ZeroDuration();
  Logger* logger = NullLogger();  // must outlive the Relay
  // Asked before a worker is reserved for an upgrade; null: every client may connect. Borrowed,
  // must outlive the Relay. See auth.h.
  const Authenticator* authenticator = nullptr;
  // Asked for the operator's endpoints (/metrics); null: they are open to anyone who can reach
  // the port. A refusal is answered 401 as above. Borrowed, must outlive the Relay.
  const Authenticator* admin_authenticator = nullptr;

  // Worker endpoints are dialled only at addresses inside these networks (a host name is
  // resolved first); a worker elsewhere is refused with a log line naming it, taken out of
  // selection until it registers (heartbeats) again, and the client is given another worker.
  // So that whoever can write to the registry cannot make the grid dial any address.
  // Default: loopback and private ranges (PrivateNetworks()). Empty: any address.
  std::vector<IpNetwork> allowed_worker_networks = PrivateNetworks();

  // Client connections open at once, >= 0; 0: sized from the file limit, (RLIMIT_NOFILE - 128) / 2
  // (a relayed session holds two descriptors). A connection over it, or over
  // max_connections_per_address, is answered 503 {"error":{"code":503,"message":"Too many
  // connections"}} once its request head is read (a further 64 such at once are closed unread),
  // so the relay never runs out of descriptors.
  int max_client_connections = 0;
  // Client connections open at once from one IP address, >= 0; 0: no such limit.
  int max_connections_per_address = 0;
  // Dead peers: on both sockets of a session, TCP keepalive (first probe after peer_timeout / 2,
  // then every peer_timeout / 6, at least 1 s) and TCP_USER_TIMEOUT (peer_timeout / 2), so that a
  // client or worker gone without a FIN (a cut network, a suspended laptop) is noticed and its
  // session closed within peer_timeout. Zero: the kernel's defaults (hours). Else >= 2 s.
  absl::Duration peer_timeout = absl::Seconds(60);
  // A relayed session with no byte either way for this long is closed: the client gets close
  // frame 1008 "session idle timeout", the worker a TCP close, the slot is freed. Zero: never.
  absl::Duration session_idle_timeout = absl::ZeroDuration();
  // A relayed session older than this is closed the same way (1008 "session maximum duration
  // reached"). Zero: never.
  absl::Duration session_max_duration = absl::ZeroDuration();
  // The time of clients' deadlines (now + select_timeout), as the Selector compares them: pass
  // the Selector's clock. Socket timeouts (dial, request, linger) are real time.
  Clock* clock = SystemClock();  // must outlive the Relay

  // The operator surface. `metrics`: the families the relay records into and serves at /metrics;
  // null: the relay keeps its own (see metrics.h to scrape them from a host's registry).
  // Borrowed, must outlive the Relay.
  Metrics* metrics = nullptr;
  // The registry behind the selector: read every status_interval on a thread of the relay's own
  // (never an I/O thread) for /readyz, /api/v1/status, the grid-wide metric families and the
  // answer to a browser type no worker serves; and called by POST /api/v1/workers/{id}/drain.
  // Null: those views show this relay alone and /readyz only says whether it is stopping.
  // Borrowed, must outlive the Relay.
  WorkerRegistry* registry = nullptr;
  SessionLimits limits;  // the selector's, for the free slots the views report
  absl::Duration status_interval = absl::Seconds(1);  // > 0
  // Reported by /api/v1/status, and pwgrid_build_info of the relay's own Metrics: "embedded" or
  // "redis". With `metrics` set, its mode and Playwright version are reported instead.
  std::string mode = "embedded";
  // Asked for the operator's actions (drain a worker, close a session); null: they are refused
  // (403). Borrowed, must outlive the Relay.
  const Authenticator* actions_authenticator = nullptr;
  VersionPolicy version_policy = VersionPolicy::kRoute;

  // 127.0.0.1, port 0, one I/O thread, 2 s select timeout, 2 s dial timeout.
  static RelayOptions ForTesting();
  absl::Status Validate() const;
};

struct RelayStats {
  int64_t active_sessions = 0;     // relayed sessions open now
  int64_t client_connections = 0;  // client sockets open now (HTTP, waiting, relayed)
  int64_t total_sessions = 0;      // relayed sessions ever established
  int64_t rejected_requests = 0;   // upgrade requests answered with an error status
  int64_t bytes_to_workers = 0;    // after the handshake
  int64_t bytes_to_clients = 0;    // after the handshake
};

class Relay {
 public:
  // InvalidArgument: bad options or null selector.
  static absl::StatusOr<std::unique_ptr<Relay>> Create(const RelayOptions& options,
                                                       Selector* selector);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Binds and starts the I/O threads. FailedPrecondition: not in state Created.
  // InvalidArgument: bad listen address. Unavailable: the address cannot be bound.
  absl::Status Start();
  // The bound port once started (useful with port 0), else 0.
  uint16_t port() const;
  RelayStats stats() const;
  // Drains: /readyz turns 503 at once and new upgrades are answered 503 with Retry-After while
  // open sessions finish, for up to `grace`; then the port closes, the rest are closed and the
  // I/O threads joined. Clients still waiting for a worker get 503.
  void Stop(absl::Duration grace);

 private:
  class Impl;
  explicit Relay(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pwgrid

#endif  // PWGRID_RELAY_H_
