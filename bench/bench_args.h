// Command-line handling shared by the C++ bench tools: "key=value" arguments over defaults.
#ifndef PWGRID_BENCH_BENCH_ARGS_H_
#define PWGRID_BENCH_BENCH_ARGS_H_

#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"

namespace pwgrid::bench {

// Prints "<tool>: <what>" to stderr; returns the exit status 1.
inline int Fail(const char* tool, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", tool, what.c_str());
  return 1;
}

// `defaults` overridden by argv's "key=value" arguments; nullopt (after a message) for an argument
// that is not key=value or names a key `defaults` does not have.
inline std::optional<std::map<std::string, std::string>> ParseArgs(
    const char* tool, int argc, char** argv, std::map<std::string, std::string> defaults) {
  for (int i = 1; i < argc; ++i) {
    std::vector<std::string> kv = absl::StrSplit(argv[i], absl::MaxSplits('=', 1));
    if (kv.size() != 2 || !defaults.contains(kv[0])) {
      Fail(tool, std::string("bad argument ") + argv[i]);
      return std::nullopt;
    }
    defaults[kv[0]] = kv[1];
  }
  return defaults;
}

}  // namespace pwgrid::bench

#endif  // PWGRID_BENCH_BENCH_ARGS_H_
