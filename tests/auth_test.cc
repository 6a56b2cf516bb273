// Access tokens: parsing, the fixed-set authenticator, and the file authenticator's reload (a bad
// file keeps the tokens in use).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "pwgrid/auth.h"
#include "pwgrid/testing/status_macros.h"

namespace pwgrid {
namespace {

TEST_CASE("ParseAccessTokens: names, unnamed tokens, comments, bad entries") {
  auto t = ParseAccessTokens("# tenants\nteam-a:s3cret\n\n  other  \nteam-b:x:y\n");
  REQUIRE(t.ok());
  REQUIRE(t->size() == 3);
  CHECK((*t)[0].name == "team-a");
  CHECK((*t)[0].secret == "s3cret");
  CHECK((*t)[1].name == "token2");
  CHECK((*t)[1].secret == "other");
  CHECK((*t)[2].secret == "x:y");  // only the first ':' separates the name
  CHECK(ParseAccessTokens("a,b").value().size() == 2);
  CHECK(ParseAccessTokens(":x").status().message() == "an entry has an empty name or token");
  CHECK(ParseAccessTokens("a:t\nb:t").status().message() == "two entries have the same token");
}

TEST_CASE("the token authenticator: the tenant's name, or Unauthenticated") {
  auto auth = NewTokenAuthenticator({{"team-a", "s3cret"}, {"team-b", "other"}});
  PWGRID_REQUIRE_OK(auth.status());
  CHECK((*auth)->Authenticate({"other", "10.0.0.1"}).value() == "team-b");
  CHECK(absl::IsUnauthenticated((*auth)->Authenticate({"", "10.0.0.1"}).status()));
  CHECK(absl::IsUnauthenticated((*auth)->Authenticate({"s3cre", "10.0.0.1"}).status()));
  CHECK(absl::IsUnauthenticated((*auth)->Authenticate({"s3cret!", "10.0.0.1"}).status()));
  CHECK(absl::IsInvalidArgument(NewTokenAuthenticator({}).status()));
  CHECK(absl::IsInvalidArgument(NewTokenAuthenticator({{"a", "t"}, {"b", "t"}}).status()));
}

TEST_CASE("the file authenticator reloads, and keeps its tokens when the file turns bad") {
  char path[] = "/tmp/pwgrid-tokens-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream(path) << "team-a:first\n";
  auto auth = TokenFileAuthenticator::Create(path);
  PWGRID_REQUIRE_OK(auth.status());
  CHECK((*auth)->Authenticate({"first", ""}).value() == "team-a");
  std::ofstream(path) << "team-a:second\nteam-b:third\n";
  PWGRID_REQUIRE_OK((*auth)->Reload());
  CHECK((*auth)->size() == 2);
  CHECK(absl::IsUnauthenticated((*auth)->Authenticate({"first", ""}).status()));
  CHECK((*auth)->Authenticate({"third", ""}).value() == "team-b");
  std::ofstream(path) << "a:dup\nb:dup\n";
  CHECK(absl::IsInvalidArgument((*auth)->Reload()));
  CHECK((*auth)->Authenticate({"second", ""}).value() == "team-a");  // still the last good set
  std::remove(path);
  CHECK(absl::IsNotFound((*auth)->Reload()));
  CHECK((*auth)->size() == 2);
  CHECK(absl::IsNotFound(TokenFileAuthenticator::Create(path).status()));
}

}  // namespace
}  // namespace pwgrid
