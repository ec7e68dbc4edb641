// Cron::parse: text -> field bit sets, or the first problem found.
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "schedule/cron.hpp"

namespace pw::schedule {
namespace {

constexpr std::array<std::string_view, 12> month_names{"jan", "feb", "mar", "apr", "may", "jun",
                                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> weekday_names{"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

struct Field {
  std::string_view name;
  int min;
  int max;
  const std::string_view* names = nullptr;  // names[i] stands for min_name + i
  int name_count = 0;
  int min_name = 0;
};

constexpr Field minute_field{"minute", 0, 59};
constexpr Field hour_field{"hour", 0, 23};
constexpr Field day_of_month_field{"day-of-month", 1, 31};
constexpr Field month_field{"month", 1, 12, month_names.data(), 12, 1};
// 7 is Sunday too: it is folded into bit 0 after parsing.
constexpr Field day_of_week_field{"day-of-week", 0, 7, weekday_names.data(), 7, 0};

struct Shortcut {
  std::string_view name;
  std::string_view fields;
};
constexpr std::array<Shortcut, 7> shortcuts{{{"@yearly", "0 0 1 1 *"},
                                             {"@annually", "0 0 1 1 *"},
                                             {"@monthly", "0 0 1 * *"},
                                             {"@weekly", "0 0 * * 0"},
                                             {"@daily", "0 0 * * *"},
                                             {"@midnight", "0 0 * * *"},
                                             {"@hourly", "0 * * * *"}}};

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

bool is_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Digits to a number, saturating at 1000: larger than any field allows, and
// no overflow however long the text.
int saturating_number(std::string_view digits) {
  int value = 0;
  for (char c : digits) value = std::min(1000, value * 10 + (c - '0'));
  return value;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == separator) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

// Reads one field into a bit set; returns the problem, empty when none.
class FieldReader {
 public:
  FieldReader(const Field& field, std::uint64_t& bits) : m_field(field), m_bits(bits) {}

  std::string read(std::string_view text) {
    for (std::string_view item : split(text, ',')) {
      if (item.empty()) return problem("empty item in the list " + quoted(text));
      if (auto error = read_item(item); !error.empty()) return error;
    }
    return {};
  }

 private:
  std::string read_item(std::string_view item) {
    auto slash = item.find('/');
    std::string_view range = item.substr(0, slash);
    int low = m_field.min;
    int high = m_field.max;
    int step = 1;
    if (slash != std::string_view::npos) {
      std::string_view step_text = item.substr(slash + 1);
      if (!is_digits(step_text)) return problem("step " + quoted(step_text) + " is not a number");
      const int span = m_field.max - m_field.min + 1;
      step = saturating_number(step_text);
      if (step == 0) return problem("step 0 is not allowed");
      if (step > span) {
        return problem("step " + std::string(step_text) + " is larger than the field's " + std::to_string(span) +
                       " values");
      }
    }
    if (range != "*") {
      auto dash = range.find('-');
      auto first = value(range.substr(0, dash));
      if (!first.error.empty()) return first.error;
      low = first.number;
      // `a/s` runs from a to the field's end; a lone `a` is just a.
      high = slash == std::string_view::npos ? low : m_field.max;
      if (dash != std::string_view::npos) {
        auto last = value(range.substr(dash + 1));
        if (!last.error.empty()) return last.error;
        high = last.number;
        if (low > high) return problem("range " + quoted(range) + " runs backwards");
      }
    }
    for (int n = low; n <= high; n += step) m_bits |= std::uint64_t{1} << n;
    return {};
  }

  struct Value {
    int number = 0;
    std::string error;
  };

  Value value(std::string_view text) {
    if (text.empty()) return {0, problem("a number is missing")};
    for (int i = 0; i < m_field.name_count; ++i) {
      if (equal_ignoring_case(text, m_field.names[i])) return {m_field.min_name + i, {}};
    }
    const std::string range = std::to_string(m_field.min) + "-" + std::to_string(m_field.max);
    if (!is_digits(text)) {
      std::string what = m_field.name_count > 0 ? "a number or a three-letter name" : "a number";
      return {0, problem(quoted(text) + " is not " + what)};
    }
    int number = saturating_number(text);
    if (number < m_field.min || number > m_field.max) {
      return {0, problem(std::string(text) + " is out of range " + range)};
    }
    return {number, {}};
  }

  std::string problem(const std::string& what) const { return std::string(m_field.name) + ": " + what; }

  const Field& m_field;
  std::uint64_t& m_bits;
};

}  // namespace

class CronParser {
 public:
  static CronResult parse(std::string_view text, const TimeZone& zone) {
    if (text.size() > max_cron_bytes) return failure("expression: longer than " + std::to_string(max_cron_bytes) + " bytes");
    for (std::size_t i = 0; i < text.size(); ++i) {
      auto c = static_cast<unsigned char>(text[i]);
      if ((c < 0x20 && c != '\t') || c > 0x7e) {
        return failure("expression: byte " + std::to_string(i) + " is a control or non-ASCII character");
      }
    }
    std::vector<std::string_view> fields;
    std::size_t i = 0;
    while (i < text.size()) {
      if (text[i] == ' ' || text[i] == '\t') {
        ++i;
        continue;
      }
      std::size_t start = i;
      while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
      fields.push_back(text.substr(start, i - start));
    }
    if (fields.empty()) return failure("expression: empty");
    if (fields.size() == 1 && fields[0].front() == '@') return shortcut(fields[0], zone);
    if (fields.size() != 5) {
      return failure("expression: expected 5 fields (minute hour day-of-month month day-of-week), got " +
                     std::to_string(fields.size()));
    }

    Cron cron(zone);
    std::uint64_t bits[5] = {};
    const Field* specs[5] = {&minute_field, &hour_field, &day_of_month_field, &month_field, &day_of_week_field};
    for (int f = 0; f < 5; ++f) {
      if (auto error = FieldReader(*specs[f], bits[f]).read(fields[static_cast<std::size_t>(f)]); !error.empty()) {
        return failure(std::move(error));
      }
    }
    cron.m_minutes = bits[0];
    cron.m_hours = static_cast<std::uint32_t>(bits[1]);
    cron.m_days_of_month = static_cast<std::uint32_t>(bits[2]);
    cron.m_months = static_cast<std::uint16_t>(bits[3]);
    cron.m_days_of_week = static_cast<std::uint8_t>((bits[4] | (bits[4] >> 7)) & 0x7f);
    // As in Vixie cron, "restricted" means "does not start with *": it is how
    // the day rule and the daylight saving rule tell intervals from times.
    cron.m_minute_star = fields[0].front() == '*';
    cron.m_hour_star = fields[1].front() == '*';
    cron.m_day_of_month_star = fields[2].front() == '*';
    cron.m_day_of_week_star = fields[4].front() == '*';
    for (std::size_t f = 0; f < fields.size(); ++f) cron.m_text += (f ? " " : "") + std::string(fields[f]);
    return CronResult{std::move(cron), {}};
  }

 private:
  static CronResult shortcut(std::string_view name, const TimeZone& zone) {
    for (const auto& known : shortcuts) {
      if (!equal_ignoring_case(name, known.name)) continue;
      auto result = parse(known.fields, zone);
      if (result.cron) result.cron->m_text = known.name;
      return result;
    }
    return failure("expression: unknown shortcut " + quoted(name) +
                   " (known: @yearly @annually @monthly @weekly @daily @midnight @hourly)");
  }

  static CronResult failure(std::string error) { return CronResult{std::nullopt, std::move(error)}; }
};

CronResult Cron::parse(std::string_view text, const TimeZone& zone) { return CronParser::parse(text, zone); }

CronResult Cron::parse(std::string_view text, std::string_view zone_name) {
  auto zone = TimeZone::load(zone_name);
  if (!zone.zone) return CronResult{std::nullopt, std::move(zone.error)};
  return CronParser::parse(text, *zone.zone);
}

}  // namespace pw::schedule
