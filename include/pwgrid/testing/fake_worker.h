// FakeWorker: a loopback WebSocket server standing in for a browser worker in tests.
//
// It echoes every text and binary message. A text message "close:<code>" makes it close that
// connection with <code>; "close-tcp" makes it drop the TCP connection without a close frame;
// "last:<text>" (under 126 bytes) makes it send <text> and drop the connection at once, the
// message and the end of stream written back to back (they reach the peer together).
// Kill() drops every connection and stops listening, like a crashed browser server.
// It implements BrowserServer, so a WorkerAgent can run it.
//
// Thread-safety: thread-safe. Owns one I/O thread. No websocketpp type in this header.
#ifndef PWGRID_TESTING_FAKE_WORKER_H_
#define PWGRID_TESTING_FAKE_WORKER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pwgrid/browser_server.h"

namespace pwgrid::testing {

struct FakeWorkerOptions {
  std::string path = "/playwright/fake";  // the only path it accepts; others get 404
  std::string playwright_version = "1.65.1";
  // An IPv4 literal; tests of dead peers pass an address inside a network namespace (the
  // calling thread's namespace is the one the socket is made in).
  std::string listen_address = "127.0.0.1";
};

class FakeWorker : public BrowserServer {
 public:
  // Listens on options.listen_address (127.0.0.1) on a free port.
  static absl::StatusOr<std::unique_ptr<FakeWorker>> Start(const FakeWorkerOptions& options = {});
  ~FakeWorker() override;

  std::string ws_endpoint() const override;
  std::string playwright_version() const override;
  bool Running() override;
  absl::Status Stop() override;

  uint16_t port() const;
  // Drops every connection (no close frame) and stops listening.
  void Kill();
  // Close codes received from clients, in order.
  std::vector<int> received_close_codes() const;
  // Connections opened so far, and open now.
  int64_t connections_opened() const;
  int64_t connections_open() const;
  // The value of a header in the most recent handshake request; empty if absent.
  std::string last_request_header(const std::string& name) const;

  class Impl;

 private:
  explicit FakeWorker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pwgrid::testing

#endif  // PWGRID_TESTING_FAKE_WORKER_H_
