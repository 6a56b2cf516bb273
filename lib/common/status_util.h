// Internal helpers for absl::Status plumbing. Not a public header.
#ifndef PWGRID_LIB_COMMON_STATUS_UTIL_H_
#define PWGRID_LIB_COMMON_STATUS_UTIL_H_

#include "lib/common/internal.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PWGRID_RETURN_IF_ERROR(expr)           \
  do {                                         \
    ::absl::Status pwgrid_rie_ = (expr);       \
    if (!pwgrid_rie_.ok()) return pwgrid_rie_; \
  } while (0)

#define PWGRID_ASSIGN_OR_RETURN_CAT_(a, b) a##b
#define PWGRID_ASSIGN_OR_RETURN_CAT(a, b) PWGRID_ASSIGN_OR_RETURN_CAT_(a, b)
#define PWGRID_ASSIGN_OR_RETURN(lhs, expr) \
  PWGRID_ASSIGN_OR_RETURN_IMPL_(PWGRID_ASSIGN_OR_RETURN_CAT(pwgrid_aor_, __LINE__), lhs, expr)
#define PWGRID_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

#endif  // PWGRID_LIB_COMMON_STATUS_UTIL_H_
