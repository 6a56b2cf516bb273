// libFuzzer harness: the configuration loaders of pwgrid-server (LoadConfig) and pwgrid-worker
// (LoadWorkerConfig, ParseRedisUrl). Input lines "NAME=value" become the environment, lines
// starting with "--" arguments. Settings that reach outside the process are left out: host
// names (SERVER_HOST, PRIVATE_HOSTNAME would be resolved) unless they are IP literals, and
// files (AUTH_TOKENS_FILE, BROWSER_LOG). A load either succeeds or names a problem.
#include <arpa/inet.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "server/config.h"
#include "server/worker_config.h"

using namespace pwgrid::server;

namespace {

bool IsIpLiteral(const std::string& v) {
  unsigned char buf[16];
  return inet_pton(AF_INET, v.c_str(), buf) == 1 || inet_pton(AF_INET6, v.c_str(), buf) == 1;
}

bool Allowed(const std::string& name, const std::string& value) {
  if (name == "AUTH_TOKENS_FILE" || name == "BROWSER_LOG") return false;
  if (name == "SERVER_HOST" || name == "PRIVATE_HOSTNAME") return IsIpLiteral(value);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::string> env;
  std::vector<std::string> args;
  size_t at = 0;
  while (at <= text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(at, nl - at);
    at = nl + 1;
    if (line.rfind("--", 0) == 0) {
      const size_t eq = line.find('=');
      const std::string flag_name = line.substr(0, eq);
      std::string upper;
      for (char c : flag_name.substr(2))
        upper += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (Allowed(upper, eq == std::string::npos ? "" : line.substr(eq + 1))) args.push_back(line);
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string name = line.substr(0, eq);
    const std::string value = line.substr(eq + 1);
    if (Allowed(name, value)) env[name] = value;
  }
  auto lookup = [&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  absl::StatusOr<ServerConfig> server = LoadConfig(lookup, args);
  if (!server.ok() && server.status().message().empty() && !absl::IsNotFound(server.status())) {
    std::abort();  // a refusal always says why
  }
  absl::StatusOr<WorkerConfig> worker = LoadWorkerConfig(lookup, args);
  if (!worker.ok() && worker.status().message().empty() && !absl::IsNotFound(worker.status())) {
    std::abort();
  }
  (void)ParseRedisUrl(text);
  return 0;
}
