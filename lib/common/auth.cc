// The token Authenticators (see pwgrid/auth.h): a fixed set of tokens, and the tokens of a file
// that can be re-read; tokens are compared in constant time.
#include "pwgrid/auth.h"

#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"

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

// The tenant of `token` among `tokens`; every token is compared (no early exit).
absl::StatusOr<std::string> Match(const std::vector<AccessToken>& tokens,
                                  const std::string& token) {
  if (token.empty()) return absl::UnauthenticatedError("no token");
  const std::string* name = nullptr;
  for (const AccessToken& t : tokens) {
    if (ConstantTimeEquals(t.secret, token)) name = &t.name;
  }
  if (name == nullptr) return absl::UnauthenticatedError("unknown token");
  return *name;
}

absl::Status CheckTokens(const std::vector<AccessToken>& tokens) {
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
  return absl::OkStatus();
}

class TokenAuthenticator : public Authenticator {
 public:
  explicit TokenAuthenticator(std::vector<AccessToken> tokens) : tokens_(std::move(tokens)) {}

  absl::StatusOr<std::string> Authenticate(const ClientCredentials& client) const override {
    return Match(tokens_, client.token);
  }

 private:
  const std::vector<AccessToken> tokens_;
};

absl::StatusOr<std::vector<AccessToken>> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::vector<AccessToken>> tokens = ParseAccessTokens(text.str());
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", tokens.status().message()));
  }
  if (absl::Status s = CheckTokens(*tokens); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  return tokens;
}

}  // namespace

absl::StatusOr<std::vector<AccessToken>> ParseAccessTokens(std::string_view text) {
  std::vector<AccessToken> out;
  std::set<std::string> secrets;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(text.data(), text.size()), absl::ByAnyChar(",\n"))) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    AccessToken t;
    const size_t colon = line.find(':');
    t.name = colon == absl::string_view::npos ? absl::StrCat("token", out.size() + 1)
                                              : std::string(line.substr(0, colon));
    t.secret = std::string(colon == absl::string_view::npos ? line : line.substr(colon + 1));
    if (t.name.empty() || t.secret.empty()) {
      return absl::InvalidArgumentError("an entry has an empty name or token");
    }
    if (!secrets.insert(t.secret).second) {
      return absl::InvalidArgumentError("two entries have the same token");
    }
    out.push_back(std::move(t));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Authenticator>> NewTokenAuthenticator(
    std::vector<AccessToken> tokens) {
  if (absl::Status s = CheckTokens(tokens); !s.ok()) return s;
  return std::unique_ptr<Authenticator>(new TokenAuthenticator(std::move(tokens)));
}

class TokenFileAuthenticator::Impl {
 public:
  Impl(std::string path, std::vector<AccessToken> tokens)
      : path_(std::move(path)), tokens_(std::move(tokens)) {}

  absl::StatusOr<std::string> Authenticate(const ClientCredentials& client) const {
    absl::ReaderMutexLock lock(&mu_);
    return Match(tokens_, client.token);
  }
  absl::Status Reload() {
    absl::StatusOr<std::vector<AccessToken>> fresh = ReadTokenFile(path_);
    if (!fresh.ok()) return fresh.status();
    absl::WriterMutexLock lock(&mu_);
    tokens_ = *std::move(fresh);
    return absl::OkStatus();
  }
  size_t size() const {
    absl::ReaderMutexLock lock(&mu_);
    return tokens_.size();
  }

 private:
  const std::string path_;
  mutable absl::Mutex mu_;
  std::vector<AccessToken> tokens_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<TokenFileAuthenticator>> TokenFileAuthenticator::Create(
    std::string path) {
  absl::StatusOr<std::vector<AccessToken>> tokens = ReadTokenFile(path);
  if (!tokens.ok()) return tokens.status();
  return std::unique_ptr<TokenFileAuthenticator>(
      new TokenFileAuthenticator(std::make_unique<Impl>(std::move(path), *std::move(tokens))));
}

TokenFileAuthenticator::TokenFileAuthenticator(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
TokenFileAuthenticator::~TokenFileAuthenticator() = default;
absl::StatusOr<std::string> TokenFileAuthenticator::Authenticate(
    const ClientCredentials& client) const {
  return impl_->Authenticate(client);
}
absl::Status TokenFileAuthenticator::Reload() { return impl_->Reload(); }
size_t TokenFileAuthenticator::size() const { return impl_->size(); }

}  // namespace pwgrid
