// wsbench: the WebSocket load tools of the benchmark suite (C++17, Asio only).
//
//   wsbench echo PORT_FILE [threads]      a WebSocket echo "worker" on 127.0.0.1:0; writes its
//                                         port to PORT_FILE; runs until stdin closes
//   wsbench rtt URL COUNT SIZE            COUNT sequential round trips of SIZE-byte text messages
//   wsbench throughput URL SIZE INFLIGHT SECONDS
//                                         binary messages, INFLIGHT outstanding, for SECONDS
//   wsbench connect URL COUNT             COUNT sequential connect + close handshakes
//   wsbench hold URL CONNECTIONS RATE SECONDS
//                                         opens CONNECTIONS at once, prints "held", waits for a
//                                         line on stdin, then each sends RATE messages/s (1 KiB)
//                                         for SECONDS (RATE 0: stays idle), prints the round trips,
//                                         waits for a second line, closes everything
//
// Client results are one line of key=value pairs (latencies in microseconds). Clients mask with
// a zero key (valid: RFC 6455 only requires the mask bit), so the echo worker's unmasking is free
// and the measured cost is the path between them. URL: ws://host:port/path.
#include <signal.h>

#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <websocketpp/base64/base64.hpp>
#include <websocketpp/sha1/sha1.hpp>

namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Url {
  std::string host;
  std::string port;
  std::string path = "/";
};

Url ParseUrl(const std::string& url) {
  Url u;
  std::string rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    u.path = rest.substr(slash);
    rest = rest.substr(0, slash);
  }
  size_t colon = rest.rfind(':');
  u.host = rest.substr(0, colon);
  u.port = colon == std::string::npos ? "80" : rest.substr(colon + 1);
  return u;
}

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

std::string Quantiles(std::vector<double> v) {
  if (v.empty()) return "n=0";
  std::sort(v.begin(), v.end());
  auto q = [&](double p) { return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))]; };
  char buf[200];
  std::snprintf(buf, sizeof buf, "n=%zu p50_us=%.1f p99_us=%.1f max_us=%.1f", v.size(), q(0.5),
                q(0.99), v.back());
  return buf;
}

// A client frame header (FIN, mask bit, zero mask key) for a payload of `n` bytes.
std::string ClientHeader(unsigned char opcode, uint64_t n) {
  std::string h;
  h.push_back(static_cast<char>(0x80 | opcode));
  if (n < 126) {
    h.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    h.push_back(static_cast<char>(0x80 | 126));
    h.push_back(static_cast<char>(n >> 8));
    h.push_back(static_cast<char>(n & 0xff));
  } else {
    h.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) h.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  }
  h.append(4, '\0');
  return h;
}

std::string Handshake(const Url& u) {
  return "GET " + u.path + " HTTP/1.1\r\nHost: " + u.host + ":" + u.port +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
}

// ---- blocking client ------------------------------------------------------------------------
class SyncClient {
 public:
  explicit SyncClient(asio::io_context& io) : socket_(io) {}

  void Connect(const Url& u) {
    tcp::resolver resolver(socket_.get_executor());
    asio::connect(socket_, resolver.resolve(u.host, u.port));
    socket_.set_option(tcp::no_delay(true));
    asio::write(socket_, asio::buffer(Handshake(u)));
    size_t n = asio::read_until(socket_, asio::dynamic_buffer(in_), "\r\n\r\n");
    if (in_.compare(0, 12, "HTTP/1.1 101") != 0) {
      throw std::runtime_error("handshake refused: " + in_.substr(0, in_.find("\r\n")));
    }
    in_.erase(0, n);
  }

  void Send(unsigned char opcode, const std::string& payload) {
    std::string header = ClientHeader(opcode, payload.size());
    std::vector<asio::const_buffer> bufs = {asio::buffer(header), asio::buffer(payload)};
    asio::write(socket_, bufs);
  }

  // Reads one whole server frame; returns its opcode, payload size in `size`.
  unsigned char Receive(uint64_t* size) {
    Fill(2);
    const unsigned char b0 = static_cast<unsigned char>(in_[0]);
    uint64_t len = static_cast<unsigned char>(in_[1]) & 0x7f;
    size_t head = 2;
    if (len == 126) {
      Fill(4);
      len = (static_cast<uint64_t>(static_cast<unsigned char>(in_[2])) << 8) |
            static_cast<unsigned char>(in_[3]);
      head = 4;
    } else if (len == 127) {
      Fill(10);
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(in_[2 + i]);
      head = 10;
    }
    // Skip the payload without keeping it.
    const uint64_t have = std::min<uint64_t>(in_.size() - head, len);
    in_.erase(0, head + have);
    uint64_t left = len - have;
    char sink[65536];
    while (left > 0) {
      size_t n = socket_.read_some(asio::buffer(sink, std::min<uint64_t>(left, sizeof sink)));
      left -= n;
    }
    *size = len;
    return b0 & 0x0f;
  }

