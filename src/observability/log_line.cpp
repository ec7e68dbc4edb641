#include "observability/log_line.hpp"

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
          out += std::to_string(v);
        } else if constexpr (std::is_same_v<T, double>) {
          if (!std::isfinite(v)) {
            out += "null";
          } else {
            char buffer[32];
            std::snprintf(buffer, sizeof buffer, "%.3f", v);
            out += buffer;
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
  // Small field lists: a linear scan beats a set.
  std::vector<std::string_view> seen = {"ts", "level", "msg", "service"};
  for (const auto& field : fields) {
    bool duplicate = false;
    for (auto key : seen) {
      if (key == field.key) {
        duplicate = true;
        break;
      }
    }
    if (duplicate) continue;
    seen.push_back(field.key);
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
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  int millis = static_cast<int>(unix_ms % 1000);
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buffer;
}

}  // namespace pw::observability
