// FrameTracker and close frames: the little of RFC 6455 the relay needs after the handshake.
#include "lib/relay/ws_frame.h"

#include <algorithm>

namespace pwgrid::internal {

void FrameTracker::Consume(const unsigned char* data, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (remaining_ > 0 && code_bytes_read_ < code_bytes_wanted_) {  // the close frame's code
      code_[code_bytes_read_] = data[i++] ^ mask_[code_bytes_read_ % 4];
      ++code_bytes_read_;
      --remaining_;
      if (code_bytes_read_ == 2) close_code_ = (code_[0] << 8) | code_[1];
      continue;
    }
    if (remaining_ > 0) {
      const size_t skip = static_cast<size_t>(std::min<unsigned long long>(remaining_, n - i));
      remaining_ -= skip;
      i += skip;
      continue;
    }
    header_[header_len_++] = data[i++];
    if (header_len_ < 2) continue;
    const unsigned len7 = header_[1] & 0x7f;
    const size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((header_[1] & 0x80) ? 4 : 0);
    if (header_len_ < need) continue;
    unsigned long long payload = len7;
    if (len7 == 126) {
      payload = (static_cast<unsigned long long>(header_[2]) << 8) | header_[3];
    } else if (len7 == 127) {
      payload = 0;
      for (int k = 0; k < 8; ++k) payload = (payload << 8) | header_[2 + k];
    }
    const unsigned opcode = header_[0] & 0x0f;
    const bool fin = (header_[0] & 0x80) != 0;
    if (opcode == 8 && !close_seen_) {
      close_seen_ = true;
      const bool masked = (header_[1] & 0x80) != 0;
      for (int k = 0; k < 4; ++k) mask_[k] = masked ? header_[need - 4 + k] : 0;
      if (payload >= 2) {
        code_bytes_wanted_ = 2;
      } else {
        close_code_ = 1005;  // no status code
      }
    }
    if (fin && opcode < 8) ++messages_;
    remaining_ = payload;
    header_len_ = 0;
  }
}

std::string ServerCloseFrame(int code, std::string_view reason) {
  reason = reason.substr(0, 123);
  std::string frame;
  frame.push_back(static_cast<char>(0x88));  // FIN + close
  frame.push_back(static_cast<char>(2 + reason.size()));
  frame.push_back(static_cast<char>((code >> 8) & 0xff));
  frame.push_back(static_cast<char>(code & 0xff));
  frame.append(reason);
  return frame;
}

}  // namespace pwgrid::internal