  void Close() {
    Send(8, std::string("\x03\xe8", 2));
    uint64_t n = 0;
    while (Receive(&n) != 8) {
    }
    asio::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  void Fill(size_t n) {
    char buf[65536];
    while (in_.size() < n) {
      size_t got = socket_.read_some(asio::buffer(buf));
      in_.append(buf, got);
    }
  }

  tcp::socket socket_;
  std::string in_;
};

int Rtt(const Url& u, int count, size_t size) {
  asio::io_context io;
  SyncClient c(io);
  c.Connect(u);
  const std::string payload(size, 'x');
  std::vector<double> lat;
  lat.reserve(count);
  for (int i = 0; i < count + 100; ++i) {  // 100 warm-up round trips
    const Clock::time_point t0 = Clock::now();
    c.Send(1, payload);
    uint64_t n = 0;
    c.Receive(&n);
    if (i >= 100) lat.push_back(Micros(Clock::now() - t0));
  }
  c.Close();
  std::printf("rtt %s\n", Quantiles(lat).c_str());
  return 0;
}

int Throughput(const Url& u, size_t size, int inflight, double seconds) {
  asio::io_context io;
  SyncClient c(io);
  c.Connect(u);
  const std::string payload(size, 'b');
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0;
  bool stop = false;
  std::thread writer([&] {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return stop || outstanding < inflight; });
        if (stop) return;
        ++outstanding;
      }
      c.Send(2, payload);
    }
  });
  uint64_t bytes = 0;
  const Clock::time_point t0 = Clock::now();
  Clock::time_point t1 = t0;
  while (std::chrono::duration<double>(t1 - t0).count() < seconds) {
    uint64_t n = 0;
    c.Receive(&n);
    bytes += n;
    t1 = Clock::now();
    std::lock_guard<std::mutex> lock(mu);
    --outstanding;
    cv.notify_one();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
    cv.notify_one();
  }
  writer.join();
  // Drain what is still in flight, then close.
  for (int i = 0; i < outstanding; ++i) {
    uint64_t n = 0;
    c.Receive(&n);
  }
  c.Close();
  const double s = std::chrono::duration<double>(t1 - t0).count();
  std::printf("throughput bytes=%llu seconds=%.3f mb_per_s=%.1f\n",
              static_cast<unsigned long long>(bytes), s, static_cast<double>(bytes) / s / 1e6);
  return 0;
}

int Connect(const Url& u, int count) {
  asio::io_context io;
  std::vector<double> lat;
  for (int i = 0; i < count + 20; ++i) {  // 20 warm-up connects
    const Clock::time_point t0 = Clock::now();
    SyncClient c(io);
    c.Connect(u);
    c.Close();
    if (i >= 20) lat.push_back(Micros(Clock::now() - t0));
  }
  std::printf("connect %s\n", Quantiles(lat).c_str());
  return 0;
}

// ---- many connections (async) -----------------------------------------------------------------
class HeldConn : public std::enable_shared_from_this<HeldConn> {
 public:
  HeldConn(asio::io_context& io, std::vector<double>* lat) : socket_(io), timer_(io), lat_(lat) {}

  template <typename Done>
  void Open(const tcp::endpoint& ep, const std::string& handshake, Done done) {
    auto self = shared_from_this();
    socket_.async_connect(ep, [self, handshake, done](const asio::error_code& ec) mutable {
      if (ec) return done(ec);
      self->socket_.set_option(tcp::no_delay(true));
      self->out_ = handshake;
      asio::async_write(self->socket_, asio::buffer(self->out_),
                        [self, done](const asio::error_code& e, size_t) mutable {
                          if (e) return done(e);
                          asio::async_read_until(
                              self->socket_, asio::dynamic_buffer(self->in_), "\r\n\r\n",
                              [self, done](const asio::error_code& e2, size_t n) mutable {
                                if (!e2 && self->in_.compare(0, 12, "HTTP/1.1 101") != 0) {
                                  return done(asio::error::connection_refused);
                                }
                                if (!e2) self->in_.erase(0, n);
                                done(e2);
                              });
                        });
    });
  }

