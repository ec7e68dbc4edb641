#include "api/input.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <set>
#include <vector>

namespace pw::api {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Decimal digits only, no sign, no leading zero (except "0" when allowed),
// fitting in int64. Nothing otherwise.
std::optional<std::int64_t> parse_decimal(std::string_view text, bool allow_zero) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  if (text.size() > 1 && text.front() == '0') return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) value = value * 10 + static_cast<std::uint64_t>(c - '0');
  if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  if (value == 0 && !allow_zero) return std::nullopt;
  return static_cast<std::int64_t>(value);
}

// Caller text quoted in a message is kept short.
std::string shorten(std::string_view text) {
  constexpr std::size_t limit = 160;
  if (text.size() <= limit) return std::string(text);
  return std::string(text.substr(0, limit)) + "...";
}

std::string describe_type(const nlohmann::json& value) {
  if (value.is_number_float()) {
    // The parser keeps integers beyond 64 bits as doubles.
    const double number = value.get<double>();
    if (std::fabs(number) >= 9.2e18) return "a number beyond the 64-bit range";
    return "a number with a fraction or exponent";
  }
  if (value.is_array()) return "an array";
  if (value.is_object()) return "an object";
  if (value.is_boolean()) return "a boolean";
  if (value.is_null()) return "null";
  if (value.is_string()) return "a string";
  return "an integer";
}

}  // namespace

void refuse_field(std::string_view field, std::string_view problem) {
  throw Refusal(400, "invalid_request", std::string(field) + ": " + std::string(problem));
}

void refuse_not_found(std::string_view what) { throw Refusal(404, "not_found", std::string(what) + " not found"); }

bool is_json_content_type(std::string_view content_type) {
  auto semicolon = content_type.find(';');
  std::string media = lower(trim(content_type.substr(0, semicolon)));
  if (media != "application/json") return false;
  if (semicolon == std::string_view::npos) return true;
  // Parameters: only a UTF-8 charset makes sense for JSON.
  std::string_view params = content_type.substr(semicolon + 1);
  while (!params.empty()) {
    auto next = params.find(';');
    std::string param = lower(trim(params.substr(0, next)));
    if (!param.empty()) {
      auto equals = param.find('=');
      if (equals == std::string::npos) return false;
      std::string name(trim(std::string_view(param).substr(0, equals)));
      std::string value(trim(std::string_view(param).substr(equals + 1)));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      if (name == "charset" && value != "utf-8" && value != "utf8") return false;
    }
    if (next == std::string_view::npos) break;
    params.remove_prefix(next + 1);
  }
  return true;
}

namespace {

// Follows the parser through nested objects to refuse a member given twice
// at any depth: nlohmann keeps the last value silently, so `{"loyalty":200,
// "loyalty":2}` would pass a range check the caller never meant to pass.
class DuplicateMemberCheck {
 public:
  bool operator()(int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (depth > max_json_depth) {
      throw Refusal(400, "invalid_request", "body: nested deeper than " + std::to_string(max_json_depth) + " levels");
    }
    switch (event) {
      case Event::object_start:
        m_frames.push_back(Frame{true, {}, {}});
        break;
      case Event::array_start:
        m_frames.push_back(Frame{false, {}, {}});
        break;
      case Event::object_end:
      case Event::array_end:
        if (!m_frames.empty()) m_frames.pop_back();
        break;
      case Event::key:
        if (!m_frames.empty() && m_frames.back().is_object && parsed.is_string()) {
          Frame& frame = m_frames.back();
          frame.current = parsed.get<std::string>();
          if (!frame.seen.insert(frame.current).second) {
            refuse_field(shorten(path()), "is given more than once (every member may appear once)");
          }
        }
        break;
      case Event::value:
        break;
    }
    return true;
  }

 private:
  struct Frame {
    bool is_object;
    std::set<std::string> seen;
    std::string current;  // the member being read, for messages
  };

  // "traits.loyalty" for the member just read; array levels add "[]".
  std::string path() const {
    std::string out;
    for (const auto& frame : m_frames) {
      if (!frame.is_object) {
        out += "[]";
        continue;
      }
      if (!out.empty()) out += ".";
      out += frame.current;
    }
    return out;
  }

  std::vector<Frame> m_frames;
};

}  // namespace

nlohmann::json parse_json_object(const http::Request& request) {
  if (!is_json_content_type(request.header("content-type"))) {
    throw Refusal(415, "unsupported_media_type", "Content-Type must be application/json");
  }
  if (request.body.empty()) refuse_field("body", "must be a JSON object, got an empty body");
  nlohmann::json value;
  try {
    DuplicateMemberCheck check;
    value = nlohmann::json::parse(
        request.body,
        [&check](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
          return check(depth, event, parsed);
        },
        true, false);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for numbers beyond a double (1e400).
    // e.what() says where and why ("syntax error while parsing object ...",
    // "invalid string: ill-formed UTF-8 byte"); it quotes the last token
    // read, so it is cut short.
    refuse_field("body", "is not valid JSON (" + shorten(e.what()) + ")");
  }
  if (!value.is_object()) refuse_field("body", "must be a JSON object, got " + describe_type(value));
  return value;
}

std::int64_t path_id(const http::Request& request, const std::string& name, std::string_view what) {
  auto found = request.path_params.find(name);
  if (found == request.path_params.end()) refuse_not_found(what);
  auto id = parse_decimal(found->second, false);
  if (!id) refuse_not_found(what);
  return *id;
}

