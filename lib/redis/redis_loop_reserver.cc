// The Redis registry's LoopReserver (lib/selector/loop_acquire.h): the selection script sent on
// an asynchronous connection that runs on the caller's event loop (a relay I/O thread), so that
// an uncontended connect in Redis mode costs one Redis round trip and no thread wake-up.
//
// The script is the one Reserve() runs (it never queues: with a client waiting grid-wide it
// answers "queued first", and the caller falls back to the selector, which queues). A reservation
// made here is adopted by the registry as Reserve()'s are (renewed, released, replayed after a
// reconnect). The connection is made on first use; after a failure the next one waits for the
// registry's reconnect backoff, and meanwhile every request goes the selector's way.
#include <utility>

#include "absl/strings/match.h"
#include "lib/redis/redis_async.h"
#include "lib/redis/redis_registry.h"

namespace pwgrid::internal {
namespace {

class RedisLoopReserver : public LoopReserver {
 public:
  RedisLoopReserver(RedisWorkerRegistry* registry, EventLoop* loop)
      : registry_(registry),
        loop_(loop),
        options_(registry->options()),
        source_(WithPrelude(kLuaSelect)),
        backoff_(options_.reconnect_backoff_min, options_.reconnect_backoff_max) {}

  bool Reserve(const ReserveRequest& request, Done done) override {
    if (!Connected()) return false;
    std::string lease_id = registry_->NextLeaseId();
    std::vector<std::string> args = SelectArgs(request, lease_id, options_.lease_ttl);
    return Send(std::move(args), request, std::move(lease_id), std::move(done));
  }

  absl::Duration timeout() const override { return options_.command_timeout; }

  void Abandon() override {
    if (conn_ != nullptr) conn_->Close();
    Failed();
  }

 private:
  // Up, or being made now; false while the backoff after a failure runs.
  bool Connected() {
    if (conn_ != nullptr && !conn_->broken()) return true;
    if (options_.clock->Now() < next_attempt_) return false;
    absl::StatusOr<std::unique_ptr<RedisAsyncConnection>> c =
        RedisAsyncConnection::Open(EndpointFrom(options_, /*blocking=*/false), loop_);
    if (!c.ok()) {
      Failed();
      return false;
    }
    conn_ = *std::move(c);
    sha_.clear();
    conn_->Command({"SCRIPT", "LOAD", source_}, [this](absl::StatusOr<RedisValue> r) {
      if (r.ok() && r->type == RedisValue::Type::kString) sha_ = r->str;
    });
    return true;
  }

  void Failed() { next_attempt_ = options_.clock->Now() + backoff_.Next(); }

  // EVALSHA once the script's digest is known (EVAL before, and again after a NOSCRIPT).
  bool Send(std::vector<std::string> args, const ReserveRequest& request, std::string lease_id,
            Done done) {
    std::vector<std::string> cmd;
    cmd.reserve(args.size() + 3);
    const bool by_sha = !sha_.empty();
    cmd.push_back(by_sha ? "EVALSHA" : "EVAL");
    cmd.push_back(by_sha ? sha_ : source_);
    cmd.push_back("0");
    cmd.insert(cmd.end(), args.begin(), args.end());
    auto on_reply = [this, by_sha, args = std::move(args), request, lease_id = std::move(lease_id),
                     done = std::move(done)](absl::StatusOr<RedisValue> r) mutable {
      if (!r.ok()) {
        Failed();
        done(std::nullopt);
        return;
      }
      backoff_.Reset();
      if (by_sha && r->is_error() && absl::StartsWith(r->str, "NOSCRIPT")) {
        sha_.clear();  // Redis restarted or flushed its scripts: EVAL loads it again
        if (conn_ == nullptr || conn_->broken()) {
          done(std::nullopt);
          return;
        }
        (void)Send(std::move(args), request, std::move(lease_id), std::move(done));
        return;
      }
      absl::StatusOr<std::optional<Reservation>> adopted =
          r->is_error() ? absl::InternalError(r->str)
                        : registry_->AdoptReservation(*r, request, lease_id);
      done(adopted.ok() ? *std::move(adopted) : std::nullopt);
    };
    return conn_->Command(cmd, std::move(on_reply));
  }

  RedisWorkerRegistry* const registry_;
  EventLoop* const loop_;
  const RedisRegistryOptions& options_;
  const std::string source_;
  std::string sha_;
  Backoff backoff_;
  absl::Time next_attempt_ = absl::InfinitePast();
  std::unique_ptr<RedisAsyncConnection> conn_;  // last: destroyed first, dropping its callbacks
};

}  // namespace

std::unique_ptr<LoopReserver> RedisWorkerRegistry::OpenLoopReserver(EventLoop* loop) {
  return std::make_unique<RedisLoopReserver>(this, loop);
}

}  // namespace pwgrid::internal
