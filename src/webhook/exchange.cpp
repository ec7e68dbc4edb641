#include "webhook/exchange.hpp"

namespace pw::webhook {
namespace {

// "HTTP/1.1 204 No Content" -> 204; 0 when the line is no status line.
int status_of(std::string_view line) {
  if (line.substr(0, 5) != "HTTP/") return 0;
  const auto space = line.find(' ');
  if (space == std::string_view::npos || line.size() < space + 4) return 0;
  int status = 0;
  for (std::size_t i = space + 1; i < space + 4; ++i) {
    if (line[i] < '0' || line[i] > '9') return 0;
    status = status * 10 + (line[i] - '0');
  }
  return status;
}

bool is_blank(std::string_view line) { return line == "\r\n" || line == "\n"; }

std::string unread_rest(const ResponseMeter& meter, Ending ending, const std::string& failure) {
  switch (ending) {
    case Ending::completed:
      return {};
    case Ending::over_budget:
      return meter.headers_over_budget()
                 ? " (its trailers passed " + std::to_string(meter.limits().max_header_bytes) + " bytes)"
                 : " (the rest of its body was dropped after " + std::to_string(meter.limits().max_body_bytes) +
                       " bytes)";
    case Ending::timed_out:
      return " (its body was cut off: " + failure + ")";
    case Ending::stopped:
      return " (its body was cut off: the worker is stopping)";
    case Ending::failed:
      return " (its body was cut off: " + failure + ")";
  }
  return {};
}

}  // namespace

Outcome outcome_of_status(int status) {
  if (status >= 200 && status <= 299) return Outcome::delivered;
  // 408 and 429 say "not now" rather than "never": worth another attempt.
  if (status >= 500 || status == 408 || status == 429) return Outcome::retryable;
  return Outcome::permanent;
}

bool ResponseMeter::on_header_line(std::string_view line) {
  m_header_bytes += line.size();
  if (headers_over_budget()) return false;
  if (m_final_status != 0) return true;  // trailers: counted, nothing to decide
  if (m_section_status == 0) {
    m_section_status = status_of(line);
  } else if (is_blank(line)) {
    // An interim 1xx section is followed by another; any other closes the response's.
    if (m_section_status >= 200) m_final_status = m_section_status;
    m_section_status = 0;
  }
  return true;
}

bool ResponseMeter::on_body(std::size_t bytes) {
  m_body_bytes += bytes;
  return !body_over_budget();
}

DeliveryResult judge(const ResponseMeter& meter, Ending ending, const std::string& failure) {
  DeliveryResult result;
  if (meter.status() != 0) {
    result.outcome = outcome_of_status(meter.status());
    result.status = meter.status();
    result.detail = "receiver answered " + std::to_string(meter.status()) + unread_rest(meter, ending, failure);
    return result;
  }
  result.outcome = Outcome::retryable;
  switch (ending) {
    case Ending::over_budget:
      result.detail = "the receiver's header section passed " + std::to_string(meter.limits().max_header_bytes) +
                      " bytes";
      break;
    case Ending::timed_out:
      result.detail = "no complete response: " + failure;
      break;
    case Ending::stopped:
      result.detail = "delivery abandoned: the worker is stopping";
      break;
    case Ending::failed:
      result.detail = "delivery failed: " + failure;
      break;
    case Ending::completed:
      result.detail = "delivery failed: the receiver sent no complete response";
      break;
  }
  return result;
}

}  // namespace pw::webhook
