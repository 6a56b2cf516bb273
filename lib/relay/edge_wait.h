// AsyncEdgeWait: a readiness wait on a relayed socket that costs no system call to start.
//
// Asio's async_wait re-arms the descriptor with one epoll_ctl(EPOLL_CTL_MOD) per wait (its
// reactor starts wait operations without speculation), which is one system call per relayed
// message beyond nginx's epoll_wait + recv + send. Asio's reactor registers every socket once,
// edge-triggered, and keeps a "may be ready" flag per direction that it sets when an event
// arrives and clears when an operation reports the descriptor exhausted. This wait is an
// operation of that reactor that reports "done and exhausted": started while the flag is set (an
// event came since the last wait), it completes at once (the caller's read or write then finds
// out, and an EAGAIN brings it back here with the flag cleared); otherwise it is queued with no
// system call and completes on the next edge. Completion can be spurious, never lost: callers
// read or write until EAGAIN or a short read, as the byte pipe does.
//
// Built on Asio's reactor internals (asio/detail, Asio 1.22 as Debian 12 ships it): the epoll
// reactor, its per-descriptor data and the handler allocation of its own wait operation. C++17:
// Asio types. Internal header.
#ifndef PWGRID_LIB_RELAY_EDGE_WAIT_H_
#define PWGRID_LIB_RELAY_EDGE_WAIT_H_

#include "lib/common/internal.h"

#include <asio.hpp>
#include <utility>

namespace pwgrid::internal {

// asio::detail::reactive_wait_op, but reporting the descriptor exhausted.
template <typename Handler, typename IoExecutor>
class EdgeWaitOp : public asio::detail::reactor_op {
 public:
  ASIO_DEFINE_HANDLER_PTR(EdgeWaitOp);

  EdgeWaitOp(const asio::error_code& success_ec, Handler& handler, const IoExecutor& io_ex)
      : reactor_op(success_ec, &EdgeWaitOp::DoPerform, &EdgeWaitOp::DoComplete),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  static status DoPerform(reactor_op*) { return done_and_exhausted; }

  static void DoComplete(void* owner, asio::detail::operation* base, const asio::error_code&,
                         std::size_t) {
    auto* o = static_cast<EdgeWaitOp*>(base);
    ptr p = {std::addressof(o->handler_), o, o};
    asio::detail::handler_work<Handler, IoExecutor> w(std::move(o->work_));
    asio::detail::binder1<Handler, asio::error_code> handler(o->handler_, o->ec_);
    p.h = std::addressof(handler.handler_);
    p.reset();
    if (owner) {
      asio::detail::fenced_block b(asio::detail::fenced_block::half);
      w.complete(handler, handler.handler_);
    }
  }

 private:
  Handler handler_;
  asio::detail::handler_work<Handler, IoExecutor> work_;
};

// The reactor of `io` (one lookup; keep it).
inline asio::detail::reactor& ReactorOf(asio::io_context& io) {
  return asio::use_service<asio::detail::reactor>(io);
}

// Waits until `socket` may be readable (wait_read) or writable (wait_write); see above.
// `reactor`: ReactorOf() of the socket's io_context. The handler gets operation_aborted when the
// socket is closed or cancelled.
template <typename Handler>
void AsyncEdgeWait(asio::detail::reactor& reactor, asio::ip::tcp::socket& socket,
                   asio::ip::tcp::socket::wait_type what, Handler handler) {
  struct Access : asio::ip::tcp::socket {
    static auto& Impl(asio::ip::tcp::socket& s) {
      return (s.*(&Access::impl_)).get_implementation();
    }
  };
  using Executor = asio::ip::tcp::socket::executor_type;
  using Op = EdgeWaitOp<Handler, Executor>;
  typename Op::ptr p = {std::addressof(handler), Op::ptr::allocate(handler), nullptr};
  p.p = new (p.v) Op(asio::error_code(), handler, socket.get_executor());
  auto& impl = Access::Impl(socket);
  const int op_type = what == asio::ip::tcp::socket::wait_write ? asio::detail::reactor::write_op
                                                                : asio::detail::reactor::read_op;
  reactor.start_op(op_type, impl.socket_, impl.reactor_data_, p.p, /*is_continuation=*/true,
                   /*allow_speculative=*/true);
  p.v = p.p = nullptr;
}

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_RELAY_EDGE_WAIT_H_
