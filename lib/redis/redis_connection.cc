// RedisConnection: one hiredis connection with bounded round trips, EVALSHA with NOSCRIPT reload,
// pipelines and pub/sub reads; SIGPIPE is blocked around writes.
#include "lib/redis/redis_connection.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include <cerrno>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace pwgrid::internal {
namespace {

timeval TimevalOf(absl::Duration d) { return absl::ToTimeval(d); }

}  // namespace

RedisValue RedisValueOf(const redisReply* r) {
  RedisValue v;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      v.type = RedisValue::Type::kInteger;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      v.type = RedisValue::Type::kString;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      v.type = RedisValue::Type::kStatus;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      v.type = RedisValue::Type::kError;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      v.type = RedisValue::Type::kArray;
      v.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) v.elements.push_back(RedisValueOf(r->element[i]));
      break;
    default: v.type = RedisValue::Type::kNil;
  }
  return v;
}

namespace {

// hiredis 0.14 allocates an array reply's element table from the count the server announces,
// before any element arrives: "*444444444\r\n" alone asks for 3.5 GB (found by
// tests/fuzz/redis_reply_fuzz). pwgrid's largest replies hold two entries per worker, so arrays
// are bounded; a larger one is a protocol error, and the connection is dropped and rebuilt.
constexpr int kMaxArrayElements = 1 << 20;

void* CreateBoundedArray(const redisReadTask* task, int elements) {
  if (elements > kMaxArrayElements) return nullptr;  // hiredis: "Out of memory", a reader error
  const auto* defaults = static_cast<const redisReplyObjectFunctions*>(task->privdata);
  return defaults->createArray(task, elements);
}

void* CreateString(const redisReadTask* t, char* s, size_t n) {
  return static_cast<const redisReplyObjectFunctions*>(t->privdata)->createString(t, s, n);
}
void* CreateInteger(const redisReadTask* t, long long v) {
  return static_cast<const redisReplyObjectFunctions*>(t->privdata)->createInteger(t, v);
}
void* CreateNil(const redisReadTask* t) {
  return static_cast<const redisReplyObjectFunctions*>(t->privdata)->createNil(t);
}

// hiredis' own reply functions, with arrays bounded; they find hiredis' functions through the
// reader's privdata (which its default functions do not use).
constexpr redisReplyObjectFunctions kBoundedFunctions = {CreateString, CreateBoundedArray,
                                                         CreateInteger, CreateNil, freeReplyObject};

}  // namespace

void BoundReplies(redisReader* reader) {
  if (reader == nullptr || reader->fn == &kBoundedFunctions) return;
  reader->privdata = reader->fn;
  reader->fn = const_cast<redisReplyObjectFunctions*>(&kBoundedFunctions);
}

void ToArgv(const std::vector<std::string>& args, std::vector<const char*>& argv,
            std::vector<size_t>& lens) {
  argv.clear();
  lens.clear();
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
}

ScopedSigpipeBlock::ScopedSigpipeBlock() {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, &old_);
  sigset_t pending;
  sigpending(&pending);
  was_pending_ = sigismember(&pending, SIGPIPE) == 1;
}

