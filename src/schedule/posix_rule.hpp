// The POSIX TZ rule at the end of a TZif file ("EST5EDT,M3.2.0,M11.1.0"): it
// governs every instant after the file's last listed transition, which a slim
// zone file reaches within a few years of now.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace pw::schedule {

// A change of UTC offset: `before` is in effect until `at`, `after` from it.
struct Transition {
  std::chrono::sys_seconds at;
  std::chrono::seconds before;
  std::chrono::seconds after;
};

class PosixRule {
 public:
  // nullopt when the text is not a rule RFC 8536 allows (names, offsets and
  // rule times in their ranges); bounded by the text's length.
  static std::optional<PosixRule> parse(std::string_view text);

  std::chrono::seconds offset_at(std::chrono::sys_seconds when) const;
  // The rule's changes of offset in the years around [from, to], in order.
  std::vector<Transition> transitions(std::chrono::sys_seconds from, std::chrono::sys_seconds to) const;

  // A day of the year as the rule writes it: Jn (1-365, February 29 never
  // counted), n (0-365) or Mm.w.d (day d of week w of month m, 5 = last).
  struct Day {
    enum class Kind { julian, zero_based, month_week } kind = Kind::month_week;
    int number = 0;
    int month = 1;
    int week = 1;
    int weekday = 0;
  };

 private:
  std::chrono::sys_seconds start_of_dst(int year) const;
  std::chrono::sys_seconds end_of_dst(int year) const;

  std::chrono::seconds m_standard{0};
  std::optional<std::chrono::seconds> m_daylight;  // empty: no daylight saving time
  Day m_start;
  Day m_end;
  std::chrono::seconds m_start_time{7200};
  std::chrono::seconds m_end_time{7200};
};

}  // namespace pw::schedule
