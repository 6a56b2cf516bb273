#include "lib/net/http_util.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace pwgrid::internal {
namespace {

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool EqualFold(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Go's QueryUnescape; nullopt on a malformed escape (Go then drops the pair).
std::optional<std::string> Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = HexValue(s[i + 1]);
      const int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::pair<std::string, std::string> SplitTarget(std::string_view target) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return {std::string(target), ""};
  std::string_view query = target.substr(q + 1);
  size_t hash = query.find('#');
  if (hash != std::string_view::npos) query = query.substr(0, hash);
  return {std::string(target.substr(0, q)), std::string(query)};
}

std::optional<std::string> QueryValue(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    size_t amp = query.find_first_of("&");
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty() || pair.find(';') != std::string_view::npos) continue;  // Go rejects ';'
    size_t eq = pair.find('=');
    std::optional<std::string> k = Unescape(pair.substr(0, eq));
    std::optional<std::string> v =
        Unescape(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!k || !v) continue;
    if (*k == key) return v;
  }
  return std::nullopt;
}

bool TokenListContains(std::string_view header_value, std::string_view token) {
  while (true) {
    size_t comma = header_value.find(',');
    if (EqualFold(Trim(header_value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    header_value.remove_prefix(comma + 1);
  }
}

bool IsValidWebSocketKey(std::string_view key) {
  key = Trim(key);
  // 16 bytes in base64 are 24 characters ending in "==".
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (size_t i = 0; i < 22; ++i) {
    const char c = key[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) return false;
  }
  // The last data character may only carry 4 bits: A, Q, g or w.
  return key[21] == 'A' || key[21] == 'Q' || key[21] == 'g' || key[21] == 'w';
}

std::string PlaywrightVersionFromUserAgent(std::string_view user_agent) {
  constexpr std::string_view kPrefix = "Playwright/";
  size_t pos = user_agent.find(kPrefix);
  if (pos == std::string_view::npos) return "";
  pos += kPrefix.size();
  size_t end = pos;
  while (end < user_agent.size() &&
         (std::isalnum(static_cast<unsigned char>(user_agent[end])) || user_agent[end] == '.' ||
          user_agent[end] == '-')) {
    ++end;
  }
  return std::string(user_agent.substr(pos, end - pos));
}

namespace {
bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }
bool IsTokenChar(unsigned char c) {
  return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                                std::string_view::npos;
}
}  // namespace

bool IsCleanHeader(std::string_view name, std::string_view value) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (!IsTokenChar(c)) return false;
  }
  for (unsigned char c : value) {
    if (IsControl(c) && c != '\t') return false;
  }
  return true;
}

bool IsCleanTarget(std::string_view target) {
  for (unsigned char c : target) {
    if (IsControl(c) || c == ' ') return false;
  }
  return true;
}

std::string_view StatusText(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

std::string BuildResponse(int status, std::string_view content_type, std::string_view body,
                          const std::vector<std::string>& extra_headers, bool keep_alive) {
  std::string out = "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += StatusText(status);
  out += "\r\n";
  if (!content_type.empty()) {
    out += "Content-Type: ";
    out += content_type;
    out += "\r\n";
  }
  for (const std::string& h : extra_headers) {
    out += h;
    out += "\r\n";
  }
  if (status != 204) {
    out += "Content-Length: ";
    out += std::to_string(body.size());
    out += "\r\n";
  }
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  out += body;
  return out;
}

bool IsDroppedRequestHeader(std::string_view lower_name) {
  static constexpr std::string_view kDropped[] = {
      "host",          "connection",          "keep-alive",      "proxy-connection",
      "proxy-authorization", "te",            "trailer",         "transfer-encoding",
      "content-length", "upgrade",            "authorization",   "cookie",
      "x-forwarded-for",
  };
  return std::find(std::begin(kDropped), std::end(kDropped), lower_name) != std::end(kDropped);
}

int ResponseStatus(std::string_view head) {
  // "HTTP/1.1 101 …"
  if (head.substr(0, 5) != "HTTP/") return 0;
  size_t sp = head.find(' ');
  if (sp == std::string_view::npos || sp + 4 > head.size()) return 0;
  int code = 0;
  for (size_t i = sp + 1; i < sp + 4; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(head[i]))) return 0;
    code = code * 10 + (head[i] - '0');
  }
  return code;
}

