// The upgrade request to the worker and the reading of its answer (see upgrade.h).
#include "lib/relay/upgrade.h"

#include <algorithm>
#include <iterator>
#include <websocketpp/common/memory.hpp>
#include <websocketpp/http/response.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "lib/relay/http_util.h"

namespace pwgrid::internal {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr size_t kMaxContentLength = size_t{1} << 40;

// A Content-Length value: digits only, at most 2^40. False otherwise (the body then runs until
// the worker closes).
bool ParseContentLength(std::string_view value, size_t* out) {
  if (value.empty()) return false;
  size_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9' || n > kMaxContentLength) return false;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  *out = n;
  return true;
}

}  // namespace

bool IsDroppedRequestHeader(std::string_view lower_name) {
  static constexpr std::string_view kDropped[] = {
      "host",
      "connection",
      "keep-alive",
      "proxy-connection",
      "proxy-authorization",
      "te",
      "trailer",
      "transfer-encoding",
      "content-length",
      "upgrade",
      "authorization",
      "cookie",
      "x-forwarded-for",
      "x-pwgrid-session-id",  // the relay writes its own
  };
  return std::find(std::begin(kDropped), std::end(kDropped), lower_name) != std::end(kDropped);
}

HeaderList ForwardedHeaders(const HeaderList& client_headers, bool drop_version) {
  HeaderList out;
  for (const auto& [name, value] : client_headers) {
    const std::string lower = absl::AsciiStrToLower(name);
    if (IsDroppedRequestHeader(lower)) continue;
    if (drop_version && (lower == "user-agent" || lower == "x-playwright-version")) continue;
    out.emplace_back(name, value);
  }
  return out;
}

std::string BuildWorkerRequest(const WsEndpoint& worker, const HeaderList& forwarded,
                               const std::string& client_ip, const std::string& session_id) {
  const bool v6 = worker.host.find(':') != std::string::npos;
  const std::string host = v6 ? absl::StrCat("[", worker.host, "]") : worker.host;
  std::string out = absl::StrCat("GET ", worker.path, " HTTP/1.1\r\nHost: ", host, ":", worker.port,
                                 "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
  for (const auto& [name, value] : forwarded) absl::StrAppend(&out, name, ": ", value, "\r\n");
  if (!client_ip.empty()) absl::StrAppend(&out, "X-Forwarded-For: ", client_ip, "\r\n");
  if (!session_id.empty()) absl::StrAppend(&out, "X-Pwgrid-Session-Id: ", session_id, "\r\n");
  out += "\r\n";
  return out;
}

namespace {

// True when the status line's code is three digits in 100..511. websocketpp stores the code in
// an enum whose values end at 511, so a larger one (a worker answering "HTTP/1.1 711 …") would be
// undefined behaviour inside its parser (found by tests/fuzz/worker_answer_fuzz).
bool HasPlausibleStatusCode(std::string_view head) {
  const size_t space = head.find(' ');
  if (space == std::string_view::npos || head.size() < space + 4) return false;
  const std::string_view code = head.substr(space + 1, 3);
  for (char c : code) {
    if (c < '0' || c > '9') return false;
  }
  if (head.size() > space + 4 && head[space + 4] != ' ' && head[space + 4] != '\r') return false;
  const int value = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  return value >= 100 && value <= 511;
}

}  // namespace

WorkerAnswer ParseWorkerAnswer(std::string_view head) {
  WorkerAnswer answer;
  if (!HasPlausibleStatusCode(head.substr(0, head.find("\r\n")))) return answer;
  websocketpp::http::parser::response response;
  try {
    // Only the head: the parser reads a body by Content-Length alone and throws on any other.
    response.consume(head.data(), head.size());
  } catch (...) {
    return answer;  // status 0, body until close
  }
  if (!response.headers_ready()) return answer;
  answer.status = static_cast<int>(response.get_status_code());
  if ((answer.status >= 100 && answer.status < 200) || answer.status == 204 ||
      answer.status == 304) {
    answer.framing.kind = BodyFraming::Kind::kNone;
  } else if (TokenListContains(response.get_header("Transfer-Encoding"), "chunked")) {
    answer.framing.kind = BodyFraming::Kind::kChunked;  // chunked wins over any Content-Length
  } else if (ParseContentLength(response.get_header("Content-Length"), &answer.framing.length)) {
    answer.framing.kind = BodyFraming::Kind::kLength;
  }
  return answer;
}

bool ChunkedBodyComplete(std::string_view body) {
  size_t at = 0;
  while (true) {
    const size_t eol = body.find("\r\n", at);
    if (eol == std::string_view::npos) return false;
    size_t size = 0;
    size_t i = at;
    for (; i < eol && HexValue(body[i]) >= 0; ++i) {
      if (size > kMaxContentLength) return false;
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

}  // namespace pwgrid::internal
