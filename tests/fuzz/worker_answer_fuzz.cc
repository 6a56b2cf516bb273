// libFuzzer harness: a worker's answer to the relay's upgrade (ParseWorkerAnswer, websocketpp's
// response parser, and the body framing the relay uses to pass a refusal on), and the chunked
// body check (ChunkedBodyComplete) on every suffix of it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/relay/upgrade.h"

using namespace pwgrid::internal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const size_t end = bytes.find("\r\n\r\n");
  if (end != std::string_view::npos) {
    const WorkerAnswer a = ParseWorkerAnswer(bytes.substr(0, end + 4));
    if (a.framing.kind == BodyFraming::Kind::kChunked) {
      (void)ChunkedBodyComplete(bytes.substr(end + 4));
    }
  }
  (void)ParseWorkerAnswer(bytes);
  (void)ChunkedBodyComplete(bytes);
  return 0;
}
