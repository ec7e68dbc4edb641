#include "http/request_framer.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace pw::http {
namespace {

// The longest chunk-size line (size, extensions) a client may send.
constexpr std::size_t kMaxChunkSizeLine = 1024;

bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

char lower_char(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower_char(x) == lower_char(y); });
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Calls `each` with every trimmed, non-empty element of a comma-separated list.
template <typename Each>
bool for_each_element(std::string_view list, Each&& each) {
  while (true) {
    auto comma = list.find(',');
    auto element = trim(list.substr(0, comma));
    if (!element.empty() && !each(element)) return false;
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  // 18 digits stay far below 2^63; no body limit comes near.
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

std::optional<std::uint64_t> parse_hex(std::string_view text) {
  // 15 hex digits stay below 2^60: no overflow while adding to the body size.
  if (text.empty() || text.size() > 15) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
      digit = (c | 0x20) - 'a' + 10;
    } else {
      return std::nullopt;
    }
    value = value * 16 + static_cast<std::uint64_t>(digit);
  }
  return value;
}

bool known_method(std::string_view method) {
  static constexpr std::array<std::string_view, 9> methods = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                                              "OPTIONS", "PATCH",   "TRACE", "CONNECT"};
  return std::find(methods.begin(), methods.end(), method) != methods.end();
}

// Fields a request may carry once: two of them leave it ambiguous which one
// a proxy acted on and which one we would (a classic smuggling shape), so
// the request is refused instead of guessed at.
bool is_singleton(std::string_view name) {
  static constexpr std::array<std::string_view, 6> names = {"host",    "authorization",  "content-type",
                                                            "expect",  "idempotency-key", "x-request-id"};
  return std::any_of(names.begin(), names.end(), [&](std::string_view n) { return iequals(n, name); });
}

// Fields the server answers for itself and keeps from httplib: framing (it
// gets one Content-Length), ranges (a response to a many-range request would
// be many times its size) and the names httplib uses for peer addresses.
bool is_dropped(std::string_view name) {
  static constexpr std::array<std::string_view, 9> names = {
      "content-length", "transfer-encoding", "expect",     "range",      "if-range",
      "remote_addr",    "remote_port",       "local_addr", "local_port"};
  return std::any_of(names.begin(), names.end(), [&](std::string_view n) { return iequals(n, name); });
}

}  // namespace

std::size_t RequestFramer::feed(std::string_view input) {
  if (!input.empty() && m_state == State::idle) m_state = State::reading;
  std::size_t consumed = 0;
  while (m_state == State::reading && consumed < input.size()) {
    const std::string_view rest = input.substr(consumed);
    if (m_phase == Phase::body || m_phase == Phase::chunk_data) {
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(m_remaining, rest.size()));
      m_request.body.append(rest.data(), take);
      consumed += take;
      m_remaining -= take;
      if (m_remaining == 0) {
        if (m_phase == Phase::body) {
          finish();
        } else {
          m_phase = Phase::chunk_end;
        }
      }
      continue;
    }
    if (m_phase == Phase::chunk_end) {
      // The chunk's data must be followed by exactly CRLF.
      if (rest[0] != '\r' || (rest.size() > 1 && rest[1] != '\n')) {
        refuse(400, "a chunk is longer than its declared size");
        break;
      }
      if (rest.size() < 2) break;
      consumed += 2;
      m_phase = Phase::chunk_size;
      continue;
    }
    const std::size_t used = feed_line(rest, m_scanned);
    if (used == 0) break;
    consumed += used;
  }
  return consumed;
}

