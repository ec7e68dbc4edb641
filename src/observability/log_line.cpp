#include "observability/log_line.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>

namespace pw::observability {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at text[i], or 0 if invalid.
std::size_t valid_utf8_length(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  std::size_t length;
  std::uint32_t code;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    unsigned char c = byte(i + k);
    if ((c & 0xC0) != 0x80) return 0;
    code = (code << 6) | (c & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid.
  if ((length == 3 && code < 0x800) || (length == 4 && (code < 0x10000 || code > 0x10FFFF)) ||
      (code >= 0xD800 && code <= 0xDFFF)) {
    return 0;
  }
  return length;
}

void append_value_json(std::string& out, const LogValue& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          out += "null";
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          char buffer[24];
          out.append(buffer, std::to_chars(buffer, buffer + sizeof buffer, v).ptr);
        } else if constexpr (std::is_same_v<T, double>) {
          if (!std::isfinite(v)) {
            out += "null";
          } else {
            // Room for the largest double written out in full (309 digits).
            char buffer[330];
            auto written = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::fixed, 3);
            out.append(buffer, written.ptr);
          }
        } else {
          append_json_string(out, v);
        }
      },
      value);
}

}  // namespace

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

std::optional<LogLevel> parse_log_level(std::string_view text) {
  if (text == "debug") return LogLevel::debug;
  if (text == "info") return LogLevel::info;
  if (text == "warn") return LogLevel::warn;
  if (text == "error") return LogLevel::error;
  return std::nullopt;
}

std::string sanitize_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    std::size_t length = valid_utf8_length(text, i);
    if (length == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    // Runs that need no escaping (most of any line) are copied whole.
    std::size_t plain = i;
    while (plain < text.size()) {
      auto c = static_cast<unsigned char>(text[plain]);
      if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\') break;
      ++plain;
    }
    if (plain > i) {
      out.append(text.data() + i, plain - i);
      i = plain;
      continue;
    }
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      std::size_t length = valid_utf8_length(text, i);
      if (length == 0) {
        out += kReplacement;
        ++i;
      } else {
        out.append(text.substr(i, length));
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

std::string encode_json_line(std::string_view ts, LogLevel level, std::string_view msg,
                             std::string_view service, const LogFields& fields) {
  std::string out;
  out.reserve(160 + fields.size() * 24);
  out += "{\"ts\":";
  append_json_string(out, ts);
  out += ",\"level\":";
  append_json_string(out, to_string(level));
  out += ",\"msg\":";
  append_json_string(out, msg);
  out += ",\"service\":";
  append_json_string(out, service);
  // The first of each key is written; the four above come first. Small
  // field lists: a scan of the earlier fields beats building a set.
  static constexpr std::string_view reserved[] = {"ts", "level", "msg", "service"};
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto& field = fields[i];
    auto same_key = [&](std::string_view key) { return key == field.key; };
    if (std::any_of(std::begin(reserved), std::end(reserved), same_key) ||
        std::any_of(fields.begin(), fields.begin() + static_cast<std::ptrdiff_t>(i),
                    [&](const LogField& earlier) { return same_key(earlier.key); })) {
      continue;
    }
    out += ',';
    append_json_string(out, field.key);
    out += ':';
    append_value_json(out, field.value);
  }
  out += '}';
  return out;
}

namespace {

// Bare when it is one plain word, else a JSON string literal: a terminal line
// stays one line whatever the value holds.
void append_text_token(std::string& out, std::string_view text) {
  bool plain = !text.empty();
  for (unsigned char c : text) {
    if (c <= 0x20 || c == '"' || c == '\\' || c == '=' || c >= 0x7F) {
      plain = false;
      break;
    }
  }
  if (plain) {
    out.append(text);
  } else {
    append_json_string(out, text);
  }
}

}  // namespace

std::string encode_text_line(std::string_view ts, LogLevel level, std::string_view msg,
                             std::string_view service, const LogFields& fields) {
  std::string out;
  append_text_token(out, ts);
  out += ' ';
  std::string upper(to_string(level));
  for (auto& c : upper) c = static_cast<char>(c - 'a' + 'A');
  out += upper;
  out.append(5 - upper.size() + 1, ' ');
  append_text_token(out, service);
  out += ' ';
  append_text_token(out, msg);
  for (const auto& field : fields) {
    out += ' ';
    append_text_token(out, field.key);
    out += '=';
    if (const auto* text = std::get_if<std::string>(&field.value)) {
      append_text_token(out, *text);
    } else {
      append_value_json(out, field.value);
    }
  }
  return out;
}

std::string format_rfc3339_ms(std::int64_t unix_ms) {
  // Calendar arithmetic, not gmtime_r: glibc's takes a process-wide lock
  // (the time zone's) on every call, and every log line asks.
  using namespace std::chrono;
  const sys_time<milliseconds> at{milliseconds(unix_ms)};
  const auto day = floor<days>(at);
  const year_month_day date{day};
  const hh_mm_ss<milliseconds> time{at - day};
  char buffer[32];
  auto put = [&buffer](int position, int value, int width) {
    for (int k = width - 1; k >= 0; --k, value /= 10) buffer[position + k] = static_cast<char>('0' + value % 10);
  };
  const int year = static_cast<int>(date.year());
  if (year < 0 || year > 9999) return "0000-01-01T00:00:00.000Z";
  put(0, year, 4);
  buffer[4] = '-';
  put(5, static_cast<int>(static_cast<unsigned>(date.month())), 2);
  buffer[7] = '-';
  put(8, static_cast<int>(static_cast<unsigned>(date.day())), 2);
  buffer[10] = 'T';
  put(11, static_cast<int>(time.hours().count()), 2);
  buffer[13] = ':';
  put(14, static_cast<int>(time.minutes().count()), 2);
  buffer[16] = ':';
  put(17, static_cast<int>(time.seconds().count()), 2);
  buffer[19] = '.';
  put(20, static_cast<int>(time.subseconds().count()), 3);
  buffer[23] = 'Z';
  return std::string(buffer, 24);
}

}  // namespace pw::observability
