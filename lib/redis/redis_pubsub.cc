// The Redis registry's subscriber thread: capacity wake-ups (pwgrid:capacity), queue grants for
// this registry object (pwgrid:grant:<proxyTag>) and shutdown commands (worker:cmd:*) become
// RegistryEvents for this process's listeners. See redis_registry.h.
#include "lib/redis/redis_registry.h"

namespace pwgrid::internal {

// Pub/sub: capacity wake-ups and shutdown commands become RegistryEvents.
void RedisWorkerRegistry::RunListener() {
  RedisConnection sub(EndpointFrom(options_, /*blocking=*/true));
  Backoff backoff(options_.reconnect_backoff_min, options_.reconnect_backoff_max);
  while (!Stopping()) {
    if (!sub.connected()) {
      absl::Status s = sub.Connect();
      if (s.ok()) s = sub.Send({"SUBSCRIBE", kCapacityChannel});
      if (s.ok()) s = sub.Send({"PSUBSCRIBE", kCommandPattern});
      if (s.ok()) s = sub.Send({"SUBSCRIBE", absl::StrCat(kGrantChannelPrefix, proxy_tag_)});
      if (!s.ok()) {
        sub.Close();
        absl::MutexLock lock(&state_mu_);
        auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_) { return stop_; };
        state_mu_.AwaitWithTimeout(absl::Condition(&stopped), backoff.Next());
        continue;
      }
      backoff.Reset();
      // Anything may have changed while we were not listening.
      Notify({RegistryEvent::Kind::kCapacityChanged, ""});
    }
    bool got = false;
    absl::StatusOr<RedisValue> msg = sub.Receive(absl::Milliseconds(200), &got);
    if (!msg.ok() || !got) continue;
    const auto& e = msg->elements;
    if (e.size() == 3 && e[0].str == "message" && e[1].str != kCapacityChannel) {
      Notify({RegistryEvent::Kind::kQueueGrant, ""});  // this proxy's grant channel
    } else if (e.size() == 3 && e[0].str == "message") {
      Notify({RegistryEvent::Kind::kCapacityChanged, e[2].str});
    } else if (e.size() == 4 && e[0].str == "pmessage" && e[3].str == "shutdown") {
      const std::string& channel = e[2].str;
      Notify({RegistryEvent::Kind::kShutdownRequested,
              channel.substr(std::string_view(internal::kCommandKeyPrefix).size())});
    }
  }
}

}  // namespace pwgrid::internal
