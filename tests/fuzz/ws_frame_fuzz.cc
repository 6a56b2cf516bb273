// libFuzzer harness: the relay's WebSocket frame tracker (RFC 6455 headers only). The first byte
// picks how the stream is cut into reads; the tracker must reach the same state whatever the
// cuts (frame boundary, close seen, messages counted), as the relay reads a stream in arbitrary
// pieces. Also builds close frames from the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lib/relay/ws_frame.h"

using namespace pwgrid::internal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + data[0] % 17;
  const uint8_t* stream = data + 1;
  const size_t n = size - 1;
  FrameTracker whole;
  whole.Consume(stream, n);
  FrameTracker pieces;
  for (size_t at = 0; at < n; at += step) pieces.Consume(stream + at, std::min(step, n - at));
  if (whole.at_boundary() != pieces.at_boundary() || whole.close_seen() != pieces.close_seen() ||
      whole.messages() != pieces.messages()) {
    std::abort();
  }
  const std::string frame =
      ServerCloseFrame(1000 + data[0], std::string_view(reinterpret_cast<const char*>(stream), n));
  FrameTracker close;
  close.Consume(reinterpret_cast<const unsigned char*>(frame.data()), frame.size());
  if (!close.at_boundary() || !close.close_seen()) std::abort();  // one whole close frame
  return 0;
}
