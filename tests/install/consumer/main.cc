// A host of an installed libpwgrid: an in-memory registry, a FakeWorker, a selector and a relay;
// one message through the relay and back. Built by tests/install/install_test.sh twice: through
// `pkg-config pwgrid pwgrid-testing`, and as a meson project with pwgrid as a subproject.
#include <cstdio>

#include "pwgrid/pwgrid.h"
#include "pwgrid/testing/fake_worker.h"
#include "pwgrid/testing/ws_test_client.h"

int main() {
  std::printf("libpwgrid %s (headers %s)\n", pwgrid::VersionString(), PWGRID_VERSION_STRING);
  auto registry = pwgrid::NewInMemoryWorkerRegistry({});
  auto worker = pwgrid::testing::FakeWorker::Start();
  if (!registry.ok() || !worker.ok()) return 1;
  pwgrid::WorkerInfo info;
  info.id = "chromium:" + pwgrid::NewUuid();
  info.endpoint = (*worker)->ws_endpoint();
  if (!(*registry)->Register(info, absl::Seconds(60)).ok()) return 1;
  auto selector = pwgrid::NewRegistrySelector(registry->get(), {});
  if (!selector.ok()) return 1;
  pwgrid::RelayOptions options;
  options.port = 0;
  auto relay = pwgrid::Relay::Create(options, selector->get());
  if (!relay.ok() || !(*relay)->Start().ok()) return 1;
  auto client = pwgrid::testing::WsTestClient::Connect(
      "ws://127.0.0.1:" + std::to_string((*relay)->port()) + "/?browser=chromium");
  if (!client.ok()) {
    std::fprintf(stderr, "connect: %s\n", client.status().ToString().c_str());
    return 1;
  }
  if (!(*client)->SendText("hello through pwgrid").ok()) return 1;
  auto echo = (*client)->Receive();
  if (!echo.ok() || echo->data != "hello through pwgrid") return 1;
  std::printf("echo: %s\n", echo->data.c_str());
  (void)(*client)->Close(1000);
  (*relay)->Stop(absl::Seconds(1));
  return 0;
}
