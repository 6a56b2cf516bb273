// Reservations on the caller's event loop (lib/selector/loop_acquire.h) against a real
// redis-server: the Redis registry's asynchronous connection answers on the loop's thread, falls
// back (nullopt or false) whenever the selector's way must decide, and survives NOSCRIPT and a
// Redis restart. The loop here is a small poll(2) loop; the relay's Asio loop is exercised by
// every Redis-mode e2e test.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/stat.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "lib/selector/loop_acquire.h"
#include "pwgrid/redis_worker_registry.h"
#include "pwgrid/selector.h"
#include "pwgrid/testing/registry_conformance.h"
#include "pwgrid/testing/status_macros.h"
#include "tests/redis_test_util.h"

namespace pwgrid {
namespace {

using testing::conformance::Load;
using testing::conformance::TestWorker;
using testing::conformance::WaitUntil;

// A single-threaded poll(2) loop: what the relay's I/O thread is to the acquirer.
class PollLoop : public internal::EventLoop {
 public:
  std::unique_ptr<internal::FdWatch> Watch(int fd, std::function<void()> on_readable,
                                           std::function<void()> on_writable) override {
    auto w = std::make_unique<Entry>(this, fd, std::move(on_readable), std::move(on_writable));
    watches_[w.get()] = w.get();
    return w;
  }

  // Runs until `done` or `limit`; false on timeout.
  bool RunUntil(const std::function<bool()>& done, absl::Duration limit = absl::Seconds(5)) {
    const absl::Time deadline = absl::Now() + limit;
    while (!done()) {
      if (absl::Now() > deadline) return false;
      std::vector<pollfd> fds;
      std::vector<Entry*> entries;
      for (auto& [key, e] : watches_) {
        const short events = (e->read ? POLLIN : 0) | (e->write ? POLLOUT : 0);
        if (events == 0) continue;
        fds.push_back({e->fd, events, 0});
        entries.push_back(e);
      }
      if (::poll(fds.data(), fds.size(), 10) <= 0) continue;
      for (size_t i = 0; i < fds.size(); ++i) {
        if (watches_.count(entries[i]) == 0) continue;  // destroyed by an earlier callback
        Entry* e = entries[i];
        if ((fds[i].revents & (POLLOUT)) && e->write) e->on_writable();
        if (watches_.count(e) == 0) continue;
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) && e->read) e->on_readable();
      }
    }
    return true;
  }

  // Watches that stopped only after their descriptor had been closed (must stay 0).
  int stopped_after_close() const { return stopped_after_close_; }

 private:
  // Each watch checks, when it stops, that its descriptor is still the file it was given: a watch
  // that outlives its descriptor would, in a real loop, later drop the registration of the
  // socket that reuses the number.
  struct Entry : internal::FdWatch {
    Entry(PollLoop* loop, int fd, std::function<void()> r, std::function<void()> w)
        : loop(loop), fd(fd), on_readable(std::move(r)), on_writable(std::move(w)) {
      struct stat st {};
      REQUIRE(::fstat(fd, &st) == 0);
      ino = st.st_ino;
    }
    ~Entry() override {
      Stop();
      loop->watches_.erase(this);
    }
    void WantRead(bool on) override { read = on && !stopped; }
    void WantWrite(bool on) override { write = on && !stopped; }
    void Stop() override {
      if (stopped) return;
      stopped = true;
      read = write = false;
      struct stat st {};
      if (::fstat(fd, &st) != 0 || st.st_ino != ino) ++loop->stopped_after_close_;
    }
    PollLoop* loop;
    int fd;
    ino_t ino = 0;
    std::function<void()> on_readable, on_writable;
    bool read = false, write = false, stopped = false;
  };
  std::map<Entry*, Entry*> watches_;
  int stopped_after_close_ = 0;
};

struct Grid {
  explicit Grid(SessionLimits limits = {2, 100}) {
    RedisRegistryOptions o = Options();
    registry = NewRegistry(o);
    SelectorOptions so;
    so.limits = limits;
    selector = NewRegistrySelector(registry.get(), so).value();
    auto* source = dynamic_cast<internal::LoopAcquireSource*>(selector.get());
    REQUIRE(source != nullptr);
    acquirer = source->OpenLoopAcquirer(&loop);
    REQUIRE(acquirer != nullptr);
  }

  // TryAcquire and run the loop until its answer: nullopt when it answered "no lease" or could
  // not try (`tried` tells which).
  std::optional<Lease> Try(bool* tried = nullptr, SelectRequest request = SelectRequest()) {
    bool answered = false;
    std::optional<Lease> got;
    std::thread::id on;
    const bool sent = acquirer->TryAcquire(request, [&](std::optional<Lease> l) {
      answered = true;
      on = std::this_thread::get_id();
      got = std::move(l);
    });
    if (tried != nullptr) *tried = sent;
    if (!sent) return std::nullopt;
    CHECK_FALSE(answered);  // never inside the call
    REQUIRE(loop.RunUntil([&] { return answered; }));
    CHECK(on == std::this_thread::get_id());
    return got;
  }

  PollLoop loop;
  std::unique_ptr<WorkerRegistry> registry;
  std::unique_ptr<Selector> selector;
  std::unique_ptr<internal::LoopAcquirer> acquirer;
};

