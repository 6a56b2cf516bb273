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
  CHECK(ParseAccessTokens(":x").status().message() == "entry 1 has an empty name or token");
  CHECK(ParseAccessTokens("a:t\nb:t").status().message() == "entry 2 repeats an earlier token");
  CHECK(ParseAccessTokens("a:t\na:u").status().message() == "entry 2 repeats the name a");
  CHECK(ParseAccessTokens("").value().empty());
}

TEST_CASE("ParseAccessTokens: name:token:max=N gives the tenant a session quota") {
  auto t = ParseAccessTokens("ci:s3cret:max=10\nadhoc:x:y:max=1\nplain:z");
  REQUIRE(t.ok());
  REQUIRE(t->size() == 3);
  CHECK((*t)[0].secret == "s3cret");
  CHECK((*t)[0].max_sessions == 10);
  CHECK((*t)[1].secret == "x:y");
  CHECK((*t)[1].max_sessions == 1);
  CHECK((*t)[2].max_sessions == 0);
  for (const char* bad : {"a:t:max=0", "a:t:max=-1", "a:t:max=ten", "a:t:max="}) {
    INFO(bad);
    CHECK(ParseAccessTokens(bad).status().message() ==
          "entry 1: max= must be a whole number of sessions, at least 1");
  }
  // The quota reaches the tenant.
  auto auth = NewTokenAuthenticator(*t);
  PWGRID_REQUIRE_OK(auth.status());
  absl::StatusOr<Tenant> ci = (*auth)->Authenticate({"s3cret", "10.0.0.1"});
  REQUIRE(ci.ok());
  CHECK(ci->name == "ci");
  CHECK(ci->max_sessions == 10);
}

TEST_CASE("the token authenticator: the tenant's name, or Unauthenticated") {
  auto auth = NewTokenAuthenticator({{"team-a", "s3cret"}, {"team-b", "other"}});
  PWGRID_REQUIRE_OK(auth.status());
  CHECK((*auth)->Authenticate({"other", "10.0.0.1"}).value().name == "team-b");
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
  CHECK((*auth)->Authenticate({"first", ""}).value().name == "team-a");
  std::ofstream(path) << "team-a:second\nteam-b:third\n";
  PWGRID_REQUIRE_OK((*auth)->Reload());
  CHECK((*auth)->size() == 2);
  CHECK(absl::IsUnauthenticated((*auth)->Authenticate({"first", ""}).status()));
  CHECK((*auth)->Authenticate({"third", ""}).value().name == "team-b");
  std::ofstream(path) << "a:dup\nb:dup\n";
  CHECK(absl::IsInvalidArgument((*auth)->Reload()));
  CHECK((*auth)->Authenticate({"second", ""}).value().name == "team-a");  // still the last good set
  std::remove(path);
  CHECK(absl::IsNotFound((*auth)->Reload()));
  CHECK((*auth)->size() == 2);
  CHECK(absl::IsNotFound(TokenFileAuthenticator::Create(path).status()));
}

}  // namespace
}  // namespace pwgrid
