// AsioEventLoop: the EventLoop (lib/common/event_loop.h) of one relay I/O thread, over its
// io_context, for the Redis registry's asynchronous connection. C++17: Asio types. Internal
// header.
//
// Thread-safety: the io_context's thread only. Ownership: the io_context must outlive the loop
// and its watches; a watch never closes its descriptor.
#ifndef PWGRID_LIB_RELAY_ASIO_EVENT_LOOP_H_
#define PWGRID_LIB_RELAY_ASIO_EVENT_LOOP_H_

#include "lib/common/internal.h"

#include <asio.hpp>
#include <functional>
#include <memory>

#include "lib/common/event_loop.h"

namespace pwgrid::internal {

class AsioEventLoop : public EventLoop {
 public:
  explicit AsioEventLoop(asio::io_context& io) : io_(io) {}
  std::unique_ptr<FdWatch> Watch(int fd, std::function<void()> on_readable,
                                 std::function<void()> on_writable) override;

 private:
  asio::io_context& io_;
};

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_RELAY_ASIO_EVENT_LOOP_H_