BodyFraming ResponseBodyFraming(std::string_view head) {
  BodyFraming f;
  const int status = ResponseStatus(head);
  if ((status >= 100 && status < 200) || status == 204 || status == 304) {
    f.kind = BodyFraming::Kind::kNone;
    return f;
  }
  bool have_length = false;
  size_t line = head.find("\r\n");
  while (line != std::string_view::npos && line + 2 < head.size()) {
    const size_t start = line + 2;
    const size_t end = std::min(head.find("\r\n", start), head.size());
    const std::string_view header = head.substr(start, end - start);
    const size_t colon = header.find(':');
    line = end < head.size() ? end : std::string_view::npos;
    if (colon == std::string_view::npos) continue;
    const std::string_view name = header.substr(0, colon);
    const std::string_view value = Trim(header.substr(colon + 1));
    if (EqualFold(name, "transfer-encoding") && TokenListContains(value, "chunked")) {
      f.kind = BodyFraming::Kind::kChunked;
      return f;  // chunked wins over any Content-Length
    }
    if (EqualFold(name, "content-length") && !have_length) {
      size_t n = 0;
      bool digits = !value.empty();
      for (char c : value) {
        if (c < '0' || c > '9' || n > (size_t{1} << 40)) {
          digits = false;
          break;
        }
        n = n * 10 + static_cast<size_t>(c - '0');
      }
      if (digits) {
        have_length = true;
        f.kind = BodyFraming::Kind::kLength;
        f.length = n;
      }
    }
  }
  return f;
}

bool ChunkedBodyComplete(std::string_view body) {
  size_t at = 0;
  while (true) {
    const size_t eol = body.find("\r\n", at);
    if (eol == std::string_view::npos) return false;
    size_t size = 0;
    size_t i = at;
    for (; i < eol && HexValue(body[i]) >= 0; ++i) {
      if (size > (size_t{1} << 40)) return false;
      size = size * 16 + static_cast<size_t>(HexValue(body[i]));
    }
    if (i == at) return false;  // not a chunk size: never complete, read until close or cap
    if (size == 0) {
      // Trailer section: header lines, then an empty line.
      size_t t = eol + 2;
      while (true) {
        const size_t next = body.find("\r\n", t);
        if (next == std::string_view::npos) return false;
        if (next == t) return true;
        t = next + 2;
      }
    }
    at = eol + 2 + size + 2;  // data and its CRLF
    if (at > body.size()) return false;
  }
}

void FrameTracker::Consume(const unsigned char* data, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (remaining_ > 0) {
      const size_t skip = static_cast<size_t>(std::min<unsigned long long>(remaining_, n - i));
      remaining_ -= skip;
      i += skip;
      continue;
    }
    header_[header_len_++] = data[i++];
    if (header_len_ < 2) continue;
    const unsigned len7 = header_[1] & 0x7f;
    const size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((header_[1] & 0x80) ? 4 : 0);
    if (header_len_ < need) continue;
    unsigned long long payload = len7;
    if (len7 == 126) {
      payload = (static_cast<unsigned long long>(header_[2]) << 8) | header_[3];
    } else if (len7 == 127) {
      payload = 0;
      for (int k = 0; k < 8; ++k) payload = (payload << 8) | header_[2 + k];
    }
    const unsigned opcode = header_[0] & 0x0f;
    const bool fin = (header_[0] & 0x80) != 0;
    if (opcode == 8) close_seen_ = true;
    if (fin && opcode < 8) ++messages_;
    remaining_ = payload;
    header_len_ = 0;
  }
}

std::string ServerCloseFrame(int code, std::string_view reason) {
  reason = reason.substr(0, 123);
  std::string frame;
  frame.push_back(static_cast<char>(0x88));  // FIN + close
  frame.push_back(static_cast<char>(2 + reason.size()));
  frame.push_back(static_cast<char>((code >> 8) & 0xff));
  frame.push_back(static_cast<char>(code & 0xff));
  frame.append(reason);
  return frame;
}

}  // namespace pwgrid::internal
