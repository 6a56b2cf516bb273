// FakeWorker: a loopback WebSocket echo server standing in for a browser worker (C++17:
// websocketpp).
#include "pwgrid/testing/fake_worker.h"

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/testing/net/ws_config.h"

namespace pwgrid::testing {

using internal::WsServer;

class FakeWorker::Impl {
 public:
  explicit Impl(const FakeWorkerOptions& options) : options_(options) {}
  ~Impl() { Stop(); }

  absl::Status Start() {
    websocketpp::lib::error_code ec;
    server_.init_asio(ec);
    if (ec) return absl::InternalError(ec.message());
    internal::Tune(server_);
    server_.set_reuse_addr(true);
    server_.set_validate_handler([this](websocketpp::connection_hdl h) { return Validate(h); });
    server_.set_open_handler([this](websocketpp::connection_hdl h) {
      absl::MutexLock lock(&mu_);
      conns_.insert(h);
      ++opened_;
    });
    server_.set_close_handler([this](websocketpp::connection_hdl h) {
      websocketpp::lib::error_code e;
      auto con = server_.get_con_from_hdl(h, e);
      absl::MutexLock lock(&mu_);
      if (!e) close_codes_.push_back(con->get_remote_close_code());
      conns_.erase(h);
    });
    server_.set_fail_handler([this](websocketpp::connection_hdl h) {
      absl::MutexLock lock(&mu_);
      conns_.erase(h);
    });
    server_.set_message_handler(
        [this](websocketpp::connection_hdl h, WsServer::message_ptr msg) { OnMessage(h, msg); });
    asio::error_code addr_ec;
    const asio::ip::address addr = asio::ip::make_address(options_.listen_address, addr_ec);
    if (addr_ec) return absl::InvalidArgumentError("bad FakeWorkerOptions.listen_address");
    server_.listen(asio::ip::tcp::endpoint(addr, 0), ec);
    if (ec) return absl::UnavailableError(ec.message());
    server_.start_accept(ec);
    if (ec) return absl::UnavailableError(ec.message());
    asio::error_code aec;
    port_ = server_.get_local_endpoint(aec).port();
    thread_ = std::thread([this] { server_.run(); });
    return absl::OkStatus();
  }

  // After Stop() the port refuses connections, as a dead worker's does.
  void Stop() {
    if (stopped_.exchange(true)) return;
    server_.stop();
    if (thread_.joinable()) thread_.join();
    websocketpp::lib::error_code ec;
    if (server_.is_listening()) server_.stop_listening(ec);  // the loop has ended: safe here
  }

  void Kill() {
    asio::post(server_.get_io_service(), [this] {
      killed_ = true;
      websocketpp::lib::error_code ec;
      server_.stop_listening(ec);
      std::set<websocketpp::connection_hdl, std::owner_less<websocketpp::connection_hdl>> conns;
      {
        absl::MutexLock lock(&mu_);
        conns = conns_;
      }
      for (const auto& h : conns) {
        auto con = server_.get_con_from_hdl(h, ec);
        if (ec) continue;
        asio::error_code aec;
        con->get_raw_socket().close(aec);
      }
    });
    // Wait until the kill ran on the I/O thread.
    for (int i = 0; i < 500 && !killed_.load(); ++i) absl::SleepFor(absl::Milliseconds(2));
  }

  std::string endpoint() const {
    return absl::StrCat("ws://", options_.listen_address, ":", port_, options_.path);
  }
  uint16_t port() const { return port_; }
  bool running() const { return !stopped_.load() && !killed_.load(); }
  const FakeWorkerOptions& options() const { return options_; }

  std::vector<int> close_codes() const {
    absl::MutexLock lock(&mu_);
    return close_codes_;
  }
  int64_t opened() const {
    absl::MutexLock lock(&mu_);
    return opened_;
  }
  int64_t open_now() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int64_t>(conns_.size());
  }
  std::string header(const std::string& name) const {
    absl::MutexLock lock(&mu_);
    auto it = last_headers_.find(absl::AsciiStrToLower(name));
    return it == last_headers_.end() ? "" : it->second;
  }

 private:
  bool Validate(websocketpp::connection_hdl h) {
    websocketpp::lib::error_code ec;
    auto con = server_.get_con_from_hdl(h, ec);
    if (ec) return false;
    {
      absl::MutexLock lock(&mu_);
      last_headers_.clear();
      for (const auto& [name, value] : con->get_request().get_headers()) {
        last_headers_[absl::AsciiStrToLower(name)] = value;
      }
    }
    if (con->get_resource() != options_.path) {
      con->set_status(websocketpp::http::status_code::not_found);
      return false;
    }
    return true;
  }

  void OnMessage(websocketpp::connection_hdl h, WsServer::message_ptr msg) {
    websocketpp::lib::error_code ec;
    const std::string& payload = msg->get_payload();
    if (msg->get_opcode() == websocketpp::frame::opcode::text) {
      int code = 0;
      if (payload.rfind("close:", 0) == 0 && absl::SimpleAtoi(payload.substr(6), &code)) {
        server_.close(h, internal::WireCloseCode(code), "closed by fake worker", ec);
        return;
      }
      if (payload.rfind("last:", 0) == 0 && payload.size() - 5 < 126) {
        // <text> as one unmasked text frame and the FIN right after it, written at once on the
        // socket, so that they reach the peer together.
        auto con = server_.get_con_from_hdl(h, ec);
        if (ec) return;
        std::string frame = {'\x81', static_cast<char>(payload.size() - 5)};
        frame += payload.substr(5);
        asio::error_code aec;
        asio::write(con->get_raw_socket(), asio::buffer(frame), aec);
        con->get_raw_socket().close(aec);
        return;
      }
      if (payload == "close-tcp") {
        auto con = server_.get_con_from_hdl(h, ec);
        asio::error_code aec;
        if (!ec) con->get_raw_socket().close(aec);
        return;
      }
    }
    server_.send(h, payload, msg->get_opcode(), ec);
  }

  const FakeWorkerOptions options_;
  WsServer server_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> killed_{false};
  mutable absl::Mutex mu_;
  std::set<websocketpp::connection_hdl, std::owner_less<websocketpp::connection_hdl>> conns_
      ABSL_GUARDED_BY(mu_);
  std::vector<int> close_codes_ ABSL_GUARDED_BY(mu_);
  int64_t opened_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::string> last_headers_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<FakeWorker>> FakeWorker::Start(const FakeWorkerOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  absl::Status s = impl->Start();
  if (!s.ok()) return s;
  return std::unique_ptr<FakeWorker>(new FakeWorker(std::move(impl)));
}

FakeWorker::FakeWorker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FakeWorker::~FakeWorker() = default;
std::string FakeWorker::ws_endpoint() const { return impl_->endpoint(); }
std::string FakeWorker::playwright_version() const { return impl_->options().playwright_version; }
bool FakeWorker::Running() { return impl_->running(); }
absl::Status FakeWorker::Stop() {
  impl_->Stop();
  return absl::OkStatus();
}
uint16_t FakeWorker::port() const { return impl_->port(); }
void FakeWorker::Kill() { impl_->Kill(); }
std::vector<int> FakeWorker::received_close_codes() const { return impl_->close_codes(); }
int64_t FakeWorker::connections_opened() const { return impl_->opened(); }
int64_t FakeWorker::connections_open() const { return impl_->open_now(); }
std::string FakeWorker::last_request_header(const std::string& name) const {
  return impl_->header(name);
}

}  // namespace pwgrid::testing