// Finds the end of the next line in `input`, checks it against the limits of
// the current phase and hands it on. Returns the bytes consumed: 0 while the
// line is incomplete (only `scanned` bytes are known to hold no newline, so
// a line that trickles in is searched once, not once per byte).
std::size_t RequestFramer::feed_line(std::string_view input, std::size_t scanned) {
  // The longest acceptable line, CRLF included.
  const std::size_t header_room =
      m_limits.max_header_bytes > m_header_bytes ? m_limits.max_header_bytes - m_header_bytes : 0;
  std::size_t limit;
  switch (m_phase) {
    case Phase::request_line: limit = std::min(m_limits.max_request_line + 2, header_room); break;
    case Phase::chunk_size: limit = kMaxChunkSizeLine; break;
    default: limit = std::min(m_limits.max_field_bytes + 2, header_room); break;
  }
  const std::size_t search_end = std::min(input.size(), limit);
  const void* found = scanned < search_end ? std::memchr(input.data() + scanned, '\n', search_end - scanned) : nullptr;
  if (found == nullptr) {
    m_scanned = search_end;
    if (input.size() < limit) return 0;  // not yet known to be too long
    if (m_phase == Phase::chunk_size) {
      refuse(400, "a chunk size line is longer than " + std::to_string(kMaxChunkSizeLine) + " bytes");
    } else if (m_phase == Phase::request_line && limit == m_limits.max_request_line + 2) {
      refuse(414, "the request line is longer than " + std::to_string(m_limits.max_request_line) + " bytes");
    } else if (m_phase != Phase::request_line && limit == m_limits.max_field_bytes + 2) {
      refuse(431, "a header field is longer than " + std::to_string(m_limits.max_field_bytes) + " bytes");
    } else {
      refuse(431, "the request headers are larger than " + std::to_string(m_limits.max_header_bytes) + " bytes");
    }
    return 0;
  }
  m_scanned = 0;
  const auto newline = static_cast<std::size_t>(static_cast<const char*>(found) - input.data());
  if (newline == 0 || input[newline - 1] != '\r') {
    refuse(400, "lines must end with CRLF");
    return 0;
  }
  const std::string_view line = input.substr(0, newline - 1);
  if (line.find('\r') != std::string_view::npos) {
    refuse(400, "a line holds a bare carriage return");
    return 0;
  }
  const std::size_t length = newline + 1;
  bool ok = true;
  switch (m_phase) {
    case Phase::request_line:
      m_header_bytes += length;
      // A few empty lines before a request are tolerated (RFC 9112 2.2):
      // some clients send CRLF after a body. They count against the limit.
      if (!line.empty()) ok = on_request_line(line);
      break;
    case Phase::fields:
      m_header_bytes += length;
      ok = on_field(line);
      break;
    case Phase::trailers:
      m_header_bytes += length;
      ok = on_trailer(line);
      break;
    case Phase::chunk_size:
      ok = on_chunk_size(line);
      break;
    default:
      break;
  }
  return ok ? length : 0;
}

bool RequestFramer::on_request_line(std::string_view line) {
  const auto first = line.find(' ');
  const auto second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos) {
    return refuse(400, "the request line is not METHOD TARGET VERSION");
  }
  const auto method = line.substr(0, first);
  const auto target = line.substr(first + 1, second - first - 1);
  const auto version = line.substr(second + 1);
  if (!is_token(method) || target.empty()) return refuse(400, "the request line is not METHOD TARGET VERSION");
  m_request.method = std::string(method);
  for (char c : target) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7F) return refuse(400, "the request target holds bytes that must be percent-encoded");
  }
  m_request.target = std::string(target);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return refuse(400, "only HTTP/1.1 and HTTP/1.0 are served");
  m_version = std::string(version);
  if (!known_method(method)) return refuse(501, "method " + std::string(method) + " is not implemented");
  m_phase = Phase::fields;
  return true;
}

bool RequestFramer::on_field(std::string_view line) {
  if (line.empty()) return on_fields_done();
  if (++m_header_count > m_limits.max_header_count) {
    return refuse(431, "the request has more than " + std::to_string(m_limits.max_header_count) + " header fields");
  }
  if (line.front() == ' ' || line.front() == '\t') return refuse(400, "folded header lines are not accepted");
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
    return refuse(400, "a header field is malformed");
  }
  const auto name = line.substr(0, colon);
  const auto value = trim(line.substr(colon + 1));
  // RFC 9110 5.5: NUL (like CR and LF, refused with the line above) must be
  // refused; other control characters may be kept, and are: the log encoder
  // escapes them, and some clients send them.
  if (value.find('\0') != std::string_view::npos) {
    return refuse(400, "header " + std::string(name) + " holds a NUL byte");
  }
  if (is_singleton(name) && !header(name).empty()) {
    return refuse(400, "header " + std::string(name) + " appears more than once");
  }
  if (iequals(name, "content-length")) {
    bool any = false;
    bool agree = for_each_element(value, [&](std::string_view element) {
      auto length = parse_decimal(element);
      if (!length || (m_content_length && *m_content_length != *length)) return false;
      m_content_length = length;
      any = true;
      return true;
    });
    if (!agree || !any) return refuse(400, "Content-Length is invalid or given twice with different values");
  } else if (iequals(name, "transfer-encoding")) {
    std::string unsupported;
    bool ok = for_each_element(value, [&](std::string_view coding) {
      if (!iequals(coding, "chunked")) {
        unsupported = std::string(coding);
        return false;
      }
      if (m_chunked) return false;  // chunked twice
      m_chunked = true;
      return true;
    });
    if (!unsupported.empty()) return refuse(501, "transfer coding " + unsupported + " is not supported");
    if (!ok) return refuse(400, "Transfer-Encoding is invalid");
  } else if (iequals(name, "expect")) {
    if (!iequals(value, "100-continue")) return refuse(417, "only the 100-continue expectation is supported");
    m_expect_continue = true;
  } else if (iequals(name, "connection")) {
    for_each_element(value, [&](std::string_view option) {
      if (iequals(option, "close")) m_connection_close = true;
      if (iequals(option, "keep-alive")) m_connection_keep_alive = true;
      return true;
    });
  }
  // Expect stays until the section ends, so a second one is caught; the
  // interim answer to it is ours, so it never reaches httplib.
  if (!is_dropped(name) || iequals(name, "expect")) m_fields.emplace_back(std::string(name), std::string(value));
  return true;
}

