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
// A short read (fewer bytes than asked for) usually means the socket is drained, and nginx then
// waits instead of calling recv() again for its EAGAIN. That is safe only if the peer's end of
// stream cannot hide in the bytes already reported: edge-triggered epoll reports a FIN that came
// before the last report of the socket only once, in that report. WatchHangup() adds EPOLLRDHUP
// to a socket's registration, and ReportedHangup() says whether the socket's last report carried
// it (or EPOLLHUP, EPOLLERR): then the caller reads again; otherwise the end of stream, when it
// comes, brings a report of its own and completes the wait.
//
// Built on Asio's reactor internals (asio/detail, Asio 1.22 as Debian 12 ships it): the epoll
// reactor, its per-descriptor data and the handler allocation of its own wait operation. Members
// Asio keeps private are reached the standard way (an explicit instantiation, where access is not
// checked). All calls run on the socket's own I/O thread, the only thread of its io_context.
// C++17: Asio types. Internal header.
#ifndef PWGRID_LIB_RELAY_EDGE_WAIT_H_
#define PWGRID_LIB_RELAY_EDGE_WAIT_H_

#include "lib/common/internal.h"

#include <sys/epoll.h>

#include <asio.hpp>
#include <cstdint>
#include <utility>

namespace pwgrid::internal {

namespace reactor_access {

// Get(Tag{}) is the pointer to the member that Steal was instantiated with.
template <typename Tag, typename Tag::Type kMember>
struct Steal {
  friend typename Tag::Type Get(Tag) { return kMember; }
};
using Reactor = asio::detail::epoll_reactor;
using Descriptor = Reactor::descriptor_state;
// The events of the descriptor's last report (what Asio passes to its perform_io()).
struct LastEvents {
  using Type = unsigned int asio::detail::scheduler_operation::*;
  friend Type Get(LastEvents);
};
template struct Steal<LastEvents, &asio::detail::scheduler_operation::task_result_>;
struct RegisteredEvents {
  using Type = uint32_t Descriptor::*;
  friend Type Get(RegisteredEvents);
};
template struct Steal<RegisteredEvents, &Descriptor::registered_events_>;
struct EpollFd {
  using Type = int Reactor::*;
  friend Type Get(EpollFd);
};
template struct Steal<EpollFd, &Reactor::epoll_fd_>;

// Asio's implementation of `socket` (its descriptor and its reactor data).
inline auto& ImplOf(asio::ip::tcp::socket& socket) {
  struct Access : asio::ip::tcp::socket {
    static auto& Impl(asio::ip::tcp::socket& s) {
      return (s.*(&Access::impl_)).get_implementation();
    }
  };
  return Access::Impl(socket);
}

// The reactor's data of `socket`.
inline Descriptor* DescriptorOf(asio::ip::tcp::socket& socket) {
  return ImplOf(socket).reactor_data_;
}

}  // namespace reactor_access

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
  using Executor = asio::ip::tcp::socket::executor_type;
  using Op = EdgeWaitOp<Handler, Executor>;
  typename Op::ptr p = {std::addressof(handler), Op::ptr::allocate(handler), nullptr};
  p.p = new (p.v) Op(asio::error_code(), handler, socket.get_executor());
  auto& impl = reactor_access::ImplOf(socket);
  const int op_type = what == asio::ip::tcp::socket::wait_write ? asio::detail::reactor::write_op
                                                                : asio::detail::reactor::read_op;
  reactor.start_op(op_type, impl.socket_, impl.reactor_data_, p.p, /*is_continuation=*/true,
                   /*allow_speculative=*/true);
  p.v = p.p = nullptr;
}

// Adds EPOLLRDHUP to `socket`'s registration in `reactor` (one epoll_ctl). False when that
// failed: ReportedHangup() then cannot be trusted, and the caller reads until EAGAIN.
inline bool WatchHangup(asio::detail::reactor& reactor, asio::ip::tcp::socket& socket) {
  using namespace reactor_access;
  Descriptor* d = DescriptorOf(socket);
  if (d == nullptr) return false;
  uint32_t& registered = d->*Get(RegisteredEvents{});
  if ((registered & EPOLLRDHUP) != 0) return true;
  epoll_event ev{};
  ev.events = registered | EPOLLRDHUP;
  ev.data.ptr = d;
  if (::epoll_ctl(reactor.*Get(EpollFd{}), EPOLL_CTL_MOD, socket.native_handle(), &ev) != 0) {
    return false;
  }
  registered = ev.events;  // Asio's own later epoll_ctl calls keep it
  return true;
}

// Whether `socket`'s last report had the peer's end of stream (or an error) in it; see above.
inline bool ReportedHangup(asio::ip::tcp::socket& socket) {
  using namespace reactor_access;
  Descriptor* d = DescriptorOf(socket);
  if (d == nullptr) return true;
  // descriptor_state derives privately from Asio's operation: a C-style cast reaches the base.
  const auto* op = (const asio::detail::scheduler_operation*)d;  // NOLINT
  return (op->*Get(LastEvents{}) & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
}

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_RELAY_EDGE_WAIT_H_
