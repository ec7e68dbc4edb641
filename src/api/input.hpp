// Reading and checking what a caller sent: headers, path ids, query
// parameters and JSON bodies. Pure functions of the request.
//
// A check that fails throws Refusal, which the route boundary (routes.cpp)
// turns into the JSON error response. Handlers read a request field by field;
// throwing keeps each handler a straight line of parse -> call -> render
// instead of a ladder of early returns, and no refusal escapes src/api/.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

#include "http/message.hpp"

namespace pw::api {

// A request the API will not serve: its status (4xx, or 503 when the
// database is away), error code and a message for the caller.
class Refusal : public std::runtime_error {
 public:
  Refusal(int status, std::string code, std::string message)
      : std::runtime_error(message), m_status(status), m_code(std::move(code)) {}
  int status() const { return m_status; }
  const std::string& code() const { return m_code; }

 private:
  int m_status;
  std::string m_code;
};

// 400 invalid_request naming the field.
[[noreturn]] void refuse_field(std::string_view field, std::string_view problem);
[[noreturn]] void refuse_not_found(std::string_view what);

// Nesting deeper than this is refused while parsing, before it costs anything.
inline constexpr int max_json_depth = 32;

// application/json, with optional parameters (charset=utf-8); anything else
// (or nothing) is 415.
bool is_json_content_type(std::string_view content_type);

// The body as a JSON object: 415 for another content type, 400 for malformed
// JSON, invalid UTF-8, nesting deeper than max_json_depth, a member given
// twice in one object (at any depth; the message names it), or a non-object.
nlohmann::json parse_json_object(const http::Request& request);

// A path parameter that must be a positive decimal id without sign or
// leading zeros, at most 2^63-1: anything else names nothing, so 404.
std::int64_t path_id(const http::Request& request, const std::string& name, std::string_view what);

// ?limit=: 1..100, default 20; 400 otherwise.
inline constexpr int default_page_limit = 20;
inline constexpr int max_page_limit = 100;
int page_limit(const http::Request& request);

// A non-negative id in a query parameter (?cursor=, ?after=); 0 when absent.
// The cursor is opaque to callers: it is the value of next_cursor from the
// previous page. 400 when malformed.
std::int64_t query_id(const http::Request& request, std::string_view name);

// An optional positive id in a query parameter (?simulation_id=).
std::optional<std::int64_t> optional_query_id(const http::Request& request, std::string_view name);

// Idempotency-Key: 1..255 printable ASCII characters (0x21..0x7e). Nothing
// when absent; 400 when malformed.
inline constexpr std::size_t max_idempotency_key_bytes = 255;
std::optional<std::string> idempotency_key(const http::Request& request);

// ^[a-z0-9_]{3,32}$
bool is_valid_handle(std::string_view handle);

// How a string field is checked.
struct TextRule {
  std::size_t min_bytes = 1;
  std::size_t max_bytes = 100;
  bool single_line = true;  // refuse every control character (else allow \t \n \r)
  bool not_blank = true;    // refuse text made only of spaces
};

// Reads the members of one JSON object, each with its rule, then refuses
// members that no rule asked for. Field names in messages are prefixed with
// `prefix` ("traits." for a nested object).
class ObjectReader {
 public:
  explicit ObjectReader(const nlohmann::json& object, std::string prefix = {});

  std::string required_text(const std::string& name, const TextRule& rule);
  std::optional<std::string> optional_text(const std::string& name, const TextRule& rule);
  std::int64_t required_integer(const std::string& name, std::int64_t min, std::int64_t max);
  std::optional<std::int64_t> optional_integer(const std::string& name, std::int64_t min, std::int64_t max);
  // A nested object, or nothing when absent; 400 when present but not an object.
  const nlohmann::json* optional_object(const std::string& name);

  // 400 naming the first member no read asked for.
  void refuse_unknown_fields() const;

 private:
  const nlohmann::json* member(const std::string& name);
  std::string field(const std::string& name) const { return m_prefix + name; }

  const nlohmann::json& m_object;
  std::string m_prefix;
  std::set<std::string> m_known;
};

// Checks a string value against a rule; the message names `field`.
void check_text(std::string_view field, std::string_view value, const TextRule& rule);

}  // namespace pw::api
