// uring_relay: a bare TCP relay on io_uring (liburing), for one comparison in bench/ANALYSIS.md:
// how much an io_uring byte path could gain over pwgrid's epoll one on this machine. Not part of
// pwgrid: one thread, no HTTP (the client's upgrade passes through as bytes, so a WebSocket
// client talks to the worker behind it), no frame tracking, no limits. Per direction: a recv
// into a 64 KiB buffer, then a send of what came, then the next recv; each completion queues the
// next operation and one io_uring_submit_and_wait() both submits and waits.
//
// Usage: uring_relay <upstream port>   (prints "port N" once listening on 127.0.0.1)
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace {

constexpr size_t kBuffer = 64 * 1024;

struct Pair;

struct Side {
  int fd = -1;
  Side* peer = nullptr;
  Pair* pair = nullptr;
  char buf[kBuffer];
  size_t len = 0;  // bytes in buf being sent to peer
  size_t off = 0;
};

// A relayed connection: freed, with both descriptors closed, once it is dead and no operation of
// its own is still in the ring.
struct Pair {
  Side client;
  Side worker;
  int in_flight = 0;
  bool dead = false;
};

enum Kind : uint64_t { kAccept = 1, kRecv = 2, kSend = 3 };

uint64_t Tag(Kind k, Side* s) { return reinterpret_cast<uint64_t>(s) | k; }

io_uring ring;

// A free submission entry; a full submission queue is submitted first.
io_uring_sqe* GetSqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  while (sqe == nullptr) {
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  return sqe;
}

void Recv(Side* s) {
  ++s->pair->in_flight;
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_recv(sqe, s->fd, s->buf, kBuffer, 0);
  io_uring_sqe_set_data64(sqe, Tag(kRecv, s));
}

// Sends s's bytes to its peer.
void Send(Side* s) {
  ++s->pair->in_flight;
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_send(sqe, s->peer->fd, s->buf + s->off, s->len - s->off, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, Tag(kSend, s));
}

void Accept(int listener) {
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_accept(sqe, listener, nullptr, nullptr, 0);
  io_uring_sqe_set_data64(sqe, kAccept);
}

int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void NoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Ends the pair: the shutdowns complete its operations still in the ring, and the last one
// frees it.
void Close(Pair* p) {
  if (p->dead) return;
  p->dead = true;
  ::shutdown(p->client.fd, SHUT_RDWR);
  ::shutdown(p->worker.fd, SHUT_RDWR);
}

// One of p's operations has completed; the last one of a dead pair frees it.
void Completed(Pair* p) {
  if (--p->in_flight > 0 || !p->dead) return;
  ::close(p->client.fd);
  ::close(p->worker.fd);
  delete p;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: uring_relay <upstream port>\n");
    return 1;
  }
  const int upstream = std::atoi(argv[1]);
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::listen(listener, 4096) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::perror("uring_relay: listen");
    return 1;
  }
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
  if (const int r = io_uring_queue_init_params(4096, &ring, &params); r < 0) {
    std::fprintf(stderr, "uring_relay: io_uring_queue_init: %s\n", std::strerror(-r));
    return 1;
  }
  std::printf("port %d\n", ntohs(a.sin_port));
  std::fflush(stdout);
  Accept(listener);
  while (true) {
    if (io_uring_submit_and_wait(&ring, 1) < 0) continue;
    io_uring_cqe* cqe;
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      const uint64_t tag = io_uring_cqe_get_data64(cqe);
      const int res = cqe->res;
      const Kind kind = static_cast<Kind>(tag & 7);
      Side* s = reinterpret_cast<Side*>(tag & ~uint64_t{7});
      if (kind == kAccept) {
        Accept(listener);
        if (res < 0) continue;
        const int up = Connect(upstream);
        if (up < 0) {
          ::close(res);
          continue;
        }
        NoDelay(res);
        NoDelay(up);
        auto* p = new Pair;
        Side* c = &p->client;
        Side* w = &p->worker;
        c->fd = res;
        w->fd = up;
        c->peer = w;
        w->peer = c;
        c->pair = w->pair = p;
        Recv(c);
        Recv(w);
        continue;
      }
      Pair* p = s->pair;
      if (res <= 0 || p->dead) {
        Close(p);
        Completed(p);
        continue;
      }
      Completed(p);
      if (kind == kRecv) {
        s->len = static_cast<size_t>(res);
        s->off = 0;
        Send(s);
      } else {
        s->off += static_cast<size_t>(res);
        if (s->off < s->len) {
          Send(s);
        } else {
          Recv(s);
        }
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
}
