#include "api/admin_query.hpp"

#include <array>
#include <chrono>
#include <set>
#include <string>

#include "api/input.hpp"
#include "observability/log_line.hpp"

namespace pw::api {
namespace {

constexpr std::array<std::string_view, 8> kQueryParameters = {"state",         "type",  "created_after",
                                                              "created_before", "error", "trace_id",
                                                              "cursor",         "limit"};

const TextRule kTypeRule{1, 100, true, false};
const TextRule kTraceRule{1, 200, true, false};
// The error substring is bounded in characters (not bytes): up to 4 bytes each.
constexpr std::size_t max_error_chars = 200;
const TextRule kErrorRule{1, 4 * max_error_chars, true, false};

[[noreturn]] void refuse_parameter(std::string_view name, std::string_view problem) {
  throw Refusal(400, "invalid_parameter", std::string(name) + ": " + std::string(problem));
}

bool all_digits(std::string_view text) {
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return !text.empty();
}

int number(std::string_view text) {
  int value = 0;
  for (char c : text) value = value * 10 + (c - '0');
  return value;
}

// Text checked with the /v1 rules, refused with `code`.
void check_filter_text(std::string_view name, std::string_view value, const TextRule& rule, const std::string& code) {
  try {
    check_text(name, value, rule);
  } catch (const Refusal& refusal) {
    throw Refusal(400, code, refusal.what());
  }
  // A database takes text only as UTF-8 (PostgreSQL refuses anything else).
  if (observability::sanitize_utf8(value) != value) {
    throw Refusal(400, code, std::string(name) + ": must be valid UTF-8");
  }
}

std::size_t utf8_characters(std::string_view text) {
  std::size_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

// The checks one filter field gets, whether from the query or a body: a
// 400 naming `name`, with `code` (invalid_parameter or invalid_request).
void set_filter_field(queue::JobFilter& filter, std::string_view name, const std::string& value,
                      const std::string& code) {
  auto refuse = [&](std::string_view field, const std::string& problem) {
    throw Refusal(400, code, std::string(field) + ": " + problem);
  };
  auto text = [&](const TextRule& rule) {
    check_filter_text(name, value, rule, code);
    return value;
  };
  if (name == "state") {
    auto state = queue::parse_job_state(value);
    if (!state) refuse(name, "must be one of queued, running, succeeded, dead, canceled");
    filter.state = state;
  } else if (name == "type") {
    filter.type = text(kTypeRule);
  } else if (name == "trace_id") {
    filter.trace_id = text(kTraceRule);
  } else if (name == "error") {
    filter.error_contains = text(kErrorRule);
    if (utf8_characters(value) > max_error_chars) {
      refuse(name, "must be at most " + std::to_string(max_error_chars) + " characters");
    }
  } else if (name == "created_after" || name == "created_before") {
    auto ms = parse_rfc3339_ms(value);
    if (!ms) refuse(name, "must be an RFC 3339 time such as 2026-12-03T17:30:00Z");
    (name == "created_after" ? filter.created_from_ms : filter.created_before_ms) = ms;
  }
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS then an optional fraction, then Z or +HH:MM / -HH:MM.
  if (text.size() < 20 || text.size() > 35) return std::nullopt;
  auto digits_at = [&](std::size_t at, std::size_t count) { return all_digits(text.substr(at, count)); };
  if (!digits_at(0, 4) || text[4] != '-' || !digits_at(5, 2) || text[7] != '-' || !digits_at(8, 2) ||
      (text[10] != 'T' && text[10] != 't') || !digits_at(11, 2) || text[13] != ':' || !digits_at(14, 2) ||
      text[16] != ':' || !digits_at(17, 2)) {
    return std::nullopt;
  }
  const int year = number(text.substr(0, 4));
  const int month = number(text.substr(5, 2));
  const int day = number(text.substr(8, 2));
  const int hour = number(text.substr(11, 2));
  const int minute = number(text.substr(14, 2));
  const int second = number(text.substr(17, 2));
  const std::chrono::year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  // ok(): a real calendar day (no February 30), leap years included.
  if (!date.ok() || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  std::size_t at = 19;
  std::int64_t millis = 0;
  if (text[at] == '.') {
    const std::size_t start = ++at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    const std::size_t count = at - start;
    if (count == 0 || count > 9) return std::nullopt;
    std::string fraction(text.substr(start, std::min<std::size_t>(count, 3)));
    fraction.resize(3, '0');
    millis = number(fraction);
  }
  std::int64_t offset_minutes = 0;
  const std::string_view zone = text.substr(at);
  if (zone == "Z" || zone == "z") {
    offset_minutes = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && all_digits(zone.substr(1, 2)) &&
             zone[3] == ':' && all_digits(zone.substr(4, 2))) {
    const int hours = number(zone.substr(1, 2));
    const int minutes = number(zone.substr(4, 2));
    if (hours > 23 || minutes > 59) return std::nullopt;
    offset_minutes = (hours * 60 + minutes) * (zone[0] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  const std::int64_t days = std::chrono::sys_days{date}.time_since_epoch().count();
  const std::int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return seconds * 1000 + millis;
}

queue::JobFilter admin_job_query(const http::Request& request) {
  queue::JobFilter filter;
  filter.limit = default_admin_page_limit;
  std::set<std::string> seen;
  for (const auto& [name, value] : request.query) {
    bool known = false;
    for (auto parameter : kQueryParameters) known = known || parameter == name;
    if (!known) {
      std::string shown = name.size() > 100 ? name.substr(0, 100) + "..." : name;
      refuse_parameter(observability::sanitize_utf8(shown), "is not a known parameter");
    }
    if (!seen.insert(name).second) refuse_parameter(name, "is given more than once");
    if (name == "limit") {
      if (!all_digits(value) || value.size() > 3 || number(value) < 1 || number(value) > max_admin_page_limit) {
        refuse_parameter(name, "must be an integer from 1 to " + std::to_string(max_admin_page_limit));
      }
      filter.limit = number(value);
    } else if (name == "cursor") {
      // Opaque to callers: the next_cursor of the previous page (an id).
      const bool valid = all_digits(value) && value.size() <= 19 && value.front() != '0' &&
                         (value.size() < 19 || value <= "9223372036854775807");
      if (!valid) refuse_parameter(name, "is not a valid value (use the next_cursor the previous page returned)");
      filter.before_id = std::stoll(value);
    } else if (!value.empty()) {
      set_filter_field(filter, name, value, "invalid_parameter");
    }
  }
  return filter;
}

BulkRequest admin_bulk_request(const http::Request& request) {
  if (request.body.size() > max_admin_body_bytes) {
    throw Refusal(413, "payload_too_large", "the request body is larger than 64 KiB");
  }
  const auto body = parse_json_object(request);
  ObjectReader reader(body);
  BulkRequest bulk;
  const TextRule any_text{0, max_admin_body_bytes, true, false};
  for (const char* name : {"state", "type", "created_after", "created_before", "error", "trace_id"}) {
    auto value = reader.optional_text(name, any_text);
    if (value && !value->empty()) set_filter_field(bulk.filter, name, *value, "invalid_request");
  }
  bulk.max = static_cast<int>(reader.optional_integer("max", 1, max_bulk_jobs).value_or(max_bulk_jobs));
  reader.refuse_unknown_fields();
  return bulk;
}

}  // namespace pw::api
