// libFuzzer harness: what the Redis registry makes of Redis's replies: RESP bytes decoded by
// hiredis' reader into RedisValues (DecodeRedisReplies), then read as a selection reply
// (DecodeSelectReply), counters (ToInt) and hashes (HashFromArray).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/redis/redis_registry.h"

using namespace pwgrid;
using namespace pwgrid::internal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<std::vector<RedisValue>> replies =
      DecodeRedisReplies(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!replies.ok()) return 0;
  for (const RedisValue& v : *replies) {
    (void)DecodeSelectReply(v, BrowserType::kChromium);
    (void)ToInt(v);
    (void)HashFromArray(v);
    for (const RedisValue& e : v.elements) (void)ToInt(e);
  }
  return 0;
}
