// AsioEventLoop: readiness watches as async_wait on a posix::stream_descriptor that borrows the
// descriptor (released, never closed, when the watch goes).
#include "lib/relay/asio_event_loop.h"

#include <utility>

namespace pwgrid::internal {
namespace {

class AsioFdWatch : public FdWatch {
 public:
  AsioFdWatch(asio::io_context& io, int fd, std::function<void()> on_readable,
              std::function<void()> on_writable)
      : descriptor_(io, fd),
        on_readable_(std::move(on_readable)),
        on_writable_(std::move(on_writable)) {}

  ~AsioFdWatch() override { Stop(); }

  void WantRead(bool on) override { Want(read_, on); }
  void WantWrite(bool on) override { Want(write_, on); }

  // release() takes the descriptor out of the reactor (epoll_ctl DEL) without closing it; the
  // callbacks stay alive until the handler that may be running one has returned.
  void Stop() override {
    if (!*alive_) return;
    *alive_ = false;
    read_.wanted = write_.wanted = false;
    asio::error_code ignored;
    descriptor_.cancel(ignored);
    (void)descriptor_.release();
  }

 private:
  struct Direction {
    asio::posix::stream_descriptor::wait_type what;
    bool wanted = false;
    bool armed = false;
  };

  void Want(Direction& d, bool on) {
    if (!*alive_) return;
    d.wanted = on;
    if (on && !d.armed) Arm(d);
  }

  // Asio re-arms the registration on every wait, so a descriptor that is ready already (data
  // hiredis left unread) completes at once.
  void Arm(Direction& d) {
    d.armed = true;
    descriptor_.async_wait(d.what, [this, &d, alive = alive_](const asio::error_code& ec) {
      if (!*alive) return;
      d.armed = false;
      if (ec || !d.wanted) return;
      (&d == &read_ ? on_readable_ : on_writable_)();
      if (*alive && d.wanted && !d.armed) Arm(d);
    });
  }

  asio::posix::stream_descriptor descriptor_;
  const std::function<void()> on_readable_;
  const std::function<void()> on_writable_;
  Direction read_{asio::posix::stream_descriptor::wait_read};
  Direction write_{asio::posix::stream_descriptor::wait_write};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

std::unique_ptr<FdWatch> AsioEventLoop::Watch(int fd, std::function<void()> on_readable,
                                              std::function<void()> on_writable) {
  return std::make_unique<AsioFdWatch>(io_, fd, std::move(on_readable), std::move(on_writable));
}

}  // namespace pwgrid::internal
