// IpNetwork: an IPv4 or IPv6 network in CIDR notation ("10.0.0.0/8", "fd00::/8", or a single
// address, "192.168.1.7" = /32), and whether an address lies inside it. The relay uses a list of
// them (RelayOptions::allowed_worker_networks) to refuse dialling worker endpoints outside it.
// An IPv4-mapped IPv6 address (::ffff:10.1.2.3) is matched as the IPv4 address it carries.
//
// Thread-safety: a value type; const methods are safe from any thread.
#ifndef PWGRID_IP_NETWORK_H_
#define PWGRID_IP_NETWORK_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace pwgrid {

class IpNetwork {
 public:
  // InvalidArgument naming the text: not an address, or a prefix length out of range.
  static absl::StatusOr<IpNetwork> Parse(std::string_view cidr);

  // False for anything that is not an IP address literal.
  bool Contains(std::string_view address) const;
  // Canonical CIDR text, the address part masked: "10.0.0.0/8".
  std::string ToString() const;

 private:
  IpNetwork() = default;
  bool v4_ = true;
  int prefix_ = 0;
  std::array<uint8_t, 16> bytes_{};  // IPv4: the first 4
};

// A comma-separated list of networks (spaces around entries allowed). InvalidArgument: an entry
// does not parse, or the list is empty.
absl::StatusOr<std::vector<IpNetwork>> ParseIpNetworks(std::string_view list);

// Loopback and private ranges: 127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, ::1/128,
// fc00::/7. Link-local ranges (and with them cloud metadata services, 169.254.169.254) are not.
std::vector<IpNetwork> PrivateNetworks();

// True when `address` lies in one of `networks`.
bool InAnyNetwork(const std::vector<IpNetwork>& networks, std::string_view address);

}  // namespace pwgrid

#endif  // PWGRID_IP_NETWORK_H_
