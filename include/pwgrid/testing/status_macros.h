// doctest helpers for absl::Status: print the status message when a check fails.
#ifndef PWGRID_TESTING_STATUS_MACROS_H_
#define PWGRID_TESTING_STATUS_MACROS_H_

#include <doctest/doctest.h>

#include <string>

#include "absl/status/status.h"

#define PWGRID_CHECK_OK(expr)                            \
  do {                                                   \
    const ::absl::Status pwgrid_s_ = (expr);             \
    CHECK_MESSAGE(pwgrid_s_.ok(), pwgrid_s_.ToString()); \
  } while (0)

#define PWGRID_REQUIRE_OK(expr)                            \
  do {                                                     \
    const ::absl::Status pwgrid_s_ = (expr);               \
    REQUIRE_MESSAGE(pwgrid_s_.ok(), pwgrid_s_.ToString()); \
  } while (0)

#define PWGRID_CONCAT_INNER_(a, b) a##b
#define PWGRID_CONCAT_(a, b) PWGRID_CONCAT_INNER_(a, b)
#define PWGRID_ASSIGN_OR_REQUIRE(lhs, expr) \
  PWGRID_ASSIGN_OR_REQUIRE_IMPL_(PWGRID_CONCAT_(pwgrid_so_, __LINE__), lhs, expr)
#define PWGRID_ASSIGN_OR_REQUIRE_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  REQUIRE_MESSAGE(tmp.ok(), tmp.status().ToString());  \
  lhs = std::move(tmp).value()

#endif  // PWGRID_TESTING_STATUS_MACROS_H_
