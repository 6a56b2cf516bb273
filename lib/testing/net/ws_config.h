// websocketpp settings shared by pwgrid's test endpoints. C++17 island; not a public header.
#ifndef PWGRID_LIB_TESTING_NET_WS_CONFIG_H_
#define PWGRID_LIB_TESTING_NET_WS_CONFIG_H_

#include "lib/common/internal.h"

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>
#include <websocketpp/server.hpp>

namespace pwgrid::testing::internal {

using WsServer = websocketpp::server<websocketpp::config::asio>;
using WsClient = websocketpp::client<websocketpp::config::asio_client>;

constexpr size_t kMaxMessageBytes = size_t{256} << 20;  // Playwright's own limit

// Logging off (the default hex-dumps every payload), 256 MiB messages, TCP_NODELAY set after
// accept/connect (the socket-init hook runs too early for it).
template <typename Endpoint>
void Tune(Endpoint& ep) {
  ep.clear_access_channels(websocketpp::log::alevel::all);
  ep.clear_error_channels(websocketpp::log::elevel::all);
  ep.set_max_message_size(kMaxMessageBytes);
  ep.set_tcp_pre_init_handler([&ep](websocketpp::connection_hdl h) {
    websocketpp::lib::error_code ec;
    auto con = ep.get_con_from_hdl(h, ec);
    if (ec) return;
    asio::error_code aec;
    con->get_raw_socket().set_option(asio::ip::tcp::no_delay(true), aec);
  });
}

// 1005 and 1006 may not be sent on the wire.
inline websocketpp::close::status::value WireCloseCode(int code) {
  if (code == 1005) return 1000;
  if (code == 1006) return 1011;
  return static_cast<websocketpp::close::status::value>(code);
}

}  // namespace pwgrid::testing::internal

#endif  // PWGRID_LIB_TESTING_NET_WS_CONFIG_H_
