// A package directory that looks like playwright-core to PlaywrightCoreVersion() (a package.json
// with a name and a version, nothing else), removed when the object goes. For configuration
// tests; the end-to-end tests run real ones.
#ifndef PWGRID_TESTS_FAKE_PLAYWRIGHT_CORE_H_
#define PWGRID_TESTS_FAKE_PLAYWRIGHT_CORE_H_

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace pwgrid::testing {

class FakePlaywrightCore {
 public:
  explicit FakePlaywrightCore(const std::string& version,
                              const std::string& name = "playwright-core") {
    char tmpl[] = "/tmp/pwgrid-core-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::ofstream(dir_ + "/package.json") << "{\n  \"name\": \"" << name << "\",\n  \"version\": \""
                                          << version << "\",\n  \"main\": \"index.js\"\n}\n";
  }
  ~FakePlaywrightCore() {
    std::remove((dir_ + "/package.json").c_str());
    rmdir(dir_.c_str());
  }
  FakePlaywrightCore(const FakePlaywrightCore&) = delete;
  FakePlaywrightCore& operator=(const FakePlaywrightCore&) = delete;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace pwgrid::testing

#endif  // PWGRID_TESTS_FAKE_PLAYWRIGHT_CORE_H_
