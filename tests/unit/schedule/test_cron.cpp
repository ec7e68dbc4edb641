#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "schedule/cron.hpp"

using namespace pw::schedule;
using namespace std::chrono;

namespace {

sys_seconds utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  return sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi);
}

Cron cron(std::string_view text, std::string_view zone = "UTC") {
  auto result = Cron::parse(text, zone);
  CAPTURE(text);
  CAPTURE(zone);
  CAPTURE(result.error);
  REQUIRE(result.cron);
  CHECK(result.error.empty());
  return *result.cron;
}

std::vector<sys_seconds> ticks(const Cron& expression, sys_seconds after, int count) {
  std::vector<sys_seconds> out;
  for (int i = 0; i < count; ++i) {
    auto next = expression.next_after(after);
    if (!next) break;
    out.push_back(*next);
    after = *next;
  }
  return out;
}

std::string error_of(std::string_view text, std::string_view zone = "UTC") {
  auto result = Cron::parse(text, zone);
  CHECK_FALSE(result.cron);
  return result.error;
}

}  // namespace

TEST_CASE("cron: */15 9-17 * * MON-FRI runs every quarter hour of the working day, weekdays only") {
  auto expression = cron("*/15 9-17 * * MON-FRI");
  // Friday 2025-03-07 17:40: the last quarter of Friday, then Monday morning.
  CHECK(ticks(expression, utc(2025, 3, 7, 17, 40), 4) ==
        std::vector{utc(2025, 3, 7, 17, 45), utc(2025, 3, 10, 9, 0), utc(2025, 3, 10, 9, 15), utc(2025, 3, 10, 9, 30)});
  // 9:00 to 17:45 is 36 ticks a day: the 37th is Tuesday's first.
  auto monday = ticks(expression, utc(2025, 3, 10, 0, 0), 37);
  REQUIRE(monday.size() == 37);
  CHECK(monday[35] == utc(2025, 3, 10, 17, 45));
  CHECK(monday[36] == utc(2025, 3, 11, 9, 0));
}

TEST_CASE("cron: the next tick is strictly after the given instant") {
  auto every_minute = cron("* * * * *");
  CHECK(every_minute.next_after(utc(2025, 1, 1, 12, 0)) == utc(2025, 1, 1, 12, 1));
  CHECK(every_minute.next_after(utc(2025, 1, 1, 12, 0) - seconds(1)) == utc(2025, 1, 1, 12, 0));
  CHECK(every_minute.next_after(utc(2025, 12, 31, 23, 59)) == utc(2026, 1, 1, 0, 0));
}

TEST_CASE("cron: 0 0 1 * * runs at midnight on the first of every month") {
  CHECK(ticks(cron("0 0 1 * *"), utc(2025, 1, 31, 12), 3) ==
        std::vector{utc(2025, 2, 1), utc(2025, 3, 1), utc(2025, 4, 1)});
}

TEST_CASE("cron: the shortcuts are their five-field expansions, in any case") {
  const std::vector<std::pair<std::string, std::string>> pairs{
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
      {"@daily", "0 0 * * *"},  {"@midnight", "0 0 * * *"}, {"@hourly", "0 * * * *"},  {"@HOURLY", "0 * * * *"}};
  for (const auto& [shortcut, fields] : pairs) {
    CAPTURE(shortcut);
    CHECK(ticks(cron(shortcut), utc(2025, 6, 15, 10, 30), 5) == ticks(cron(fields), utc(2025, 6, 15, 10, 30), 5));
  }
  CHECK(ticks(cron("@hourly"), utc(2025, 6, 15, 10, 30), 2) == std::vector{utc(2025, 6, 15, 11), utc(2025, 6, 15, 12)});
  CHECK(cron("@Daily").text() == "@daily");
}