ScopedSigpipeBlock::~ScopedSigpipeBlock() {
  if (!was_pending_) {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) == 1) {
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      const timespec zero{0, 0};
      while (sigtimedwait(&pipe, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

absl::StatusOr<std::vector<RedisValue>> DecodeRedisReplies(std::string_view bytes) {
  redisReader* reader = redisReaderCreate();
  if (reader == nullptr) return absl::ResourceExhaustedError("cannot create a RESP reader");
  BoundReplies(reader);
  std::vector<RedisValue> out;
  absl::Status status;
  if (redisReaderFeed(reader, bytes.data(), bytes.size()) != REDIS_OK) {
    status = absl::InvalidArgumentError("cannot feed the RESP reader");
  }
  while (status.ok()) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
      status = absl::InvalidArgumentError(absl::StrCat("RESP protocol error: ", reader->errstr));
      break;
    }
    if (raw == nullptr) break;  // no complete reply left
    out.push_back(RedisValueOf(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  redisReaderFree(reader);
  if (!status.ok()) return status;
  return out;
}

std::string Describe(const RedisEndpoint& endpoint) {
  return absl::StrCat(endpoint.host, ":", endpoint.port);
}

RedisConnection::~RedisConnection() { Close(); }

void RedisConnection::Close() {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
}

absl::Status RedisConnection::IoError(std::string_view what) {
  std::string detail = ctx_ != nullptr && ctx_->err != 0 ? std::string(ctx_->errstr) : "no reply";
  if (detail.empty()) detail = "connection lost";
  Close();
  return absl::UnavailableError(absl::StrCat("Redis at ", Describe(endpoint_), ": ",
                                             absl::string_view(what.data(), what.size()), ": ",
                                             detail));
}

absl::Status RedisConnection::Connect() {
  ScopedSigpipeBlock no_sigpipe;
  Close();
  ctx_ = redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port,
                                 TimevalOf(endpoint_.connect_timeout));
  if (ctx_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("Redis at ", Describe(endpoint_), ": cannot allocate a connection"));
  }
  if (ctx_->err != 0) return IoError("connect");
  BoundReplies(ctx_->reader);
  // hiredis 0.14 cannot create its socket close-on-exec; mark it at once (children started by
  // pwgrid close every inherited descriptor anyway, which covers the moment in between).
  ::fcntl(ctx_->fd, F_SETFD, FD_CLOEXEC);
  if (endpoint_.command_timeout > absl::ZeroDuration() &&
      redisSetTimeout(ctx_, TimevalOf(endpoint_.command_timeout)) != REDIS_OK) {
    return IoError("set timeout");
  }
  redisEnableKeepAlive(ctx_);
  // AUTH, SELECT and a PING that proves the server answers.
  std::vector<std::vector<std::string>> hello;
  if (!endpoint_.password.empty()) hello.push_back({"AUTH", endpoint_.password});
  if (endpoint_.db != 0) hello.push_back({"SELECT", absl::StrCat(endpoint_.db)});
  hello.push_back({"PING"});
  absl::StatusOr<std::vector<RedisValue>> replies = Pipeline(hello);
  if (!replies.ok()) return replies.status();
  for (const RedisValue& r : *replies) {
    if (r.is_error()) {
      Close();
      // Never echo the password; the server's message names the problem.
      return absl::UnavailableError(
          absl::StrCat("Redis at ", Describe(endpoint_), " refused the connection: ", r.str));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RedisValue> RedisConnection::Command(const std::vector<std::string>& args) {
  absl::StatusOr<std::vector<RedisValue>> r = Pipeline({args});
  if (!r.ok()) return r.status();
  return std::move(r->front());
}

absl::StatusOr<std::vector<RedisValue>> RedisConnection::Pipeline(
    const std::vector<std::vector<std::string>>& cmds) {
  ScopedSigpipeBlock no_sigpipe;
  if (ctx_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("Redis at ", Describe(endpoint_), " is not connected"));
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& args : cmds) {
    ToArgv(args, argv, lens);
    if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
        REDIS_OK) {
      return IoError("send");
    }
  }
  std::vector<RedisValue> out;
  out.reserve(cmds.size());
  for (size_t i = 0; i < cmds.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) return IoError("read");
    out.push_back(RedisValueOf(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  return out;
}

absl::StatusOr<RedisValue> RedisConnection::Eval(RedisScript& script,
                                                 const std::vector<std::string>& keys,
                                                 const std::vector<std::string>& args) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (script.sha.empty()) {
      absl::StatusOr<RedisValue> loaded = Command({"SCRIPT", "LOAD", script.source});
      if (!loaded.ok()) return loaded.status();
      if (loaded->type != RedisValue::Type::kString) {
        return absl::InternalError(absl::StrCat("SCRIPT LOAD failed: ", loaded->str));
      }
      script.sha = loaded->str;
    }
    std::vector<std::string> cmd = {"EVALSHA", script.sha, absl::StrCat(keys.size())};
    cmd.insert(cmd.end(), keys.begin(), keys.end());
    cmd.insert(cmd.end(), args.begin(), args.end());
    absl::StatusOr<RedisValue> r = Command(cmd);
    if (!r.ok()) return r.status();
    if (r->is_error() && absl::StartsWith(r->str, "NOSCRIPT")) {
      script.sha.clear();  // Redis restarted or flushed its scripts: load again
      continue;
    }
    if (r->is_error()) return absl::InternalError(absl::StrCat("Redis script error: ", r->str));
    return r;
  }
  return absl::InternalError("Redis keeps answering NOSCRIPT");
}

absl::Status RedisConnection::Send(const std::vector<std::string>& args) {
  ScopedSigpipeBlock no_sigpipe;
  if (ctx_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("Redis at ", Describe(endpoint_), " is not connected"));
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  ToArgv(args, argv, lens);
  if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
      REDIS_OK) {
    return IoError("send");
  }
  int done = 0;
  while (done == 0) {
    if (redisBufferWrite(ctx_, &done) != REDIS_OK) return IoError("send");
  }
  return absl::OkStatus();
}

absl::StatusOr<RedisValue> RedisConnection::Receive(absl::Duration timeout, bool* got) {
  *got = false;
  if (ctx_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("Redis at ", Describe(endpoint_), " is not connected"));
  }
  void* raw = nullptr;
  if (redisGetReplyFromReader(ctx_, &raw) != REDIS_OK) return IoError("read");
  if (raw == nullptr) {
    pollfd pfd{ctx_->fd, POLLIN, 0};
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
    const int n = ::poll(&pfd, 1, ms);
    if (n == 0) return RedisValue{};
    if (n < 0) return RedisValue{};  // EINTR: the caller loops
    if (redisBufferRead(ctx_) != REDIS_OK) return IoError("read");
    if (redisGetReplyFromReader(ctx_, &raw) != REDIS_OK) return IoError("read");
    if (raw == nullptr) return RedisValue{};
  }
  *got = true;
  RedisValue v = RedisValueOf(static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return v;
}

}  // namespace pwgrid::internal