bool RequestFramer::on_fields_done() {
  // Expect only marked the request; it leaves the canonical form here.
  std::erase_if(m_fields, [](const auto& field) { return iequals(field.first, "expect"); });
  if (m_chunked && m_content_length) return refuse(400, "a request may not carry both Transfer-Encoding and Content-Length");
  if (m_chunked && m_version == "HTTP/1.0") return refuse(400, "HTTP/1.0 requests cannot be chunked");
  if (m_content_length && *m_content_length > m_limits.max_body_bytes) {
    return refuse(413, "the request body is larger than " + std::to_string(m_limits.max_body_bytes) + " bytes");
  }
  m_request.keep_alive = !m_connection_close && (m_version == "HTTP/1.1" || m_connection_keep_alive);
  if (m_chunked) {
    m_phase = Phase::chunk_size;
    m_continue_pending = m_expect_continue;
  } else if (m_content_length && *m_content_length > 0) {
    m_phase = Phase::body;
    m_remaining = *m_content_length;
    // Not the whole announced length: an announcement costs nothing to make.
    m_request.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(m_remaining, 64 * 1024)));
    m_continue_pending = m_expect_continue;
  } else {
    finish();
  }
  return true;
}

bool RequestFramer::on_chunk_size(std::string_view line) {
  auto size_text = line.substr(0, line.find(';'));
  auto size = parse_hex(trim(size_text));
  if (!size) return refuse(400, "a chunk size is not a hexadecimal number");
  if (*size == 0) {
    m_phase = Phase::trailers;
    return true;
  }
  if (m_request.body.size() + *size > m_limits.max_body_bytes) {
    return refuse(413, "the request body is larger than " + std::to_string(m_limits.max_body_bytes) + " bytes");
  }
  m_remaining = *size;
  m_phase = Phase::chunk_data;
  return true;
}

bool RequestFramer::on_trailer(std::string_view line) {
  if (line.empty()) {
    finish();
    return true;
  }
  if (++m_header_count > m_limits.max_header_count) {
    return refuse(431, "the request has more than " + std::to_string(m_limits.max_header_count) + " header fields");
  }
  // Trailer fields are read to find the end of the request, then dropped:
  // nothing here acts on them.
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
    return refuse(400, "a trailer field is malformed");
  }
  return true;
}

bool RequestFramer::refuse(int status, std::string message) {
  m_state = State::refused;
  m_error = FramingError{status, std::move(message)};
  return false;
}

void RequestFramer::finish() {
  std::string& head = m_request.head;
  head.clear();
  head.reserve(m_header_bytes + 32);
  head.append(m_request.method).append(" ").append(m_request.target).append(" ").append(m_version).append("\r\n");
  for (const auto& [name, value] : m_fields) head.append(name).append(": ").append(value).append("\r\n");
  if (!m_request.body.empty()) head.append("Content-Length: ").append(std::to_string(m_request.body.size())).append("\r\n");
  head.append("\r\n");
  m_phase = Phase::done;
  m_state = State::complete;
  m_continue_pending = false;
}

bool RequestFramer::take_continue() {
  if (!m_continue_pending || m_state != State::reading) return false;
  m_continue_pending = false;
  return true;
}

FramedRequest RequestFramer::take() {
  FramedRequest out = std::move(m_request);
  reset();
  return out;
}

std::string_view RequestFramer::header(std::string_view name) const {
  for (const auto& [key, value] : m_fields) {
    if (iequals(key, name)) return value;
  }
  return {};
}

void RequestFramer::reset() {
  const FramingLimits limits = m_limits;
  *this = RequestFramer(limits);
}

}  // namespace pw::http
