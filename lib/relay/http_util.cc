// HTTP/1.1 text helpers of the relay (see http_util.h).
#include "lib/relay/http_util.h"

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
  while (end < user_agent.size() && (std::isalnum(static_cast<unsigned char>(user_agent[end])) ||
                                     user_agent[end] == '.' || user_agent[end] == '-')) {
    ++end;
  }
  return std::string(user_agent.substr(pos, end - pos));
}

namespace {
bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }
bool IsTokenChar(unsigned char c) {
  return std::isalnum(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
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
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
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

}  // namespace pwgrid::internal
