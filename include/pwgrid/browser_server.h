// BrowserServer: one running Playwright browser server that workers advertise to the grid.
//
// LaunchBrowserServer() runs `node browser_launcher.mjs` (playwright-core's launchServer with
// Debian's Chromium through executablePath) as a child process in its own process group and waits
// for it to report its ws endpoint. Stop() ends the whole process tree (node and the browser).
// If the parent process dies, the launcher sees its stdin close and stops the browser itself.
//
// BrowserServer is an interface so that tests can stand in other servers (FakeWorker).
// Thread-safety: implementations are thread-safe.
#ifndef PWGRID_BROWSER_SERVER_H_
#define PWGRID_BROWSER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pwgrid/types.h"

namespace pwgrid {

class BrowserServer {
 public:
  virtual ~BrowserServer() = default;
  // ws://host:port/path as reported by the server, e.g. ws://127.0.0.1:41234/playwright/<uuid>.
  virtual std::string ws_endpoint() const = 0;
  // Playwright version of the server; empty when unknown.
  virtual std::string playwright_version() const = 0;
  // False once the server has exited or crashed.
  virtual bool Running() = 0;
  // Stops the server and everything it started. Idempotent.
  virtual absl::Status Stop() = 0;
};

struct BrowserServerOptions {
  BrowserType browser = BrowserType::kChromium;
  std::string node_path = "node";                     // looked up in PATH
  std::string launcher_path;                          // empty: the launcher of this pwgrid build
  std::string executable_path = "/usr/bin/chromium";  // browser binary; empty: Playwright's own
  std::string host = "127.0.0.1";                     // bind host of the browser server
  int port = 0;                                       // 0: any free port; 0..65535
  std::string ws_path;                                // empty: /playwright/<uuid>
  bool headless = true;
  absl::Duration start_timeout = absl::Seconds(60);  // until the endpoint is reported, > 0
  absl::Duration stop_timeout = absl::Seconds(5);    // graceful close before SIGKILL, >= 0
  std::string log_path;  // node's and the browser's stderr; empty: discarded
  // The playwright-core package directory the launcher runs (its package.json names the
  // version the server reports); empty: the one installed beside the launcher (the project's
  // pinned version). So that one machine can run browser servers of several versions.
  std::string playwright_core_dir;

  absl::Status Validate() const;
};

// The launcher script of this pwgrid build (server/browser_launcher.mjs in the source tree), or
// the value of the PWGRID_LAUNCHER environment variable when set.
std::string DefaultLauncherPath();

// The version of the playwright-core package in `dir` (its package.json's "version"), as the
// launcher will report it. NotFound: no readable dir/package.json; InvalidArgument: the package
// is not playwright-core, or its version is not a Playwright version (PlaywrightMinor()).
absl::StatusOr<std::string> PlaywrightCoreVersion(const std::string& dir);

// Starts a browser server. DeadlineExceeded: no endpoint within start_timeout. Internal: the
// launcher failed (its message is included). InvalidArgument: bad options.
absl::StatusOr<std::unique_ptr<BrowserServer>> LaunchBrowserServer(
    const BrowserServerOptions& options);

}  // namespace pwgrid

#endif  // PWGRID_BROWSER_SERVER_H_
