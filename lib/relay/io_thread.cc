// Sockets and buffers of the relay's I/O threads (see io_thread.h).
#include "lib/relay/io_thread.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <new>

namespace pwgrid::internal {

using asio::ip::tcp;

asio::error_code OpenSocket(tcp::socket& s, const tcp::endpoint& to) {
  const int fd = ::socket(to.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return asio::error_code(errno, asio::error::get_system_category());
  asio::error_code ec;
  s.assign(to.protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    return ec;
  }
  s.non_blocking(true, ec);  // tells Asio what the descriptor already is
  s.set_option(tcp::no_delay(true), ec);
  return asio::error_code();
}

Buffer IoThread::TakeBuffer() {
  if (free_buffers.empty()) {
    Buffer b(static_cast<char*>(std::aligned_alloc(4096, (buffer_bytes + 4095) / 4096 * 4096)));
    if (!b) throw std::bad_alloc();
    return b;
  }
  Buffer b = std::move(free_buffers.back());
  free_buffers.pop_back();
  return b;
}

void IoThread::GiveBuffer(Buffer b) {
  if (b && free_buffers.size() < kMaxFreeBuffers) free_buffers.push_back(std::move(b));
}

}  // namespace pwgrid::internal