TEST_CASE("cron: when both day fields are restricted a day matches either (Vixie)") {
  // The 13th, or any Friday: Thu 13 March, Fri 14, Fri 21.
  CHECK(ticks(cron("0 0 13 * FRI"), utc(2025, 3, 9), 3) ==
        std::vector{utc(2025, 3, 13), utc(2025, 3, 14), utc(2025, 3, 21)});
  // One field `*`: the other alone decides.
  CHECK(ticks(cron("0 0 13 * *"), utc(2025, 3, 9), 2) == std::vector{utc(2025, 3, 13), utc(2025, 4, 13)});
  CHECK(ticks(cron("0 0 * * FRI"), utc(2025, 3, 9), 2) == std::vector{utc(2025, 3, 14), utc(2025, 3, 21)});
  // A field that starts with * counts as unrestricted, as in Vixie cron: odd
  // days that are Mondays (3 and 17 March, 31 March), not odd days or Mondays.
  CHECK(ticks(cron("0 0 */2 * MON"), utc(2025, 3, 1), 3) ==
        std::vector{utc(2025, 3, 3), utc(2025, 3, 17), utc(2025, 3, 31)});
}

TEST_CASE("cron: February 29 comes every leap year, and not in 2100") {
  auto leap_day = cron("0 0 29 2 *");
  CHECK(leap_day.next_after(utc(2025, 1, 1)) == utc(2028, 2, 29));
  CHECK(leap_day.next_after(utc(2096, 3, 1)) == utc(2104, 2, 29));
}

TEST_CASE("cron: an expression that never fires returns never instead of searching on") {
  CHECK_FALSE(cron("0 0 30 2 *").next_after(utc(2025, 1, 1)));
  CHECK_FALSE(cron("0 0 31 4,6,9,11 *").next_after(utc(2025, 1, 1)));
  // Instants outside the supported years are refused the same way.
  CHECK_FALSE(cron("* * * * *").next_after(utc(9500, 1, 1)));
  CHECK_FALSE(cron("* * * * *").next_after(utc(1800, 1, 1)));
  CHECK_FALSE(cron("* * * * *").matches(utc(9500, 1, 1)));
}

TEST_CASE("cron: names in any case, 0 and 7 both Sunday, lists, ranges and steps") {
  const auto from = utc(2025, 3, 1);  // a Saturday
  CHECK(ticks(cron("0 0 * * 7"), from, 3) == ticks(cron("0 0 * * 0"), from, 3));
  CHECK(ticks(cron("0 0 * * sun"), from, 3) == ticks(cron("0 0 * * 0"), from, 3));
  CHECK(ticks(cron("0 0 * * 5-7"), from, 3) == std::vector{utc(2025, 3, 2), utc(2025, 3, 7), utc(2025, 3, 8)});
  CHECK(ticks(cron("0 0 1 jan,Mar-APR *"), from, 3) == std::vector{utc(2025, 4, 1), utc(2026, 1, 1), utc(2026, 3, 1)});
  CHECK(ticks(cron("10-30/10 * * * *"), from, 4) ==
        std::vector{utc(2025, 3, 1, 0, 10), utc(2025, 3, 1, 0, 20), utc(2025, 3, 1, 0, 30), utc(2025, 3, 1, 1, 10)});
  CHECK(ticks(cron("5/20 * * * *"), from, 4) ==
        std::vector{utc(2025, 3, 1, 0, 5), utc(2025, 3, 1, 0, 25), utc(2025, 3, 1, 0, 45), utc(2025, 3, 1, 1, 5)});
  CHECK(ticks(cron("0 0,12 * * *"), from, 3) == std::vector{utc(2025, 3, 1, 12), utc(2025, 3, 2), utc(2025, 3, 2, 12)});
  CHECK(ticks(cron(" \t0  0 * * *\t "), from, 1) == std::vector{utc(2025, 3, 2)});
}

TEST_CASE("cron: a zone's offset moves the wall-clock times") {
  // Asia/Kolkata is UTC+5:30 all year.
  CHECK(cron("0 9 * * *", "Asia/Kolkata").next_after(utc(2025, 6, 1)) == utc(2025, 6, 1, 3, 30));
}

