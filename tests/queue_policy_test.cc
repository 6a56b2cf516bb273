// The waiting-queue rule (queue_policy.h) on the shared vectors.
#include "pwgrid/queue_policy.h"

#include <doctest/doctest.h>

#include <vector>

#include "tests/queue_vectors.h"

namespace pwgrid {

std::optional<size_t> Apply(const testvectors::QueueVector& v) {
  std::vector<QueuedClient> queue;
  for (const std::string& t : v.tenants) {
    auto q = v.quota.find(t);
    auto h = v.held.find(t);
    const bool full =
        q != v.quota.end() && q->second > 0 && h != v.held.end() && h->second >= q->second;
    queue.push_back({t, full});
  }
  return NextInQueue(queue, v.last);
}

TEST_CASE("NextInQueue: the shared table") {
  for (const testvectors::QueueVector& v : testvectors::QueueTable()) {
    CAPTURE(v.name);
    CHECK(Apply(v) == v.expected);
  }
}

TEST_CASE("NextInQueue: an empty queue serves nobody") { CHECK(!NextInQueue({}, "").has_value()); }

TEST_CASE("NextInQueue: served in turn, the order is a fair interleaving") {
  // Tenants a (5 clients) and b (2), served one by one with the rule's own last tenant.
  std::vector<std::string> queue = {"a", "a", "a", "a", "a", "b", "b"};
  std::string last;
  std::string order;
  while (!queue.empty()) {
    std::vector<QueuedClient> q;
    for (const std::string& t : queue) q.push_back({t, false});
    std::optional<size_t> next = NextInQueue(q, last);
    REQUIRE(next.has_value());
    last = queue[*next];
    order += last;
    queue.erase(queue.begin() + static_cast<long>(*next));
  }
  CHECK(order == "ababaaa");
}

}  // namespace pwgrid