TEST_CASE("a loop reservation is made in Redis and answered on the loop's thread") {
  Call({"FLUSHALL"});
  Grid g;
  PWGRID_REQUIRE_OK(g.registry->Register(TestWorker("chromium:1"), absl::Seconds(60)));
  bool tried = false;
  std::optional<Lease> lease = g.Try(&tried);
  CHECK(tried);
  REQUIRE(lease.has_value());
  CHECK(lease->worker().id == "chromium:1");
  CHECK(Load(*g.registry, "chromium:1")->active == 1);
  CHECK(Load(*g.registry, "chromium:1")->lifetime == 1);
  std::optional<Lease> second = g.Try();
  REQUIRE(second.has_value());
  CHECK(Load(*g.registry, "chromium:1")->active == 2);
  // Full (C = 2): no lease at once; the selector's way decides (it would queue).
  tried = false;
  CHECK_FALSE(g.Try(&tried).has_value());
  CHECK(tried);
  lease->Commit();
  lease->Release();
  second->Release();  // never committed: its lifetime count is rolled back
  CHECK(WaitUntil([&] { return Load(*g.registry, "chromium:1")->active == 0; }));
  CHECK(Load(*g.registry, "chromium:1")->lifetime == 1);
}

TEST_CASE("a loop acquirer does not try while a client waits in the selector") {
  Call({"FLUSHALL"});
  Grid g;
  SelectRequest firefox;
  firefox.browser = BrowserType::kFirefox;
  firefox.deadline = absl::Now() + absl::Seconds(30);
  bool cancelled = false;
  const uint64_t ticket =
      g.selector->Acquire(firefox, [&](absl::StatusOr<Lease> r) { cancelled = !r.ok(); });
  PWGRID_REQUIRE_OK(g.registry->Register(TestWorker("chromium:1"), absl::Seconds(60)));
  bool tried = true;
  CHECK_FALSE(g.Try(&tried).has_value());
  CHECK_FALSE(tried);  // first come, first served: the waiting client goes first
  g.selector->Cancel(ticket);
  CHECK(WaitUntil([&] { return g.selector->waiting() == 0; }));
  CHECK(g.Try().has_value());
}

TEST_CASE("a loop reservation after SCRIPT FLUSH loads the script again") {
  Call({"FLUSHALL"});
  Grid g;
  PWGRID_REQUIRE_OK(g.registry->Register(TestWorker("chromium:1"), absl::Seconds(60)));
  std::optional<Lease> first = g.Try();
  REQUIRE(first.has_value());
  Call({"SCRIPT", "FLUSH"});
  std::optional<Lease> second = g.Try();  // EVALSHA: NOSCRIPT, then EVAL
  REQUIRE(second.has_value());
  CHECK(Load(*g.registry, "chromium:1")->active == 2);
}

TEST_CASE("a loop acquirer falls back while Redis is away and reconnects after it returns") {
  Call({"FLUSHALL"});
  Grid g;
  PWGRID_REQUIRE_OK(g.registry->Register(TestWorker("chromium:1"), absl::Seconds(60)));
  REQUIRE(g.Try().has_value());
  Server().Stop(/*crash=*/true);
  // Away: an answer of nullopt (the connection broke), then no tries during the backoff.
  bool tried = false;
  CHECK_FALSE(g.Try(&tried).has_value());
  PWGRID_REQUIRE_OK(Server().Resume());
  // The registry's own connection comes back too; the worker registers again.
  REQUIRE(WaitUntil(
      [&] { return g.registry->Register(TestWorker("chromium:1"), absl::Seconds(60)).ok(); }));
  std::optional<Lease> again;
  for (int i = 0; i < 200 && !again; ++i) {
    again = g.Try();
    if (!again) absl::SleepFor(absl::Milliseconds(10));
  }
  REQUIRE(again.has_value());
  CHECK(again->worker().id == "chromium:1");
  // The broken connection's watch let go of its descriptor before hiredis closed it (seen
  // failing before: under load the relay's next client socket took the number and hung).
  CHECK(g.loop.stopped_after_close() == 0);
}

TEST_CASE("a loop reservation is renewed by its registry like any other") {
  Call({"FLUSHALL"});
  RedisRegistryOptions o = Options();
  o.lease_ttl = absl::Seconds(1);  // renewed every 333 ms
  std::unique_ptr<WorkerRegistry> registry = NewRegistry(o);
  std::unique_ptr<Selector> selector =
      NewRegistrySelector(registry.get(), SelectorOptions()).value();
  PollLoop loop;
  std::unique_ptr<internal::LoopAcquirer> acquirer =
      dynamic_cast<internal::LoopAcquireSource*>(selector.get())->OpenLoopAcquirer(&loop);
  PWGRID_REQUIRE_OK(registry->Register(TestWorker("chromium:1"), absl::Seconds(60)));
  std::optional<Lease> lease;
  bool answered = false;
  REQUIRE(acquirer->TryAcquire(SelectRequest(), [&](std::optional<Lease> l) {
    answered = true;
    lease = std::move(l);
  }));
  REQUIRE(loop.RunUntil([&] { return answered; }));
  REQUIRE(lease.has_value());
  absl::SleepFor(absl::Milliseconds(2500));  // 2.5 lease TTLs: only renewals keep it
  CHECK(Load(*registry, "chromium:1")->active == 1);
  lease->Release();
  CHECK(WaitUntil([&] { return Load(*registry, "chromium:1")->active == 0; }));
}

}  // namespace
}  // namespace pwgrid
