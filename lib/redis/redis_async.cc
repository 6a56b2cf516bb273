// RedisAsyncConnection: hiredis' asynchronous API over an EventLoop (see redis_async.h).
#include "lib/redis/redis_async.h"

#include <fcntl.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace pwgrid::internal {

struct RedisAsyncConnection::Pending {
  RedisAsyncConnection* conn;
  Reply done;
};

absl::StatusOr<std::unique_ptr<RedisAsyncConnection>> RedisAsyncConnection::Open(
    const RedisEndpoint& endpoint, EventLoop* loop) {
  redisAsyncContext* ctx = redisAsyncConnect(endpoint.host.c_str(), endpoint.port);
  if (ctx == nullptr || ctx->err != 0) {
    std::string why = ctx == nullptr ? "cannot allocate a connection" : ctx->errstr;
    if (ctx != nullptr) redisAsyncFree(ctx);
    return absl::UnavailableError(absl::StrCat("Redis at ", Describe(endpoint), ": ", why));
  }
  ::fcntl(ctx->c.fd, F_SETFD, FD_CLOEXEC);
  BoundReplies(ctx->c.reader);
  std::unique_ptr<RedisAsyncConnection> conn(new RedisAsyncConnection(endpoint, ctx));
  RedisAsyncConnection* self = conn.get();
  self->watch_ = loop->Watch(
      ctx->c.fd,
      [self] {
        if (self->ctx_ != nullptr) redisAsyncHandleRead(self->ctx_);
      },
      [self] {
        ScopedSigpipeBlock no_sigpipe;
        if (self->ctx_ != nullptr) redisAsyncHandleWrite(self->ctx_);
      });
  ctx->data = self;
  ctx->ev.data = self;
  ctx->ev.addRead = [](void* p) { static_cast<RedisAsyncConnection*>(p)->watch_->WantRead(true); };
  ctx->ev.delRead = [](void* p) { static_cast<RedisAsyncConnection*>(p)->watch_->WantRead(false); };
  ctx->ev.addWrite = [](void* p) {
    static_cast<RedisAsyncConnection*>(p)->watch_->WantWrite(true);
  };
  ctx->ev.delWrite = [](void* p) {
    static_cast<RedisAsyncConnection*>(p)->watch_->WantWrite(false);
  };
  // hiredis calls cleanup just before it closes the descriptor (a lost connection, a failed
  // connect, Close()): the watch lets go of it first, as the loop would otherwise later drop the
  // registration of a socket that reuses the number (a client's, which then hangs).
  ctx->ev.cleanup = [](void* p) { static_cast<RedisAsyncConnection*>(p)->watch_->Stop(); };
  redisAsyncSetDisconnectCallback(ctx, &RedisAsyncConnection::OnDisconnect);
  redisAsyncSetConnectCallback(ctx, [](const redisAsyncContext* c, int status) {
    if (status != REDIS_OK) OnDisconnect(c, status);  // hiredis frees it, without OnDisconnect
  });
  // AUTH and SELECT go first; a refusal ends the connection (its commands then fail).
  auto refuse = [self](absl::StatusOr<RedisValue> r) {
    if (r.ok() && r->is_error()) self->Close();
  };
  if (!endpoint.password.empty()) self->Command({"AUTH", endpoint.password}, refuse);
  if (endpoint.db != 0) self->Command({"SELECT", absl::StrCat(endpoint.db)}, refuse);
  return conn;
}

RedisAsyncConnection::RedisAsyncConnection(const RedisEndpoint& endpoint, redisAsyncContext* ctx)
    : endpoint_(endpoint), ctx_(ctx) {}

RedisAsyncConnection::~RedisAsyncConnection() {
  dropping_ = true;
  Close();  // hiredis' cleanup hook stops the watch before it closes the descriptor
}

void RedisAsyncConnection::Close() {
  if (ctx_ == nullptr) return;
  redisAsyncContext* ctx = ctx_;
  // Pending callbacks run from here with no reply; OnDisconnect clears ctx_. hiredis defers the
  // free when this runs inside one of its callbacks.
  redisAsyncFree(ctx);
  ctx_ = nullptr;
}

bool RedisAsyncConnection::broken() const {
  return ctx_ == nullptr || (ctx_->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)) != 0;
}

bool RedisAsyncConnection::Command(const std::vector<std::string>& args, Reply done) {
  if (broken()) return false;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  ToArgv(args, argv, lens);
  auto* p = new Pending{this, std::move(done)};
  if (redisAsyncCommandArgv(ctx_, &RedisAsyncConnection::OnReply, p, static_cast<int>(argv.size()),
                            argv.data(), lens.data()) != REDIS_OK) {
    delete p;
    return false;
  }
  ++pending_;
  return true;
}

void RedisAsyncConnection::OnReply(redisAsyncContext* ctx, void* reply, void* privdata) {
  std::unique_ptr<Pending> p(static_cast<Pending*>(privdata));
  RedisAsyncConnection* self = p->conn;
  --self->pending_;
  if (self->dropping_) return;
  if (reply == nullptr) {  // the context is being freed
    self->ctx_ = nullptr;
    std::string why = ctx->err != 0 ? std::string(ctx->errstr) : "connection closed";
    p->done(
        absl::UnavailableError(absl::StrCat("Redis at ", Describe(self->endpoint_), ": ", why)));
    return;
  }
  p->done(RedisValueOf(static_cast<redisReply*>(reply)));
}

void RedisAsyncConnection::OnDisconnect(const redisAsyncContext* ctx, int /*status*/) {
  auto* self = static_cast<RedisAsyncConnection*>(ctx->data);
  if (self != nullptr) self->ctx_ = nullptr;  // hiredis frees the context after this
}

}  // namespace pwgrid::internal