int page_limit(const http::Request& request) {
  auto text = request.query_param("limit");
  if (!text) return default_page_limit;
  auto value = parse_decimal(*text, true);
  if (!value || *value < 1 || *value > max_page_limit) {
    refuse_field("limit", "must be an integer from 1 to " + std::to_string(max_page_limit));
  }
  return static_cast<int>(*value);
}

std::int64_t query_id(const http::Request& request, std::string_view name) {
  auto text = request.query_param(name);
  if (!text) return 0;
  auto value = parse_decimal(*text, true);
  if (!value) refuse_field(name, "is not a valid value (use the one the previous page returned)");
  return *value;
}

std::optional<std::int64_t> optional_query_id(const http::Request& request, std::string_view name) {
  auto text = request.query_param(name);
  if (!text) return std::nullopt;
  auto value = parse_decimal(*text, false);
  if (!value) refuse_field(name, "must be a positive integer id");
  return value;
}

std::optional<std::string> idempotency_key(const http::Request& request) {
  if (!request.has_header("idempotency-key")) return std::nullopt;
  std::string key = request.header("idempotency-key");
  if (key.empty() || key.size() > max_idempotency_key_bytes) {
    refuse_field("Idempotency-Key", "must be 1 to " + std::to_string(max_idempotency_key_bytes) + " characters");
  }
  for (char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x21 || byte > 0x7e) refuse_field("Idempotency-Key", "must be printable ASCII without spaces");
  }
  return key;
}

bool is_valid_handle(std::string_view handle) {
  if (handle.size() < 3 || handle.size() > 32) return false;
  return std::all_of(handle.begin(), handle.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

void check_text(std::string_view field, std::string_view value, const TextRule& rule) {
  if (value.size() < rule.min_bytes) {
    refuse_field(field, rule.min_bytes == 1 ? "must not be empty"
                                            : "must be at least " + std::to_string(rule.min_bytes) + " bytes");
  }
  if (value.size() > rule.max_bytes) {
    refuse_field(field, "must be at most " + std::to_string(rule.max_bytes) + " bytes");
  }
  bool blank = true;
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    const bool control = byte < 0x20 || byte == 0x7f;
    const bool allowed_whitespace = !rule.single_line && (c == '\n' || c == '\r' || c == '\t');
    if (control && !allowed_whitespace) refuse_field(field, "must not contain control characters");
    if (c != ' ' && !allowed_whitespace) blank = false;
  }
  if (rule.not_blank && blank && !value.empty()) refuse_field(field, "must not be blank");
}

ObjectReader::ObjectReader(const nlohmann::json& object, std::string prefix)
    : m_object(object), m_prefix(std::move(prefix)) {}

const nlohmann::json* ObjectReader::member(const std::string& name) {
  m_known.insert(name);
  auto found = m_object.find(name);
  if (found == m_object.end()) return nullptr;
  return &*found;
}

std::optional<std::string> ObjectReader::optional_text(const std::string& name, const TextRule& rule) {
  const auto* value = member(name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) refuse_field(field(name), "must be a string, got " + describe_type(*value));
  const auto& text = value->get_ref<const std::string&>();
  check_text(field(name), text, rule);
  return text;
}

std::string ObjectReader::required_text(const std::string& name, const TextRule& rule) {
  auto text = optional_text(name, rule);
  if (!text) refuse_field(field(name), "is required");
  return *text;
}

std::optional<std::int64_t> ObjectReader::optional_integer(const std::string& name, std::int64_t min,
                                                           std::int64_t max) {
  const auto* value = member(name);
  if (value == nullptr) return std::nullopt;
  const std::string range = "from " + std::to_string(min) + " to " + std::to_string(max);
  if (!value->is_number_integer()) {
    // A fraction, or an integer too large for 64 bits (which the parser
    // keeps as a double), is not an integer in range.
    refuse_field(field(name), "must be an integer " + range + ", got " + describe_type(*value));
  }
  if (value->is_number_unsigned()) {
    auto unsigned_value = value->get<std::uint64_t>();
    if (unsigned_value > static_cast<std::uint64_t>(max) ||
        (min > 0 && unsigned_value < static_cast<std::uint64_t>(min))) {
      refuse_field(field(name), "must be an integer " + range);
    }
    return static_cast<std::int64_t>(unsigned_value);
  }
  auto signed_value = value->get<std::int64_t>();
  if (signed_value < min || signed_value > max) refuse_field(field(name), "must be an integer " + range);
  return signed_value;
}

std::int64_t ObjectReader::required_integer(const std::string& name, std::int64_t min, std::int64_t max) {
  auto value = optional_integer(name, min, max);
  if (!value) refuse_field(field(name), "is required");
  return *value;
}

const nlohmann::json* ObjectReader::optional_object(const std::string& name) {
  const auto* value = member(name);
  if (value == nullptr) return nullptr;
  if (!value->is_object()) refuse_field(field(name), "must be an object, got " + describe_type(*value));
  return value;
}

void ObjectReader::refuse_unknown_fields() const {
  for (const auto& [name, value] : m_object.items()) {
    if (!m_known.contains(name)) refuse_field(shorten(field(name)), "is not a known field");
  }
}

}  // namespace pw::api
