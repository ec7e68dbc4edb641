#include "schedule/posix_rule.hpp"

#include <algorithm>
#include <cctype>

namespace pw::schedule {
namespace {

using std::chrono::seconds;

class Cursor {
 public:
  explicit Cursor(std::string_view text) : m_text(text) {}
  bool done() const { return m_pos >= m_text.size(); }
  char peek() const { return done() ? '\0' : m_text[m_pos]; }
  bool take(char c) {
    if (peek() != c) return false;
    ++m_pos;
    return true;
  }

  // A zone abbreviation: three or more letters, or <...> with digits and signs.
  bool name() {
    std::size_t start = m_pos;
    if (take('<')) {
      while (!done() && (std::isalnum(static_cast<unsigned char>(peek())) || peek() == '+' || peek() == '-')) ++m_pos;
      std::size_t length = m_pos - start - 1;
      return take('>') && length >= 3;
    }
    while (!done() && std::isalpha(static_cast<unsigned char>(peek()))) ++m_pos;
    return m_pos - start >= 3;
  }

  // [+-]hh[:mm[:ss]], hours up to max_hours.
  std::optional<seconds> duration(int max_hours) {
    int sign = 1;
    if (take('-')) {
      sign = -1;
    } else {
      take('+');
    }
    auto hours = number(3);
    if (!hours || *hours > max_hours) return std::nullopt;
    long total = *hours * 3600L;
    for (long unit : {60L, 1L}) {
      if (!take(':')) break;
      auto part = number(2);
      if (!part || *part > 59) return std::nullopt;
      total += *part * unit;
    }
    return seconds(sign * total);
  }

  std::optional<int> number(std::size_t max_digits) {
    std::size_t start = m_pos;
    int value = 0;
    while (!done() && std::isdigit(static_cast<unsigned char>(peek())) && m_pos - start < max_digits) {
      value = value * 10 + (peek() - '0');
      ++m_pos;
    }
    if (m_pos == start) return std::nullopt;
    return value;
  }

  std::optional<PosixRule::Day> day() {
    PosixRule::Day day;
    if (take('J')) {
      auto n = number(3);
      if (!n || *n < 1 || *n > 365) return std::nullopt;
      day.kind = PosixRule::Day::Kind::julian;
      day.number = *n;
    } else if (take('M')) {
      auto month = number(2);
      if (!month || *month < 1 || *month > 12 || !take('.')) return std::nullopt;
      auto week = number(1);
      if (!week || *week < 1 || *week > 5 || !take('.')) return std::nullopt;
      auto weekday = number(1);
      if (!weekday || *weekday > 6) return std::nullopt;
      day.month = *month;
      day.week = *week;
      day.weekday = *weekday;
    } else {
      auto n = number(3);
      if (!n || *n > 365) return std::nullopt;
      day.kind = PosixRule::Day::Kind::zero_based;
      day.number = *n;
    }
    return day;
  }

 private:
  std::string_view m_text;
  std::size_t m_pos = 0;
};

std::chrono::sys_days date_of(int year, const PosixRule::Day& day) {
  using namespace std::chrono;
  const auto y = std::chrono::year(year);
  const sys_days january_first = y / January / 1;
  switch (day.kind) {
    case PosixRule::Day::Kind::julian: {
      // Jn never counts February 29: day 60 is March 1 in every year.
      int skip = (y.is_leap() && day.number >= 60) ? 1 : 0;
      return january_first + days(day.number - 1 + skip);
    }
    case PosixRule::Day::Kind::zero_based:
      return january_first + days(day.number);
    case PosixRule::Day::Kind::month_week:
      break;
  }
  const auto month = std::chrono::month(static_cast<unsigned>(day.month));
  const auto weekday = std::chrono::weekday(static_cast<unsigned>(day.weekday));
  if (day.week == 5) return sys_days(y / month / weekday[last]);
  return sys_days(y / month / weekday[static_cast<unsigned>(day.week)]);
}

int year_of(std::chrono::sys_seconds when) {
  return int(std::chrono::year_month_day(std::chrono::floor<std::chrono::days>(when)).year());
}

}  // namespace

std::optional<PosixRule> PosixRule::parse(std::string_view text) {
  Cursor in(text);
  PosixRule rule;
  if (!in.name()) return std::nullopt;
  // POSIX counts offsets west of Greenwich as positive; we keep UTC offsets.
  auto standard = in.duration(24);
  if (!standard) return std::nullopt;
  rule.m_standard = -*standard;
  if (in.done()) return rule;
  if (!in.name()) return std::nullopt;
  rule.m_daylight = rule.m_standard + std::chrono::hours(1);
  if (in.peek() != ',') {
    auto daylight = in.duration(24);
    if (!daylight) return std::nullopt;
    rule.m_daylight = -*daylight;
  }
  // A daylight time without its rules would leave the changes to the C
  // library's choice; TZif footers always spell them out.
  if (!in.take(',')) return std::nullopt;
  auto start = in.day();
  if (!start) return std::nullopt;
  rule.m_start = *start;
  if (in.take('/')) {
    auto time = in.duration(167);
    if (!time) return std::nullopt;
    rule.m_start_time = *time;
  }
  if (!in.take(',')) return std::nullopt;
  auto end = in.day();
  if (!end) return std::nullopt;
  rule.m_end = *end;
  if (in.take('/')) {
    auto time = in.duration(167);
    if (!time) return std::nullopt;
    rule.m_end_time = *time;
  }
  if (!in.done()) return std::nullopt;
  return rule;
}

// The start is written in standard time, the end in daylight time.
std::chrono::sys_seconds PosixRule::start_of_dst(int year) const {
  return std::chrono::sys_seconds(date_of(year, m_start)) + m_start_time - m_standard;
}

std::chrono::sys_seconds PosixRule::end_of_dst(int year) const {
  return std::chrono::sys_seconds(date_of(year, m_end)) + m_end_time - *m_daylight;
}

std::chrono::seconds PosixRule::offset_at(std::chrono::sys_seconds when) const {
  if (!m_daylight) return m_standard;
  const int year = year_of(when + m_standard);
  const auto start = start_of_dst(year);
  const auto end = end_of_dst(year);
  // Southern zones start daylight time late in the year and end it early.
  const bool daylight = start < end ? (start <= when && when < end) : !(end <= when && when < start);
  return daylight ? *m_daylight : m_standard;
}

std::vector<Transition> PosixRule::transitions(std::chrono::sys_seconds from, std::chrono::sys_seconds to) const {
  std::vector<Transition> out;
  if (!m_daylight || to < from) return out;
  for (int year = year_of(from) - 1; year <= year_of(to) + 1; ++year) {
    for (const Transition& change : {Transition{start_of_dst(year), m_standard, *m_daylight},
                                     Transition{end_of_dst(year), *m_daylight, m_standard}}) {
      if (from < change.at && change.at <= to) out.push_back(change);
    }
  }
  std::sort(out.begin(), out.end(), [](const Transition& a, const Transition& b) { return a.at < b.at; });
  return out;
}

}  // namespace pw::schedule
