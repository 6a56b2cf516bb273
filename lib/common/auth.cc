// The token Authenticator (see pwgrid/auth.h): a fixed set of tokens, compared in constant time.
#include "pwgrid/auth.h"

#include <set>
#include <utility>

#include "absl/status/status.h"

namespace pwgrid {
namespace {

// Equal, in a time that depends only on the lengths (not on where the first difference is).
bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  }
  return diff == 0;
}

class TokenAuthenticator : public Authenticator {
 public:
  explicit TokenAuthenticator(std::vector<AccessToken> tokens) : tokens_(std::move(tokens)) {}

  absl::StatusOr<std::string> Authenticate(const ClientCredentials& client) const override {
    if (client.token.empty()) return absl::UnauthenticatedError("no token");
    const std::string* name = nullptr;
    for (const AccessToken& t : tokens_) {  // every token is compared: no early exit
      if (ConstantTimeEquals(t.secret, client.token)) name = &t.name;
    }
    if (name == nullptr) return absl::UnauthenticatedError("unknown token");
    return *name;
  }

 private:
  const std::vector<AccessToken> tokens_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Authenticator>> NewTokenAuthenticator(
    std::vector<AccessToken> tokens) {
  if (tokens.empty()) return absl::InvalidArgumentError("no access token");
  std::set<std::string> secrets;
  for (const AccessToken& t : tokens) {
    if (t.name.empty() || t.secret.empty()) {
      return absl::InvalidArgumentError("an access token needs a name and a secret");
    }
    if (!secrets.insert(t.secret).second) {
      return absl::InvalidArgumentError("two access tokens have the same secret");
    }
  }
  return std::unique_ptr<Authenticator>(new TokenAuthenticator(std::move(tokens)));
}

}  // namespace pwgrid
