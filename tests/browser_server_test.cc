// BrowserServer with fake launchers (shell scripts run in place of node): a start timeout is
// DeadlineExceeded, a launcher error is Internal with its message, a launcher that dies says
// why with its last stderr lines, Stop() escalates to SIGKILL and ends the browser's own
// process group, a crashed server is detected. And the real launcher is found beside the
// library, not by a source path.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "pwgrid/browser_server.h"
#include "pwgrid/testing/status_macros.h"
#include "tests/relay_grid.h"

namespace pwgrid {
namespace {

// A temporary directory with a launcher script and the files it writes.
struct Scratch {
  Scratch() {
    char tmpl[] = "/tmp/pwgrid-launcher-XXXXXX";
    dir = ::mkdtemp(tmpl);
  }
  ~Scratch() { (void)std::system(("rm -rf " + dir).c_str()); }

  BrowserServerOptions Launcher(const std::string& body) {
    std::ofstream(dir + "/launcher.sh") << "echo $$ > " << dir << "/pid\n" << body << "\n";
    BrowserServerOptions o;
    o.node_path = "/bin/sh";  // runs `sh launcher.sh`, as the library runs `node launcher.mjs`
    o.launcher_path = dir + "/launcher.sh";
    o.start_timeout = absl::Seconds(5);
    o.stop_timeout = absl::Milliseconds(300);
    return o;
  }
  pid_t Pid(const std::string& name = "pid") const {
    std::string text;
    std::getline(std::ifstream(dir + "/" + name), text);
    int pid = 0;
    return absl::SimpleAtoi(text, &pid) ? pid : -1;
  }

  std::string dir;
};

bool Gone(pid_t pid) { return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH; }

constexpr char kReport[] =
    R"(echo '{"wsEndpoint":"ws://127.0.0.1:9/playwright/x","browserPid":'"$browser"',"playwrightVersion":"1.65.1"}')";

TEST_CASE("no endpoint within start_timeout is DeadlineExceeded, and the launcher is gone") {
  Scratch s;
  BrowserServerOptions o = s.Launcher("exec sleep 30");
  o.start_timeout = absl::Milliseconds(300);
  auto server = LaunchBrowserServer(o);
  CHECK(absl::IsDeadlineExceeded(server.status()));
  CHECK(Gone(s.Pid()));
}

TEST_CASE("a launcher's error line is Internal with its message") {
  Scratch s;
  auto server =
      LaunchBrowserServer(s.Launcher(R"(echo '{"error":"no such browser: opera"}'; exit 1)"));
  CHECK(absl::IsInternal(server.status()));
  CHECK(server.status().message().find("no such browser: opera") != absl::string_view::npos);
}

TEST_CASE("a launcher that dies says why, with its last stderr lines") {
  Scratch s;
  auto server = LaunchBrowserServer(s.Launcher(
      "echo 'node:internal/modules/esm/resolve' >&2\n"
      "echo \"Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'playwright-core'\" >&2\nexit 1"));
  REQUIRE(absl::IsInternal(server.status()));
  const std::string message(server.status().message());
  CHECK(message.find("exited before reporting an endpoint") != std::string::npos);
  CHECK(message.find("(exit status 1)") != std::string::npos);
  CHECK(message.find("Cannot find package 'playwright-core'") != std::string::npos);
}

TEST_CASE("stderr still goes to log_path") {
  Scratch s;
  BrowserServerOptions o =
      s.Launcher(std::string("echo started >&2\nbrowser=0\n") + kReport + "\nexec sleep 30");
  o.log_path = s.dir + "/browser.log";
  auto server = LaunchBrowserServer(o);
  PWGRID_REQUIRE_OK(server.status());
  (void)(*server)->Stop();
  std::string line;
  std::getline(std::ifstream(o.log_path), line);
  CHECK(line == "started");
}

TEST_CASE("Stop escalates to SIGKILL and ends the browser's own process group") {
  Scratch s;
  // The "browser" is in a session (and process group) of its own, as Playwright starts Chromium;
  // the launcher ignores SIGTERM.
  auto server = LaunchBrowserServer(s.Launcher(
      std::string(
          "d=$(dirname \"$0\")\n"
          "setsid sh -c 'echo $$ > \"$1\"; exec sleep 60' sh \"$d/browser\" &\n"
          "n=0; while [ ! -s \"$d/browser\" ] && [ $n -lt 500 ]; do sleep 0.01; n=$((n+1)); done\n"
          "browser=$(cat \"$d/browser\")\ntrap '' TERM\n") +
      kReport + "\nwhile :; do sleep 1; done"));
  PWGRID_REQUIRE_OK(server.status());
  CHECK((*server)->ws_endpoint() == "ws://127.0.0.1:9/playwright/x");
  CHECK((*server)->playwright_version() == "1.65.1");
  CHECK((*server)->Running());
  const pid_t launcher = s.Pid();
  const pid_t browser = s.Pid("browser");
  REQUIRE(browser > 0);
  PWGRID_CHECK_OK((*server)->Stop());
  CHECK(Gone(launcher));
  CHECK(Eventually([&] { return Gone(browser); }, absl::Seconds(5)));  // reaped by init
  CHECK_FALSE((*server)->Running());
}

TEST_CASE("a browser server that crashed is detected") {
  Scratch s;
  auto server =
      LaunchBrowserServer(s.Launcher(std::string("browser=0\n") + kReport + "\nexec sleep 60"));
  PWGRID_REQUIRE_OK(server.status());
  REQUIRE((*server)->Running());
  ::kill(s.Pid(), SIGKILL);
  CHECK(Eventually([&] { return !(*server)->Running(); }, absl::Seconds(5)));
}

TEST_CASE("the launcher is found beside the library, not in the source tree") {
  ::unsetenv("PWGRID_LAUNCHER");
  const std::string path = DefaultLauncherPath();
  CHECK(::access(path.c_str(), R_OK) == 0);
  CHECK(absl::EndsWith(path, "/browser_launcher.mjs"));
  CHECK(path.find("/server/") == std::string::npos);
  ::setenv("PWGRID_LAUNCHER", "/opt/x/launcher.mjs", 1);
  CHECK(DefaultLauncherPath() == "/opt/x/launcher.mjs");
  ::unsetenv("PWGRID_LAUNCHER");
}

}  // namespace
}  // namespace pwgrid
