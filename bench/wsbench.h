// wsbench's shared parts: URLs, quantiles, client frame headers and the handshake, and the entry
// points of its modes (clients in wsbench_clients.cc, the echo worker in wsbench_echo.cc). C++17,
// Asio only; see wsbench.cc for the command line.
#ifndef PWGRID_BENCH_WSBENCH_H_
#define PWGRID_BENCH_WSBENCH_H_

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

namespace wsbench {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Url {
  std::string host;
  std::string port;
  std::string path = "/";
};

inline Url ParseUrl(const std::string& url) {
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

inline double Micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

inline std::string Quantiles(std::vector<double> v) {
  if (v.empty()) return "n=0";
  std::sort(v.begin(), v.end());
  auto q = [&](double p) { return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))]; };
  char buf[200];
  std::snprintf(buf, sizeof buf, "n=%zu p50_us=%.1f p99_us=%.1f max_us=%.1f", v.size(), q(0.5),
                q(0.99), v.back());
  return buf;
}

// A client frame header (FIN, mask bit, zero mask key) for a payload of `n` bytes.
inline std::string ClientHeader(unsigned char opcode, uint64_t n) {
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

inline std::string Handshake(const Url& u) {
  return "GET " + u.path + " HTTP/1.1\r\nHost: " + u.host + ":" + u.port +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
}

int Rtt(const Url& u, int count, size_t size);
int Throughput(const Url& u, size_t size, int inflight, double seconds);
int Connect(const Url& u, int count);
int Hold(const Url& u, int connections, double rate, double seconds);
int Echo(const std::string& port_file, int threads);

}  // namespace wsbench

#endif  // PWGRID_BENCH_WSBENCH_H_
