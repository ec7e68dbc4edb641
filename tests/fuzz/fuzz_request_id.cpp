// The request id sources are client text: whatever arrives, the chosen id is
// a valid request id.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "http/request_id.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t split = input.find('\n');
  std::string_view header = input.substr(0, split);
  std::string_view traceparent = split == std::string_view::npos ? std::string_view{} : input.substr(split + 1);
  if (auto trace = pw::http::trace_id_from_traceparent(traceparent)) {
    if (trace->size() != 32) std::abort();
  }
  auto id = pw::http::choose_request_id(header, traceparent);
  if (!pw::http::is_valid_request_id(id)) std::abort();
  if (pw::http::is_valid_request_id(header) && id != header) std::abort();
  return 0;
}
