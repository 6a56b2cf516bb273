// Shared vectors of the waiting-queue rule (queue_policy.h): the in-memory test checks
// NextInQueue() against `expected`, and the Redis parity test checks the Lua queue against
// NextInQueue() on the same vectors and on random ones.
#ifndef PWGRID_TESTS_QUEUE_VECTORS_H_
#define PWGRID_TESTS_QUEUE_VECTORS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace pwgrid::testvectors {

struct QueueVector {
  const char* name;
  std::vector<std::string> tenants;  // the queue's clients in arrival order, by tenant
  std::map<std::string, int> held;   // sessions each tenant holds now
  std::map<std::string, int> quota;  // tenant_max_sessions (0 or missing: none)
  std::string last;                  // the tenant served last
  std::optional<size_t> expected;    // index into `tenants`; nullopt: nobody can be served
};

inline std::vector<QueueVector> QueueTable() {
  return {
      {"one anonymous tenant: first come, first served", {"", "", ""}, {}, {}, "", 0},
      {"one named tenant: first come, first served", {"a", "a"}, {}, {}, "a", 0},
      {"the tenant after the one served last", {"a", "a", "b", "c"}, {}, {}, "a", 2},
      {"wraps around to the smallest name", {"b", "a", "c"}, {}, {}, "c", 1},
      {"the tenant served last comes last", {"a", "a", "a"}, {}, {}, "a", 0},
      {"anonymous sorts first", {"b", ""}, {}, {}, "b", 1},
      {"after anonymous: the smallest name", {"", "b", "a"}, {}, {}, "", 2},
      {"a flood does not hold up another tenant", {"f", "f", "f", "f", "o"}, {}, {}, "f", 4},
      {"a tenant at its quota is skipped", {"a", "b"}, {{"a", 2}}, {{"a", 2}}, "", 1},
      {"below its quota it is served", {"a", "b"}, {{"a", 1}}, {{"a", 2}}, "", 0},
      {"every tenant at its quota: nobody",
       {"a", "b"},
       {{"a", 1}, {"b", 1}},
       {{"a", 1}, {"b", 1}},
       "",
       std::nullopt},
      {"no quota is no limit", {"a"}, {{"a", 9}}, {}, "", 0},
      {"the served-last tenant, at quota, is skipped", {"b", "a"}, {{"a", 1}}, {{"a", 1}}, "a", 0},
      {"an unknown last tenant rotates from its place", {"a", "c", "d"}, {}, {}, "b", 1},
  };
}

inline std::vector<QueueVector> RandomQueueVectors(int count, uint32_t seed = 20261202) {
  std::mt19937 rng(seed);
  const std::vector<std::string> names = {"", "a", "b", "c"};
  std::vector<QueueVector> out;
  for (int i = 0; i < count; ++i) {
    QueueVector v{"random", {}, {}, {}, "", std::nullopt};
    const int n = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < n; ++k) v.tenants.push_back(names[rng() % names.size()]);
    for (const std::string& t : names) {
      if (t.empty()) continue;  // anonymous clients have no quota
      v.quota[t] = static_cast<int>(rng() % 3);
      v.held[t] = static_cast<int>(rng() % 3);
    }
    const std::vector<std::string> lasts = {"", "a", "b", "c", "d"};
    v.last = lasts[rng() % lasts.size()];
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace pwgrid::testvectors

#endif  // PWGRID_TESTS_QUEUE_VECTORS_H_
