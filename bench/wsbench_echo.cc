// wsbench's echo worker: a WebSocket server on 127.0.0.1:0 that echoes every message (see
// wsbench.cc for the command line).
#include "bench/wsbench.h"

namespace wsbench {
namespace {

// ---- echo worker ----------------------------------------------------------------------------
constexpr size_t kEchoBuffer = 64 * 1024;

class EchoConn : public std::enable_shared_from_this<EchoConn> {
 public:
  explicit EchoConn(tcp::socket s) : socket_(std::move(s)) {}

  void Start() {
    socket_.set_option(tcp::no_delay(true));
    auto self = shared_from_this();
    asio::async_read_until(socket_, asio::dynamic_buffer(head_), "\r\n\r\n",
                           [self](const asio::error_code& ec, size_t n) {
                             if (!ec) self->OnHandshake(n);
                           });
  }

 private:
  void OnHandshake(size_t n) {
    std::string lower = head_.substr(0, n);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    size_t k = lower.find("\r\nsec-websocket-key:");
    if (k == std::string::npos) return;
    size_t start = k + 20, end = lower.find("\r\n", start);
    std::string key = head_.substr(start, end - start);
    key.erase(0, key.find_first_not_of(' '));
    key.erase(key.find_last_not_of(' ') + 1);
    unsigned char digest[20];
    const std::string magic = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    websocketpp::sha1::calc(magic.data(), magic.size(), digest);
    out_ =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        websocketpp::base64_encode(digest, 20) + "\r\n\r\n";
    pending_.assign(head_.begin() + static_cast<std::ptrdiff_t>(n), head_.end());
    std::string().swap(head_);
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(out_), [self](const asio::error_code& ec, size_t) {
      if (ec) return;
      self->out_.clear();
      self->buf_.reset(new char[kEchoBuffer]);
      self->Transform(reinterpret_cast<const unsigned char*>(self->pending_.data()),
                      self->pending_.size());
      std::string().swap(self->pending_);
      self->Flush();
    });
  }

  // Turns client frames into server frames: drops the mask (unmasking with the key), keeps the
  // payload length encoding.
  void Transform(const unsigned char* p, size_t n) {
    size_t i = 0;
    while (i < n) {
      if (left_ == 0) {
        while (hlen_ < 2 && i < n) hdr_[hlen_++] = p[i++];
        if (hlen_ < 2) return;
        size_t need = 2 +
                      ((hdr_[1] & 0x7f) == 126   ? 2
                       : (hdr_[1] & 0x7f) == 127 ? 8
                                                 : 0) +
                      ((hdr_[1] & 0x80) ? 4 : 0);
        while (hlen_ < need && i < n) hdr_[hlen_++] = p[i++];
        if (hlen_ < need) return;
        uint64_t len = hdr_[1] & 0x7f;
        size_t ext = 0;
        if (len == 126) {
          len = (static_cast<uint64_t>(hdr_[2]) << 8) | hdr_[3];
          ext = 2;
        } else if (len == 127) {
          len = 0;
          for (int b = 0; b < 8; ++b) len = (len << 8) | hdr_[2 + b];
          ext = 8;
        }
        masked_ = (hdr_[1] & 0x80) != 0;
        if (masked_) std::memcpy(mask_, hdr_ + 2 + ext, 4);
        zero_mask_ = !masked_ || (mask_[0] | mask_[1] | mask_[2] | mask_[3]) == 0;
        if ((hdr_[0] & 0x0f) == 8) closing_ = true;
        out_.push_back(static_cast<char>(hdr_[0]));
        out_.push_back(static_cast<char>(hdr_[1] & 0x7f));
        out_.append(reinterpret_cast<const char*>(hdr_ + 2), ext);
        hlen_ = 0;
        left_ = len;
        offset_ = 0;
        if (len == 0) continue;
      }
      const size_t take = static_cast<size_t>(std::min<uint64_t>(left_, n - i));
      const size_t at = out_.size();
      out_.append(reinterpret_cast<const char*>(p + i), take);
      if (!zero_mask_) {
        for (size_t j = 0; j < take; ++j)
          out_[at + j] = static_cast<char>(out_[at + j] ^ mask_[(offset_ + j) & 3]);
      }
      offset_ += take;
      left_ -= take;
      i += take;
    }
  }

  void Flush() {
    auto self = shared_from_this();
    if (out_.empty()) {
      if (closing_) {
        asio::error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_send, ignored);
      }
      socket_.async_read_some(
          asio::buffer(buf_.get(), kEchoBuffer), [self](const asio::error_code& ec, size_t n) {
            if (ec) return;
            self->Transform(reinterpret_cast<const unsigned char*>(self->buf_.get()), n);
            self->Flush();
          });
      return;
    }
    writing_.swap(out_);
    out_.clear();
    asio::async_write(socket_, asio::buffer(writing_), [self](const asio::error_code& ec, size_t) {
      if (ec) return;
      self->writing_.clear();
      self->Flush();
    });
  }

  tcp::socket socket_;
  std::string head_, pending_, out_, writing_;
  std::unique_ptr<char[]> buf_;  // not zero-filled: an idle connection touches one page
  unsigned char hdr_[14] = {};
  size_t hlen_ = 0;
  uint64_t left_ = 0, offset_ = 0;
  unsigned char mask_[4] = {};
  bool masked_ = false, zero_mask_ = true, closing_ = false;
};

}  // namespace

int Echo(const std::string& port_file, int threads) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  acceptor.listen(asio::socket_base::max_listen_connections);
  std::function<void()> accept = [&] {
    acceptor.async_accept(asio::make_strand(io), [&](const asio::error_code& ec, tcp::socket s) {
      if (!ec) std::make_shared<EchoConn>(std::move(s))->Start();
      if (acceptor.is_open()) accept();
    });
  };
  accept();
  {
    std::ofstream f(port_file + ".tmp");
    f << acceptor.local_endpoint().port() << "\n";
  }
  std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back([&] { io.run(); });
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  io.stop();
  for (auto& t : pool) t.join();
  return 0;
}

}  // namespace wsbench
