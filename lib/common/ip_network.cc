// IpNetwork (see pwgrid/ip_network.h): CIDR parsing and matching over inet_pton.
#include "pwgrid/ip_network.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace pwgrid {
namespace {

// The address bytes of `text` (IPv4 in the first 4, an IPv4-mapped IPv6 address as IPv4);
// false when it is not an address literal.
bool ParseAddress(std::string_view text, bool& v4, std::array<uint8_t, 16>& bytes) {
  if (text.empty() || text.size() > 45) return false;
  char buf[46] = {};
  std::memcpy(buf, text.data(), text.size());
  bytes.fill(0);
  if (inet_pton(AF_INET, buf, bytes.data()) == 1) {
    v4 = true;
    return true;
  }
  std::array<uint8_t, 16> v6{};
  if (inet_pton(AF_INET6, buf, v6.data()) != 1) return false;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(v6.data(), kMapped, sizeof(kMapped)) == 0) {
    v4 = true;
    std::memcpy(bytes.data(), v6.data() + 12, 4);
    return true;
  }
  v4 = false;
  bytes = v6;
  return true;
}

bool PrefixEquals(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int prefix) {
  const int whole = prefix / 8;
  if (std::memcmp(a.data(), b.data(), whole) != 0) return false;
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

absl::StatusOr<IpNetwork> IpNetwork::Parse(std::string_view cidr) {
  const absl::string_view text =
      absl::StripAsciiWhitespace(absl::string_view(cidr.data(), cidr.size()));
  const size_t slash = text.find('/');
  IpNetwork n;
  const absl::string_view address = text.substr(0, slash);
  if (!ParseAddress(std::string_view(address.data(), address.size()), n.v4_, n.bytes_)) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not an IP network"));
  }
  const int max = n.v4_ ? 32 : 128;
  n.prefix_ = max;
  if (slash != std::string_view::npos) {
    const absl::string_view len = text.substr(slash + 1);
    int prefix = -1;
    if (len.empty() || len.find_first_not_of("0123456789") != absl::string_view::npos ||
        !absl::SimpleAtoi(len, &prefix) || prefix > max) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", text, "': the prefix length must be 0..", max));
    }
    n.prefix_ = prefix;
  }
  // Mask the host part, so that ToString() and comparisons see the network.
  for (int bit = n.prefix_; bit < max; ++bit) {
    n.bytes_[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  }
  return n;
}

bool IpNetwork::Contains(std::string_view address) const {
  bool v4 = true;
  std::array<uint8_t, 16> bytes{};
  if (!ParseAddress(address, v4, bytes) || v4 != v4_) return false;
  return PrefixEquals(bytes, bytes_, prefix_);
}

std::string IpNetwork::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(v4_ ? AF_INET : AF_INET6, bytes_.data(), text, sizeof(text));
  return absl::StrCat(text, "/", prefix_);
}

absl::StatusOr<std::vector<IpNetwork>> ParseIpNetworks(std::string_view list) {
  std::vector<IpNetwork> out;
  for (absl::string_view entry : absl::StrSplit(absl::string_view(list.data(), list.size()), ',')) {
    absl::StatusOr<IpNetwork> n = IpNetwork::Parse(std::string_view(entry.data(), entry.size()));
    if (!n.ok()) return n.status();
    out.push_back(*n);
  }
  return out;
}

std::vector<IpNetwork> PrivateNetworks() {
  return *ParseIpNetworks("127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,::1/128,fc00::/7");
}

bool InAnyNetwork(const std::vector<IpNetwork>& networks, std::string_view address) {
  for (const IpNetwork& n : networks) {
    if (n.Contains(address)) return true;
  }
  return false;
}

}  // namespace pwgrid
