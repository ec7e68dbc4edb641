// Cron expressions: five fields (minute hour day-of-month month day-of-week)
// or an @shortcut, read in a time zone, and the next tick after an instant.
//
// Grammar per field: `*`, `n`, `a-b`, `*/s`, `a-b/s`, `a/s` (a to the field's
// end), comma-separated lists of these; JAN-DEC and SUN-SAT in any case; 0
// and 7 are both Sunday. Shortcuts: @yearly @annually @monthly @weekly @daily
// @midnight @hourly. Vixie semantics for the two day fields: when both are
// restricted (neither starts with `*`), a day matches if either matches.
//
// Daylight saving time, as Vixie cron and cronie do it. A "fixed-time"
// expression (neither minute nor hour starts with `*`) names wall-clock times:
// one that a spring-forward gap skips runs at the instant the gap ends (02:30
// in New York on a March change day runs at 03:00 EDT), and one that a
// fall-back overlap repeats runs once, at its first occurrence. An expression
// whose minute or hour starts with `*` (`*/15 * * * *`, `@hourly`) is an
// interval: it runs at every real instant whose wall-clock time matches, so
// times in a gap do not run and times in an overlap run at both occurrences,
// which keeps the interval between runs the same across a change.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "schedule/time_zone.hpp"

namespace pw::schedule {

// Longer text is refused before any parsing: every real expression is far
// shorter, and it bounds the work an API request can ask for.
inline constexpr std::size_t max_cron_bytes = 256;

// next_after looks this far ahead: longer than the longest gap between the
// ticks of any expression that fires at all (February 29 across 2100, which
// is not a leap year: 8 years).
inline constexpr std::chrono::days cron_horizon{3000};

struct CronResult;

class Cron {
 public:
  // Never throws on any text (std::bad_alloc aside); a refusal says which
  // field and what is wrong ("day-of-month: 32 is out of range 1-31").
  static CronResult parse(std::string_view text, const TimeZone& zone);
  // Loads zone_name (see TimeZone::load) first; its errors start "time zone:".
  static CronResult parse(std::string_view text, std::string_view zone_name);

  // The first tick strictly after `after`, or nullopt when none falls within
  // cron_horizon (`0 0 30 2 *` never does) or `after` is outside the years
  // 1900-9000.
  std::optional<std::chrono::sys_seconds> next_after(std::chrono::sys_seconds after) const;
  // Whether `when` is a tick: the same rules as next_after, checked directly.
  bool matches(std::chrono::sys_seconds when) const;

  const TimeZone& zone() const { return m_zone; }
  const std::string& text() const { return m_text; }

 private:
  explicit Cron(TimeZone zone) : m_zone(std::move(zone)) {}
  bool day_matches(std::chrono::year_month_day date) const;
  bool fixed_time() const { return !m_minute_star && !m_hour_star; }
  std::optional<std::chrono::sys_seconds> first_tick_of_day(std::chrono::local_days day,
                                                            std::chrono::sys_seconds after) const;
  bool gap_ends_with_tick(std::chrono::sys_seconds when) const;

  TimeZone m_zone;
  std::string m_text;
  std::uint64_t m_minutes = 0;        // bit n: minute n
  std::uint32_t m_hours = 0;          // bit n: hour n
  std::uint32_t m_days_of_month = 0;  // bit n: day n (1-31)
  std::uint16_t m_months = 0;         // bit n: month n (1-12)
  std::uint8_t m_days_of_week = 0;    // bit n: weekday n (0 = Sunday)
  bool m_minute_star = false;
  bool m_hour_star = false;
  bool m_day_of_month_star = false;
  bool m_day_of_week_star = false;

  friend class CronParser;
};

struct CronResult {
  std::optional<Cron> cron;  // set when error is empty
  std::string error;
};

}  // namespace pw::schedule
