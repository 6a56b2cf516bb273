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

#include <cstdio>
#include <string>
#include <vector>

#include "bench/wsbench.h"

namespace {

using namespace wsbench;

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
