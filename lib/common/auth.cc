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
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
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
absl::StatusOr<Tenant> Match(const std::vector<AccessToken>& tokens, const std::string& token) {
  if (token.empty()) return absl::UnauthenticatedError("no token");
  const AccessToken* match = nullptr;
  for (const AccessToken& t : tokens) {
    if (ConstantTimeEquals(t.secret, token)) match = &t;
  }
  if (match == nullptr) return absl::UnauthenticatedError("unknown token");
  return Tenant{match->name, match->max_sessions};
}

// What every token set must satisfy: `entry` names one (from 1) in the message.
absl::Status CheckTokens(const std::vector<AccessToken>& tokens) {
  if (tokens.empty()) return absl::InvalidArgumentError("no access token");
  std::set<std::string> secrets;
  std::set<std::string> names;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const AccessToken& t = tokens[i];
    const std::string entry = absl::StrCat("entry ", i + 1);
    if (t.name.empty() || t.secret.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(entry, " has an empty name or token"));
    }
    if (t.max_sessions < 0) {
      return absl::InvalidArgumentError(absl::StrCat(entry, " has a negative max"));
    }
    if (!secrets.insert(t.secret).second) {
      return absl::InvalidArgumentError(absl::StrCat(entry, " repeats an earlier token"));
    }
    // Quotas and logs go by name: two tenants of one name would share a quota unseen.
    if (!names.insert(t.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(entry, " repeats the name ", t.name));
    }
  }
  return absl::OkStatus();
}

class TokenAuthenticator : public Authenticator {
 public:
  explicit TokenAuthenticator(std::vector<AccessToken> tokens) : tokens_(std::move(tokens)) {}

  absl::StatusOr<Tenant> Authenticate(const ClientCredentials& client) const override {
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
  if (tokens.ok() && tokens->empty()) tokens = absl::InvalidArgumentError("no access token");
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", tokens.status().message()));
  }
  return tokens;
}

}  // namespace

absl::StatusOr<std::vector<AccessToken>> ParseAccessTokens(std::string_view text) {
  std::vector<AccessToken> out;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(text.data(), text.size()), absl::ByAnyChar(",\n"))) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    AccessToken t;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      t.name = absl::StrCat("token", out.size() + 1);
      t.secret = std::string(line);
    } else {
      t.name = std::string(line.substr(0, colon));
      absl::string_view rest = line.substr(colon + 1);
      const size_t last = rest.rfind(':');
      if (last != absl::string_view::npos && absl::StartsWith(rest.substr(last + 1), "max=")) {
        int64_t max = 0;
        if (!absl::SimpleAtoi(rest.substr(last + 5), &max) || max < 1) {
          return absl::InvalidArgumentError(absl::StrCat(
              "entry ", out.size() + 1, ": max= must be a whole number of sessions, at least 1"));
        }
        t.max_sessions = max;
        rest = rest.substr(0, last);
      }
      t.secret = std::string(rest);
    }
    out.push_back(std::move(t));
  }
  if (out.empty()) return out;
  if (absl::Status s = CheckTokens(out); !s.ok()) return s;
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

  absl::StatusOr<Tenant> Authenticate(const ClientCredentials& client) const {
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
absl::StatusOr<Tenant> TokenFileAuthenticator::Authenticate(const ClientCredentials& client) const {
  return impl_->Authenticate(client);
}
absl::Status TokenFileAuthenticator::Reload() { return impl_->Reload(); }
size_t TokenFileAuthenticator::size() const { return impl_->size(); }

}  // namespace pwgrid
