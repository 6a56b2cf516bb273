// Example: a host process embeds the pwgrid Relay with the in-memory registry and runs its own
// Chromium worker. Usage: relay_in_process [port]   (default 0: any free port)
//
// It prints the worker's direct endpoint and the grid URL, then serves until stdin closes.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "pwgrid/browser_server.h"
#include "pwgrid/relay.h"
#include "pwgrid/selector.h"
#include "pwgrid/worker_registry.h"

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 0;

  // 1. Where workers live: in this process.
  auto registry = pwgrid::NewInMemoryWorkerRegistry({});
  if (!registry.ok()) return std::fprintf(stderr, "%s\n", registry.status().ToString().c_str()), 1;

  // 2. Our own worker: a Playwright browser server running Debian's Chromium.
  auto browser = pwgrid::LaunchBrowserServer({});
  if (!browser.ok()) return std::fprintf(stderr, "%s\n", browser.status().ToString().c_str()), 1;
  pwgrid::WorkerInfo worker;
  worker.id = "chromium:" + pwgrid::NewUuid();
  worker.endpoint = (*browser)->ws_endpoint();
  worker.playwright_version = (*browser)->playwright_version();
  // A host that does not heartbeat registers with a long TTL (here: one day).
  if (auto s = (*registry)->Register(worker, absl::Hours(24)); !s.ok()) {
    return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  }

  // 3. Which worker gets the next session: upstream's rule, 5 at once, recycling off here.
  pwgrid::SelectorOptions selector_options;
  selector_options.limits = {5, 1'000'000};
  selector_options.recycle_at_lifetime_limit = false;
  auto selector = pwgrid::NewRegistrySelector(registry->get(), selector_options);
  if (!selector.ok()) return std::fprintf(stderr, "%s\n", selector.status().ToString().c_str()), 1;

  // 4. The client-facing endpoint.
  pwgrid::RelayOptions relay_options;
  relay_options.listen_address = "127.0.0.1";
  relay_options.port = static_cast<uint16_t>(port);
  auto relay = pwgrid::Relay::Create(relay_options, selector->get());
  if (!relay.ok()) return std::fprintf(stderr, "%s\n", relay.status().ToString().c_str()), 1;
  if (auto s = (*relay)->Start(); !s.ok())
    return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;

  std::cout << "direct " << worker.endpoint << "\n"
            << "grid ws://127.0.0.1:" << (*relay)->port() << "/?browser=chromium\n"
            << std::flush;

  // Serve until stdin closes (Ctrl-D, or the parent process ends).
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  (*relay)->Stop(absl::Seconds(5));
  (void)(*browser)->Stop();
  return 0;
}
