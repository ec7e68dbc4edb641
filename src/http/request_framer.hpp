// Where one HTTP/1.1 request ends and the next begins, decided before any
// request reaches httplib's parser. httplib 0.11 bounds each header line but
// not the header section, ignores --max-body-bytes for chunked bodies, takes
// the first of two conflicting Content-Lengths and drops pipelined requests;
// so the server reads every byte itself, through this framer, and hands
// httplib one canonical request at a time.
//
// The framer is fed bytes as they arrive and consumes them from the front
// of the caller's buffer: a header line once it is complete, body bytes as
// soon as they come (chunked bodies are decoded on the way). Every limit
// holds however the bytes are split: the request line, the header section as
// a whole (bytes and field count, trailers included) and the decoded body.
// What it refuses, it refuses with the status a client should see.
//
// No I/O and no HTTP library here: it is plain code over bytes, unit-tested
// and fuzzed on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pw::http {

struct FramingLimits {
  std::size_t max_request_line = 8192;   // 414 past this
  std::size_t max_header_bytes = 32768;  // request line + fields + trailers: 431 past this
  std::size_t max_field_bytes = 8192;    // one header field line: 431 past this
  std::size_t max_header_count = 100;    // fields + trailers: 431 past this
  std::size_t max_body_bytes = 1 << 20;  // decoded: 413 past this
};

// A request refused before it reached a handler.
struct FramingError {
  int status = 400;     // 400, 413, 414, 417, 431 or 501
  std::string message;  // fit to show the client
};

// One request, ready for httplib: `head` is its request line and header
// fields in canonical form (framing headers replaced by one Content-Length,
// hop-by-hop expectations and ranges removed), `body` the decoded body.
struct FramedRequest {
  std::string head;
  std::string body;
  std::string method;
  std::string target;
  bool keep_alive = true;  // what the request asked for (version + Connection)
};

class RequestFramer {
 public:
  enum class State { idle, reading, complete, refused };

  explicit RequestFramer(FramingLimits limits = {}) : m_limits(limits) {}

  // Consumes bytes from the front of `input` as far as it can and returns
  // how many; the caller drops those and calls again once more bytes have
  // arrived. Stops consuming at the end of a request (the rest belongs to
  // the next one) and once it refused.
  std::size_t feed(std::string_view input);

  // idle: nothing of a request seen yet; reading: part of one seen.
  State state() const { return m_state; }
  bool started() const { return m_state != State::idle; }
  const FramingError& error() const { return m_error; }

  // True once per request, when its header section asked for
  // "Expect: 100-continue" and its body has not fully arrived: the caller
  // sends the interim "100 Continue" answer.
  bool take_continue();

  // Once complete: the request, and the framer is ready for the next one.
  FramedRequest take();

  // What is known of the request so far (for answering a refusal): the
  // request line's method and target once read, and a header field by name
  // (case-insensitive) once read; empty otherwise.
  std::string_view method() const { return m_request.method; }
  std::string_view target() const { return m_request.target; }
  std::string_view header(std::string_view name) const;

  // Bytes this framer holds for the request being read.
  std::size_t buffered_bytes() const { return m_header_bytes + m_request.body.size(); }
  // Refuses the request being read with 503: the server holds too much for
  // requests in flight already.
  void refuse_overloaded() { refuse(503, "the server is holding too many large requests; retry shortly"); }

  // Starts over, forgetting any partial request.
  void reset();

 private:
  enum class Phase { request_line, fields, body, chunk_size, chunk_data, chunk_end, trailers, done };

  std::size_t feed_line(std::string_view input, std::size_t offset);
  bool on_request_line(std::string_view line);
  bool on_field(std::string_view line);
  bool on_trailer(std::string_view line);
  bool on_fields_done();
  bool on_chunk_size(std::string_view line);
  bool refuse(int status, std::string message);
  void finish();

  FramingLimits m_limits;
  State m_state = State::idle;
  Phase m_phase = Phase::request_line;
  FramingError m_error;
  FramedRequest m_request;
  std::vector<std::pair<std::string, std::string>> m_fields;  // kept fields, in order
  std::size_t m_scanned = 0;  // bytes of the pending line known to hold no newline
  std::size_t m_header_bytes = 0;
  std::size_t m_header_count = 0;
  std::string m_version;
  std::optional<std::uint64_t> m_content_length;
  bool m_chunked = false;
  bool m_expect_continue = false;
  bool m_continue_pending = false;
  bool m_connection_close = false;
  bool m_connection_keep_alive = false;
  std::uint64_t m_remaining = 0;  // of the body or the current chunk
};

}  // namespace pw::http
