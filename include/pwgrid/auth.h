// Authenticator: decides whether a client's upgrade request may get a browser session. The Relay
// asks it (RelayOptions::authenticator) after the request is routed and before any worker is
// reserved; a refusal is answered 401 with WWW-Authenticate: Bearer. The client's credential is
// a token taken from, in order: `Authorization: Bearer <token>`, the password of
// `Authorization: Basic` (clients that only take a URL: ws://user:<token>@host/), or the query
// parameter `token`. The credential never reaches the worker (the Authorization header is not
// forwarded and the client's query is not part of the worker's URL) and is never logged.
//
// NewTokenAuthenticator() is the implementation pwgrid-server uses (AUTH_TOKENS); a host may pass
// its own.
//
// Thread-safety: implementations must be thread-safe: Authenticate() runs on relay I/O threads,
// must be quick and must not block.
#ifndef PWGRID_AUTH_H_
#define PWGRID_AUTH_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace pwgrid {

struct ClientCredentials {
  std::string token;      // "" when the request carried none
  std::string remote_ip;  // the client's address, as accept() reported it
};

// Who a client is, as far as the grid cares: the name logs, leases and the status API show
// (never the token), and the tenant's session quota.
struct Tenant {
  std::string name;
  // Sessions the tenant may have open at once across the grid (every proxy of a Redis grid);
  // 0: no quota. A client over it waits in the queue behind the tenant's own sessions; the queue
  // serves tenants round robin (see selector.h).
  int64_t max_sessions = 0;
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // The client's tenant when it may connect; Unauthenticated (answered 401) when it may not.
  // Other errors are answered 500.
  virtual absl::StatusOr<Tenant> Authenticate(const ClientCredentials& client) const = 0;
};

struct AccessToken {
  std::string name;          // shown instead of the token; not empty
  std::string secret;        // what the client presents; not empty
  int64_t max_sessions = 0;  // the tenant's quota (Tenant::max_sessions); 0: none
};

// Accepts exactly these tokens, compared in constant time. InvalidArgument: no token, an empty
// name or secret, or two tokens with the same secret.
absl::StatusOr<std::unique_ptr<Authenticator>> NewTokenAuthenticator(
    std::vector<AccessToken> tokens);

// Parses a token list: one entry per line or comma, each "token", "name:token" or
// "name:token:max=N" (N >= 1: the tenant's session quota); a token without a name is called
// "token<N>", N counting from 1. Blank lines and lines starting with '#' are skipped.
// InvalidArgument naming the problem and the entry's number (an empty name or token, a repeated
// token or name, a bad max=), never the token.
absl::StatusOr<std::vector<AccessToken>> ParseAccessTokens(std::string_view text);

// An Authenticator over the tokens of a file (ParseAccessTokens' format). Reload() reads the file
// again and swaps the tokens in at once, without touching open sessions; when the file cannot be
// read or parsed it keeps the tokens in use and returns the error.
// Thread-safety: thread-safe (Authenticate takes a reader lock; Reload swaps under a writer lock).
class TokenFileAuthenticator : public Authenticator {
 public:
  // NotFound/InvalidArgument: the file cannot be read, or has no valid token.
  static absl::StatusOr<std::unique_ptr<TokenFileAuthenticator>> Create(std::string path);
  ~TokenFileAuthenticator() override;

  absl::StatusOr<Tenant> Authenticate(const ClientCredentials& client) const override;
  absl::Status Reload();
  // Tokens in use now.
  size_t size() const;

 private:
  class Impl;
  explicit TokenFileAuthenticator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pwgrid

#endif  // PWGRID_AUTH_H_
