// WsTestClient: a small blocking WebSocket client for tests (C++17: websocketpp).
#include "pwgrid/testing/ws_test_client.h"

#include <deque>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/testing/net/ws_config.h"

namespace pwgrid::testing {

using internal::WsClient;

class WsTestClient::Impl {
 public:
  ~Impl() {
    client_.stop();
    if (thread_.joinable()) thread_.join();
  }

  absl::Status Connect(const std::string& url, const std::map<std::string, std::string>& headers,
                       absl::Duration timeout) {
    websocketpp::lib::error_code ec;
    client_.init_asio(ec);
    if (ec) return absl::InternalError(ec.message());
    internal::Tune(client_);
    client_.set_open_handler([this](websocketpp::connection_hdl) {
      absl::MutexLock lock(&mu_);
      open_ = true;
    });
    client_.set_fail_handler([this](websocketpp::connection_hdl h) {
      websocketpp::lib::error_code e;
      auto con = client_.get_con_from_hdl(h, e);
      absl::MutexLock lock(&mu_);
      failed_ = true;
      closed_ = true;
      if (!e) {
        http_status_ = con->get_response_code();
        http_body_ = con->get_response().get_body();
        fail_reason_ = con->get_ec().message();
      }
    });
    client_.set_close_handler([this](websocketpp::connection_hdl h) {
      websocketpp::lib::error_code e;
      auto con = client_.get_con_from_hdl(h, e);
      absl::MutexLock lock(&mu_);
      closed_ = true;
      close_code_ = e ? 1006 : con->get_remote_close_code();
    });
    client_.set_message_handler([this](websocketpp::connection_hdl, WsClient::message_ptr msg) {
      absl::MutexLock lock(&mu_);
      inbox_.push_back(
          WsMessage{msg->get_opcode() == websocketpp::frame::opcode::binary, msg->get_payload()});
    });
    con_ = client_.get_connection(url, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("bad url ", url, ": ", ec.message()));
    for (const auto& [name, value] : headers) con_->append_header(name, value);
    client_.connect(con_);
    thread_ = std::thread([this] { client_.run(); });
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return open_ || failed_; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&done), timeout)) {
      return absl::DeadlineExceededError("WebSocket connect timed out");
    }
    if (failed_) {
      if (http_status_ != 0) {
        return absl::FailedPreconditionError(absl::StrCat("HTTP ", http_status_, ": ", http_body_));
      }
      return absl::UnavailableError(absl::StrCat("connect failed: ", fail_reason_));
    }
    return absl::OkStatus();
  }

  absl::Status Send(const std::string& data, bool binary) {
    websocketpp::lib::error_code ec;
    client_.send(con_->get_handle(), data,
                 binary ? websocketpp::frame::opcode::binary : websocketpp::frame::opcode::text,
                 ec);
    if (ec) return absl::FailedPreconditionError(ec.message());
    return absl::OkStatus();
  }

  absl::StatusOr<WsMessage> Receive(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !inbox_.empty() || closed_; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), timeout)) {
      return absl::DeadlineExceededError("no message in time");
    }
    if (inbox_.empty()) return absl::AbortedError("connection closed");
    WsMessage m = std::move(inbox_.front());
    inbox_.pop_front();
    return m;
  }

  absl::Status Close(int code, const std::string& reason) {
    websocketpp::lib::error_code ec;
    client_.close(con_->get_handle(), internal::WireCloseCode(code), reason, ec);
    if (ec) return absl::FailedPreconditionError(ec.message());
    return absl::OkStatus();
  }

  absl::StatusOr<int> WaitClosed(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    if (!mu_.AwaitWithTimeout(absl::Condition(&closed_), timeout)) {
      return absl::DeadlineExceededError("connection still open");
    }
    return close_code_;
  }

 private:
  WsClient client_;
  WsClient::connection_ptr con_;
  std::thread thread_;
  absl::Mutex mu_;
  std::deque<WsMessage> inbox_ ABSL_GUARDED_BY(mu_);
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  int close_code_ ABSL_GUARDED_BY(mu_) = 0;
  int http_status_ ABSL_GUARDED_BY(mu_) = 0;
  std::string http_body_ ABSL_GUARDED_BY(mu_);
  std::string fail_reason_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<WsTestClient>> WsTestClient::Connect(
    const std::string& url, const std::map<std::string, std::string>& headers,
    absl::Duration timeout) {
  auto impl = std::make_unique<Impl>();
  absl::Status s = impl->Connect(url, headers, timeout);
  if (!s.ok()) return s;
  return std::unique_ptr<WsTestClient>(new WsTestClient(std::move(impl)));
}

WsTestClient::WsTestClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WsTestClient::~WsTestClient() = default;
absl::Status WsTestClient::SendText(const std::string& data) { return impl_->Send(data, false); }
absl::Status WsTestClient::SendBinary(const std::string& data) { return impl_->Send(data, true); }
absl::StatusOr<WsMessage> WsTestClient::Receive(absl::Duration timeout) {
  return impl_->Receive(timeout);
}
absl::Status WsTestClient::Close(int code, const std::string& reason) {
  return impl_->Close(code, reason);
}
absl::StatusOr<int> WsTestClient::WaitClosed(absl::Duration timeout) {
  return impl_->WaitClosed(timeout);
}

}  // namespace pwgrid::testing
