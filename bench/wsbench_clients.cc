// wsbench's clients: sequential round trips, throughput with messages in flight, connect + close,
// and thousands of held connections (see wsbench.cc for the command line).
#include "bench/wsbench.h"

namespace wsbench {
namespace {

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

}  // namespace

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
  // Drain what is still in flight before joining the writer: it may be blocked in Send() on a
  // message the peer can take only once its echoes are read (joining first deadlocked, seen on
  // the direct path: the harness's 600 s timeout). Once `stop` is set, `outstanding` only falls;
  // it counts a message from just before its Send() starts.
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (outstanding == 0) break;
    }
    uint64_t n = 0;
    c.Receive(&n);
    std::lock_guard<std::mutex> lock(mu);
    --outstanding;
  }
  writer.join();
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

namespace {

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

}  // namespace

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

}  // namespace wsbench
