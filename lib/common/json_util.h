// Internal JSON helpers: Go-compatible string escaping and tiny field extraction from flat
// objects written by our own launcher. Not a public header; not a general JSON parser.
#ifndef PWGRID_LIB_COMMON_JSON_UTIL_H_
#define PWGRID_LIB_COMMON_JSON_UTIL_H_

#include "lib/common/internal.h"

#include <string>
#include <string_view>

namespace pwgrid::internal {

// Escapes `s` for a JSON string exactly as Go's encoding/json does with HTML escaping on:
// \" \\ \n \r \t, other control characters and <, >, & as \u00XX, U+2028/U+2029 as \u2028/\u2029,
// and invalid UTF-8 bytes as \ufffd. `escape_html` false: <, > and & are kept as they are (a
// quoted value of a text log line, which is not embedded in HTML).
std::string GoJsonEscape(std::string_view s, bool escape_html = true);

// The value of "name":"…" (unescaped) in a flat JSON object, or "" when absent.
std::string JsonStringField(std::string_view json, std::string_view name);
// The digits of "name":123 in a flat JSON object, or "" when absent.
std::string JsonNumberField(std::string_view json, std::string_view name);

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_COMMON_JSON_UTIL_H_
