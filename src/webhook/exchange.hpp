// What one delivery exchange came to, decided from what the receiver sent
// and how the transfer ended. Pure logic, no network: the client feeds it.
//
// A receiver cannot make us read without bound: its header section (every
// interim 1xx response and any trailers included) has a byte budget, and so
// has its body, which is read only to be dropped.
//
// The status of the final response decides the outcome once its header
// section is complete; the body never changes it. A 2xx followed by an
// endless or trickling body is delivered (the receiver has said it took the
// webhook; we stop reading at the budget or the deadline and close), a 5xx
// with an endless body is retried. Without a complete header section there
// is no status: a timeout, an over-long header section or a broken
// connection is retried.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pw::webhook {

enum class Outcome {
  delivered,  // 2xx
  retryable,  // 5xx, 408, 429, timeouts, connection errors, lookups that failed
  permanent,  // other statuses, a refused destination, an invalid URL
};

struct DeliveryResult {
  Outcome outcome = Outcome::retryable;
  int status = 0;       // the receiver's HTTP status, 0 when there was none
  std::string detail;   // why, for the job's last_error (never a resolved address)
  std::string address;  // the address connected to, when one was chosen
};

// What a receiver's status means for the delivery.
Outcome outcome_of_status(int status);

struct ResponseLimits {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
};

// Follows a response as it arrives and says when to stop reading.
class ResponseMeter {
 public:
  explicit ResponseMeter(ResponseLimits limits = {}) : m_limits(limits) {}

  // One header line as received, with its line ending: status lines and the
  // empty line that closes a header section included. False: stop reading.
  bool on_header_line(std::string_view line);
  // A piece of the body. False: stop reading.
  bool on_body(std::size_t bytes);

  // The final (non-1xx) response's status once its header section is complete; 0 before.
  int status() const { return m_final_status; }
  bool headers_over_budget() const { return m_header_bytes > m_limits.max_header_bytes; }
  bool body_over_budget() const { return m_body_bytes > m_limits.max_body_bytes; }
  const ResponseLimits& limits() const { return m_limits; }

 private:
  ResponseLimits m_limits;
  std::size_t m_header_bytes = 0;
  std::size_t m_body_bytes = 0;
  int m_section_status = 0;  // status line of the header section being read
  int m_final_status = 0;
};

// How the transfer ended, as far as the client can tell.
enum class Ending {
  completed,    // the whole response was read
  over_budget,  // the meter said stop
  timed_out,    // the deadline passed
  stopped,      // the worker is stopping (or lost the job)
  failed,       // connection or protocol error
};

// The result of an exchange. `failure` says what went wrong for `failed`
// and `timed_out` (e.g. "timed out after 1500 ms").
DeliveryResult judge(const ResponseMeter& meter, Ending ending, const std::string& failure);

}  // namespace pw::webhook