TEST_CASE("cron: New York spring forward: a skipped fixed time runs when the gap ends, intervals skip it") {
  // 2025-03-09 02:00 EST -> 03:00 EDT (07:00 UTC).
  auto fixed = cron("30 2 * * *", "America/New_York");
  CHECK(ticks(fixed, utc(2025, 3, 8, 12), 3) == std::vector{utc(2025, 3, 9, 7, 0), utc(2025, 3, 10, 6, 30),
                                                            utc(2025, 3, 11, 6, 30)});
  CHECK(fixed.matches(utc(2025, 3, 9, 7, 0)));
  auto interval = cron("*/30 * * * *", "America/New_York");
  CHECK(ticks(interval, utc(2025, 3, 9, 6, 0), 3) ==
        std::vector{utc(2025, 3, 9, 6, 30), utc(2025, 3, 9, 7, 0), utc(2025, 3, 9, 7, 30)});
  // Past the last transition listed in the zone file, from its POSIX rule:
  // 2040-03-11 is the second Sunday of March.
  CHECK(fixed.next_after(utc(2040, 3, 10, 12)) == utc(2040, 3, 11, 7, 0));
  CHECK(fixed.next_after(utc(2040, 3, 11, 12)) == utc(2040, 3, 12, 6, 30));
}

TEST_CASE("cron: New York fall back: a repeated fixed time runs once, intervals run at both") {
  // 2025-11-02 02:00 EDT -> 01:00 EST: 01:30 happens at 05:30 and 06:30 UTC.
  auto fixed = cron("30 1 * * *", "America/New_York");
  CHECK(ticks(fixed, utc(2025, 11, 1, 12), 2) == std::vector{utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30)});
  CHECK(fixed.next_after(utc(2025, 11, 2, 6, 0)) == utc(2025, 11, 3, 6, 30));
  CHECK_FALSE(fixed.matches(utc(2025, 11, 2, 6, 30)));
  auto hourly = cron("@hourly", "America/New_York");
  CHECK(ticks(hourly, utc(2025, 11, 2, 4, 30), 3) ==
        std::vector{utc(2025, 11, 2, 5, 0), utc(2025, 11, 2, 6, 0), utc(2025, 11, 2, 7, 0)});
}

TEST_CASE("cron: Berlin's changes, spring and autumn") {
  // 2025-03-30 02:00 CET -> 03:00 CEST (01:00 UTC); 2025-10-26 03:00 CEST -> 02:00 CET.
  CHECK(cron("0 2 * * *", "Europe/Berlin").next_after(utc(2025, 3, 29, 12)) == utc(2025, 3, 30, 1, 0));
  CHECK(ticks(cron("30 2 * * *", "Europe/Berlin"), utc(2025, 10, 25, 12), 2) ==
        std::vector{utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30)});
}

TEST_CASE("cron: matches agrees with next_after minute by minute across changes of offset") {
  for (const char* text : {"30 2 * * *", "30 1 * * *", "*/20 * * * *", "@hourly", "0,30 1-3 * * *", "* 2 * * *"}) {
    for (const char* zone : {"America/New_York", "Europe/Berlin", "Australia/Lord_Howe"}) {
      CAPTURE(text);
      CAPTURE(zone);
      auto expression = cron(text, zone);
      for (auto day : {utc(2025, 3, 8), utc(2025, 3, 29), utc(2025, 10, 25), utc(2025, 11, 1), utc(2025, 4, 5)}) {
        auto next = expression.next_after(day);
        std::int64_t disagreement_at = 0;
        for (auto minute = day + minutes(1); minute < day + hours(48); minute += minutes(1)) {
          const bool tick = next && *next == minute;
          if (expression.matches(minute) != tick) {
            disagreement_at = minute.time_since_epoch().count();
            break;
          }
          if (tick) next = expression.next_after(minute);
        }
        CHECK(disagreement_at == 0);
      }
    }
  }
}

