// WsTestClient: a small blocking WebSocket client for tests, and a raw HTTP helper.
//
// Thread-safety: a WsTestClient is used from one test thread (distinct objects are safe, a shared
// object is unsafe); it owns one I/O thread. No websocketpp type in this header.
#ifndef PWGRID_TESTING_WS_TEST_CLIENT_H_
#define PWGRID_TESTING_WS_TEST_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pwgrid::testing {

struct WsMessage {
  bool binary = false;
  std::string data;
};

class WsTestClient {
 public:
  // Connects and completes the handshake. On an HTTP answer other than 101 the status is
  // FailedPrecondition with message "HTTP <code>: <body>". Other failures: Unavailable.
  static absl::StatusOr<std::unique_ptr<WsTestClient>> Connect(
      const std::string& url, const std::map<std::string, std::string>& headers = {},
      absl::Duration timeout = absl::Seconds(10));
  ~WsTestClient();

  absl::Status SendText(const std::string& data);
  absl::Status SendBinary(const std::string& data);
  // DeadlineExceeded when nothing arrives in time; Aborted once the connection is closed.
  absl::StatusOr<WsMessage> Receive(absl::Duration timeout = absl::Seconds(10));
  // Starts the closing handshake.
  absl::Status Close(int code, const std::string& reason = "");
  // Waits until the connection is closed and returns the close code the peer sent (1006 when the
  // TCP connection ended without a close frame). DeadlineExceeded: still open.
  absl::StatusOr<int> WaitClosed(absl::Duration timeout = absl::Seconds(10));

  class Impl;

 private:
  explicit WsTestClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct RawHttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// Sends `request` verbatim to 127.0.0.1:`port`, reads until the peer closes or Content-Length is
// satisfied, and parses the answer.
absl::StatusOr<RawHttpResponse> SendRawHttp(uint16_t port, const std::string& request,
                                            absl::Duration timeout = absl::Seconds(10));

}  // namespace pwgrid::testing

#endif  // PWGRID_TESTING_WS_TEST_CLIENT_H_
