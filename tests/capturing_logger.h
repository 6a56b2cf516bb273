// Test helper: a Logger that keeps every record's message for assertions.
#ifndef PWGRID_TESTS_CAPTURING_LOGGER_H_
#define PWGRID_TESTS_CAPTURING_LOGGER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "pwgrid/logging.h"

namespace pwgrid {

class CapturingLogger : public Logger {
 public:
  bool Enabled(LogLevel) const override { return true; }
  void Log(const LogRecord& r) override {
    absl::MutexLock lock(&mu_);
    messages_.push_back(r.message);
  }
  bool Contains(std::string_view part) const {
    absl::MutexLock lock(&mu_);
    for (const std::string& m : messages_) {
      if (absl::StrContains(m, absl::string_view(part.data(), part.size()))) return true;
    }
    return false;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> messages_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pwgrid

#endif  // PWGRID_TESTS_CAPTURING_LOGGER_H_
