// Whatever text reaches a log field, the encoded line is exactly one JSON
// object on one line, and the field reads back as the (UTF-8-sanitized) input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "observability/log_line.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  using namespace pw::observability;
  auto line = encode_json_line("2026-01-01T00:00:00.000Z", LogLevel::info, input, "api",
                               {{input, input}, {"path", input}, {"n", static_cast<std::int64_t>(size)}});
  if (line.find('\n') != std::string::npos || line.find('\r') != std::string::npos) std::abort();
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(line);
  } catch (...) {
    std::abort();
  }
  if (!parsed.is_object()) std::abort();
  if (parsed["level"] != "info" || parsed["service"] != "api") std::abort();
  if (parsed["path"] != sanitize_utf8(input)) std::abort();
  auto text = encode_text_line("t", LogLevel::info, input, "api", {{"path", input}});
  if (text.find('\n') != std::string::npos) std::abort();
  return 0;
}
