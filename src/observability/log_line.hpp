// Encoding of one log line, JSON or text. Pure functions: no I/O, no clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pw::observability {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

std::string_view to_string(LogLevel level);
std::optional<LogLevel> parse_log_level(std::string_view text);

using LogValue = std::variant<std::nullptr_t, bool, std::int64_t, double, std::string>;

struct LogField {
  std::string key;
  LogValue value;

  LogField(std::string k, std::nullptr_t) : key(std::move(k)), value(nullptr) {}
  LogField(std::string k, bool v) : key(std::move(k)), value(v) {}
  LogField(std::string k, int v) : key(std::move(k)), value(static_cast<std::int64_t>(v)) {}
  LogField(std::string k, long v) : key(std::move(k)), value(static_cast<std::int64_t>(v)) {}
  LogField(std::string k, long long v) : key(std::move(k)), value(static_cast<std::int64_t>(v)) {}
  LogField(std::string k, unsigned v) : key(std::move(k)), value(static_cast<std::int64_t>(v)) {}
  LogField(std::string k, double v) : key(std::move(k)), value(v) {}
  LogField(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  LogField(std::string k, std::string_view v) : key(std::move(k)), value(std::string(v)) {}
  LogField(std::string k, const char* v) : key(std::move(k)), value(std::string(v)) {}
};

using LogFields = std::vector<LogField>;

// Appends `text` as a JSON string literal: escapes quotes, backslashes and
// U+0000..U+001F, and replaces invalid UTF-8 with U+FFFD, so no input can
// break the line or forge a field.
void append_json_string(std::string& out, std::string_view text);

// Replaces invalid UTF-8 sequences with U+FFFD.
std::string sanitize_utf8(std::string_view text);

// {"ts":...,"level":...,"msg":...,"service":..., fields...} without a newline.
// A field whose key repeats an earlier one is dropped (first wins), so caller
// data can never override ts/level/msg/service.
std::string encode_json_line(std::string_view ts, LogLevel level, std::string_view msg,
                             std::string_view service, const LogFields& fields);

// `ts LEVEL service msg key=value ...` for a human at a terminal; values with
// spaces or quotes are quoted, control characters escaped.
std::string encode_text_line(std::string_view ts, LogLevel level, std::string_view msg,
                             std::string_view service, const LogFields& fields);

// RFC 3339 UTC with milliseconds: 2026-11-28T20:40:17.123Z
std::string format_rfc3339_ms(std::int64_t unix_ms);

}  // namespace pw::observability