  // Sends one 1 KiB message every `period`, starting after `offset`, until `until`.
  void Run(Clock::duration offset, Clock::duration period, Clock::time_point until) {
    period_ = period;
    until_ = until;
    out_ = ClientHeader(1, 1024) + std::string(1024, 'x');
    expect_ = 4 + 1024;  // server header for 1024 bytes is 4 bytes
    timer_.expires_after(offset);
    auto self = shared_from_this();
    timer_.async_wait([self](const asio::error_code& ec) {
      if (!ec) self->Tick();
    });
  }

  void Shutdown() {
    asio::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

 private:
  void Tick() {
    if (Clock::now() >= until_) return;
    auto self = shared_from_this();
    sent_at_ = Clock::now();
    asio::async_write(socket_, asio::buffer(out_), [self](const asio::error_code& ec, size_t) {
      if (ec) return;
      self->in_.resize(self->expect_);
      asio::async_read(self->socket_, asio::buffer(self->in_),
                       [self](const asio::error_code& e, size_t) {
                         if (e) return;
                         self->lat_->push_back(Micros(Clock::now() - self->sent_at_));
                         self->timer_.expires_at(self->sent_at_ + self->period_);
                         self->timer_.async_wait([self](const asio::error_code& e2) {
                           if (!e2) self->Tick();
                         });
                       });
    });
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  std::vector<double>* lat_;
  std::string out_;
  std::string in_;
  size_t expect_ = 0;
  Clock::duration period_{};
  Clock::time_point until_;
  Clock::time_point sent_at_;
};

int Hold(const Url& u, int connections, double rate, double seconds) {
  asio::io_context io;  // one thread: latencies are pushed without locks
  tcp::resolver resolver(io);
  const tcp::endpoint ep = *resolver.resolve(u.host, u.port).begin();
  const std::string handshake = Handshake(u);
  std::vector<double> lat;
  std::vector<std::shared_ptr<HeldConn>> conns;
  int opened = 0, failed = 0, next = 0, pending = 0;
  const int kParallel = 64;  // connects in flight at once
  std::function<void()> open_more = [&] {
    while (pending < kParallel && next < connections) {
      ++next;
      ++pending;
      auto c = std::make_shared<HeldConn>(io, &lat);
      conns.push_back(c);
      c->Open(ep, handshake, [&](const asio::error_code& ec) {
        --pending;
        (ec ? failed : opened)++;
        if (ec && failed == 1)
          std::fprintf(stderr, "wsbench: connect failed: %s\n", ec.message().c_str());
        open_more();
      });
    }
  };
  const Clock::time_point t0 = Clock::now();
  open_more();
  io.run();
  io.restart();
  std::printf("held opened=%d failed=%d open_seconds=%.2f\n", opened, failed,
              std::chrono::duration<double>(Clock::now() - t0).count());
  std::fflush(stdout);
  std::string line;
  std::getline(std::cin, line);
  if (rate > 0) {
    const auto period =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
    const Clock::time_point until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                       std::chrono::duration<double>(seconds));
    for (size_t i = 0; i < conns.size(); ++i) {
      conns[i]->Run(period * static_cast<int64_t>(i) / static_cast<int64_t>(conns.size()), period,
                    until);
    }
    io.run();
    io.restart();
  }
  std::printf("loaded %s\n", Quantiles(lat).c_str());
  std::fflush(stdout);
  std::getline(std::cin, line);
  for (auto& c : conns) c->Shutdown();
  return failed == 0 ? 0 : 1;
}

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

int Usage() {
  std::fprintf(stderr,
               "usage: wsbench echo PORT_FILE [threads] | rtt URL COUNT SIZE | "
               "throughput URL SIZE INFLIGHT SECONDS | connect URL COUNT | hold URL CONNECTIONS "
               "RATE SECONDS\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if (a.size() >= 2 && a[0] == "echo") return Echo(a[1], a.size() > 2 ? std::stoi(a[2]) : 1);
    if (a.size() == 4 && a[0] == "rtt")
      return Rtt(ParseUrl(a[1]), std::stoi(a[2]), std::stoul(a[3]));
    if (a.size() == 5 && a[0] == "throughput") {
      return Throughput(ParseUrl(a[1]), std::stoul(a[2]), std::stoi(a[3]), std::stod(a[4]));
    }
    if (a.size() == 3 && a[0] == "connect") return Connect(ParseUrl(a[1]), std::stoi(a[2]));
    if (a.size() == 5 && a[0] == "hold") {
      return Hold(ParseUrl(a[1]), std::stoi(a[2]), std::stod(a[3]), std::stod(a[4]));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wsbench: %s\n", e.what());
    return 1;
  }
  return Usage();
}