TEST_CASE("cron: refusals name the field and the problem") {
  CHECK(error_of("60 * * * *") == "minute: 60 is out of range 0-59");
  CHECK(error_of("* 24 * * *") == "hour: 24 is out of range 0-23");
  CHECK(error_of("* * 0 * *") == "day-of-month: 0 is out of range 1-31");
  CHECK(error_of("* * 32 * *") == "day-of-month: 32 is out of range 1-31");
  CHECK(error_of("* * * 13 *") == "month: 13 is out of range 1-12");
  CHECK(error_of("* * * * 8") == "day-of-week: 8 is out of range 0-7");
  CHECK(error_of("99999999999999999999 * * * *") == "minute: 99999999999999999999 is out of range 0-59");
  CHECK(error_of("*/0 * * * *") == "minute: step 0 is not allowed");
  CHECK(error_of("* 1-5/0 * * *") == "hour: step 0 is not allowed");
  CHECK(error_of("*/61 * * * *") == "minute: step 61 is larger than the field's 60 values");
  CHECK(error_of("*/x * * * *") == "minute: step 'x' is not a number");
  CHECK(error_of("5-1 * * * *") == "minute: range '5-1' runs backwards");
  CHECK(error_of("1,,2 * * * *") == "minute: empty item in the list '1,,2'");
  CHECK(error_of("1- * * * *") == "minute: a number is missing");
  CHECK(error_of("JAN * * * *") == "minute: 'JAN' is not a number");
  CHECK(error_of("* * * * MONDAY") == "day-of-week: 'MONDAY' is not a number or a three-letter name");
  CHECK(error_of("* * * MON *") == "month: 'MON' is not a number or a three-letter name");
  CHECK(error_of("1 2 3 4 5 6") == "expression: expected 5 fields (minute hour day-of-month month day-of-week), got 6");
  CHECK(error_of("1 2 3 4") == "expression: expected 5 fields (minute hour day-of-month month day-of-week), got 4");
  CHECK(error_of("") == "expression: empty");
  CHECK(error_of(" \t ") == "expression: empty");
  CHECK(error_of("hello world") ==
        "expression: expected 5 fields (minute hour day-of-month month day-of-week), got 2");
  CHECK(error_of("a b c d e") == "minute: 'a' is not a number");
  CHECK(error_of("@reboot").rfind("expression: unknown shortcut '@reboot'", 0) == 0);
  CHECK(error_of("@hourly *") == "expression: expected 5 fields (minute hour day-of-month month day-of-week), got 2");
  CHECK(error_of("* * * * *\n") == "expression: byte 9 is a control or non-ASCII character");
  CHECK(error_of("* * * * \xc3\xa9") == "expression: byte 8 is a control or non-ASCII character");
  CHECK(error_of(std::string(100000, '*')) == "expression: longer than 256 bytes");
  CHECK(error_of(std::string(300, ' ') + "* * * * *") == "expression: longer than 256 bytes");
}

TEST_CASE("cron: zone names are checked before any file is read") {
  CHECK(error_of("* * * * *", "Mars/Olympus_Mons") == "time zone: unknown zone 'Mars/Olympus_Mons'");
  for (const char* bad : {"", "../etc/passwd", "/etc/localtime", "Europe//Berlin", "Europe/Berlin ", "Europe/.hidden"}) {
    CAPTURE(bad);
    CHECK(error_of("* * * * *", bad).rfind("time zone: not an IANA zone name", 0) == 0);
  }
  CHECK(error_of("* * * * *", "zone1970.tab").rfind("time zone: 'zone1970.tab'", 0) == 0);
  CHECK(error_of("* * * * *", "America") == "time zone: unknown zone 'America'");
  CHECK(cron("* * * * *", "UTC").zone().name() == "UTC");
  CHECK(cron("* * * * *", "Europe/Berlin").zone().name() == "Europe/Berlin");
}
