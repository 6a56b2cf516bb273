// Go-compatible JSON string escaping and the field extraction of the launcher's flat reports.
#include "lib/common/json_util.h"

#include <cstdint>
#include <cstdio>

namespace pwgrid::internal {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not valid UTF-8.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else
    return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
      (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
    return 0;
  }
  return n;
}

}  // namespace

std::string GoJsonEscape(std::string_view s, bool escape_html) {
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || (escape_html && (c == '<' || c == '>' || c == '&'))) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out += buf;
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
    } else if (n == 3 && c == 0xe2 && static_cast<uint8_t>(s[i + 1]) == 0x80 &&
               (static_cast<uint8_t>(s[i + 2]) == 0xa8 || static_cast<uint8_t>(s[i + 2]) == 0xa9)) {
      out += static_cast<uint8_t>(s[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029";
      i += n;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

namespace {

// Position just after `"name":` (and any spaces), or npos.
size_t ValueStart(std::string_view json, std::string_view name) {
  std::string key = "\"";
  key.append(name);
  key += "\"";
  size_t pos = json.find(key);
  if (pos == std::string_view::npos) return pos;
  pos += key.size();
  while (pos < json.size() && (json[pos] == ' ' || json[pos] == ':')) ++pos;
  return pos;
}

}  // namespace

std::string JsonStringField(std::string_view json, std::string_view name) {
  size_t pos = ValueStart(json, name);
  if (pos == std::string_view::npos || pos >= json.size() || json[pos] != '"') return "";
  std::string out;
  for (++pos; pos < json.size() && json[pos] != '"'; ++pos) {
    if (json[pos] == '\\' && pos + 1 < json.size()) {
      ++pos;
      switch (json[pos]) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        default: out.push_back(json[pos]);  // \" \\ \/; \uXXXX is kept literally (not needed here)
      }
    } else {
      out.push_back(json[pos]);
    }
  }
  return out;
}

std::string JsonNumberField(std::string_view json, std::string_view name) {
  size_t pos = ValueStart(json, name);
  if (pos == std::string_view::npos) return "";
  size_t end = pos;
  while (end < json.size() && ((json[end] >= '0' && json[end] <= '9') || json[end] == '-')) ++end;
  return std::string(json.substr(pos, end - pos));
}

}  // namespace pwgrid::internal
