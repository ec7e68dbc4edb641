// The request framer sees every byte a client sends before anything else
// does. Whatever arrives: it never crashes, never consumes more than it was
// given, frames the same requests however the bytes are split, holds every
// limit, and a request it framed frames again to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/request_framer.hpp"

using pw::http::FramedRequest;
using pw::http::FramingLimits;
using pw::http::RequestFramer;

namespace {

FramingLimits limits() {
  FramingLimits l;
  l.max_request_line = 200;
  l.max_field_bytes = 150;
  l.max_header_bytes = 600;
  l.max_header_count = 12;
  l.max_body_bytes = 300;
  return l;
}

struct Run {
  std::vector<FramedRequest> requests;
  int refused = 0;  // status, 0 when not refused
};

// Frames every request in `input`, `step` bytes arriving at a time.
Run frame_all(std::string_view input, std::size_t step) {
  Run run;
  RequestFramer framer(limits());
  std::string pending;
  std::size_t at = 0;
  while (true) {
    const std::size_t used = framer.feed(pending);
    if (used > pending.size()) std::abort();
    pending.erase(0, used);
    if (framer.state() == RequestFramer::State::complete) {
      run.requests.push_back(framer.take());
      continue;
    }
    if (framer.state() == RequestFramer::State::refused) {
      run.refused = framer.error().status;
      return run;
    }
    if (at >= input.size()) return run;
    const std::size_t n = std::min(step, input.size() - at);
    pending.append(input.data() + at, n);
    at += n;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t step = 1 + data[0] % 17;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Run whole = frame_all(input, input.size() + 1);
  const Run split = frame_all(input, step);
  if (whole.refused != split.refused || whole.requests.size() != split.requests.size()) std::abort();
  for (std::size_t i = 0; i < whole.requests.size(); ++i) {
    const auto& a = whole.requests[i];
    const auto& b = split.requests[i];
    if (a.head != b.head || a.body != b.body || a.keep_alive != b.keep_alive) std::abort();
    if (a.body.size() > limits().max_body_bytes) std::abort();
    if (a.head.size() < 4 || a.head.compare(a.head.size() - 4, 4, "\r\n\r\n") != 0) std::abort();
    // The canonical form is a fixed point.
    const Run again = frame_all(a.head + a.body, a.head.size() + a.body.size() + 1);
    if (again.refused != 0 || again.requests.size() != 1 || again.requests[0].head != a.head ||
        again.requests[0].body != a.body) {
      std::abort();
    }
  }
  return 0;
}
