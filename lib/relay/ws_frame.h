// WebSocket framing for the relay (RFC 6455 section 5.2): following frame boundaries in a byte
// stream without buffering it, and building the close frame the relay injects. Pure: no sockets.
// C++17. Internal header.
#ifndef PWGRID_LIB_RELAY_WS_FRAME_H_
#define PWGRID_LIB_RELAY_WS_FRAME_H_

#include "lib/common/internal.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace pwgrid::internal {

// Tracks WebSocket frame boundaries in one direction of a byte stream, reading only headers.
class FrameTracker {
 public:
  void Consume(const unsigned char* data, size_t n);
  // Payload bytes of the current frame still to come, when they can pass without being looked
  // at (Skip); 0 between frames, in a header, and while a close frame's code is still read.
  unsigned long long payload_left() const {
    return code_bytes_read_ < code_bytes_wanted_ ? 0 : remaining_;
  }
  // `n` bytes, at most payload_left(), passed without Consume().
  void Skip(unsigned long long n) { remaining_ -= n; }
  // True when the stream is between frames (a frame can be injected here).
  bool at_boundary() const { return remaining_ == 0 && header_len_ == 0; }
  // True once a close frame (opcode 8) has started in this direction.
  bool close_seen() const { return close_seen_; }
  // Messages (final frames of data messages) seen so far.
  long long messages() const { return messages_; }
  // The status code of the first close frame (unmasked when the frame is masked): 1005 when it
  // has none, -1 while no close frame has started or its code has not fully arrived.
  int close_code() const { return close_code_; }

 private:
  unsigned char header_[14] = {};
  size_t header_len_ = 0;
  unsigned long long remaining_ = 0;
  bool close_seen_ = false;
  long long messages_ = 0;
  int close_code_ = -1;
  // The first close frame's code as its payload passes: bytes still to read, and its mask.
  int code_bytes_wanted_ = 0;
  int code_bytes_read_ = 0;
  unsigned char mask_[4] = {};
  unsigned char code_[2] = {};
};

// An unmasked close frame (as a server sends it) with `code` and a short `reason`.
std::string ServerCloseFrame(int code, std::string_view reason);

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_RELAY_WS_FRAME_H_
