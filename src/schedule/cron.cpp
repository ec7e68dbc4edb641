// Cron::next_after and Cron::matches (parsing is in cron_parser.cpp).
#include "schedule/cron.hpp"

namespace pw::schedule {
namespace {

using namespace std::chrono;

bool in_supported_years(sys_seconds when) {
  // Far from the limits of year_month_day and of the zone rules' arithmetic.
  return when >= sys_days(year(1900) / January / 1) && when < sys_days(year(9000) / January / 1);
}

bool bit(std::uint64_t bits, long n) { return (bits >> n) & 1U; }

}  // namespace

bool Cron::day_matches(year_month_day date) const {
  if (!bit(m_months, static_cast<long>(unsigned(date.month())))) return false;
  const bool day_of_month = bit(m_days_of_month, static_cast<long>(unsigned(date.day())));
  const bool day_of_week = bit(m_days_of_week, static_cast<long>(weekday(sys_days(date)).c_encoding()));
  if (m_day_of_month_star || m_day_of_week_star) return day_of_month && day_of_week;
  return day_of_month || day_of_week;
}

std::optional<sys_seconds> Cron::next_after(sys_seconds after) const {
  if (!in_supported_years(after)) return std::nullopt;
  // From the day before `after`'s local date: a wall-clock time of that day
  // can still lie after `after` when the offset changes around midnight.
  const auto first_day = floor<days>(local_seconds((after + m_zone.offset_at(after)).time_since_epoch())) - days(1);
  std::optional<sys_seconds> best;
  std::optional<local_days> best_day;
  for (auto day = first_day; day <= first_day + cron_horizon + days(2); day += days(1)) {
    // One day past the first with a tick: across an offset change, a tick
    // of the next local day can come earlier in real time.
    if (best_day && day > *best_day + days(1)) break;
    if (!day_matches(year_month_day(sys_days(day.time_since_epoch())))) continue;
    auto tick = first_tick_of_day(day, after);
    if (tick && (!best || *tick < *best)) {
      best = tick;
      if (!best_day) best_day = day;
    }
  }
  return best;
}

std::optional<sys_seconds> Cron::first_tick_of_day(local_days day, sys_seconds after) const {
  const sys_seconds as_utc(day.time_since_epoch());
  const bool offset_changes = !m_zone.transitions(as_utc - days(2), as_utc + days(3)).empty();
  if (!offset_changes) {
    // One offset all day long: wall-clock order is real order.
    const auto offset = m_zone.offset_at(as_utc);
    for (long h = 0; h < 24; ++h) {
      if (!bit(m_hours, h) || as_utc + hours(h + 1) - offset <= after) continue;
      for (long m = 0; m < 60; ++m) {
        sys_seconds tick = as_utc + hours(h) + minutes(m) - offset;
        if (bit(m_minutes, m) && tick > after) return tick;
      }
    }
    return std::nullopt;
  }
  std::optional<sys_seconds> best;
  auto consider = [&](sys_seconds tick) {
    if (tick > after && (!best || tick < *best)) best = tick;
  };
  for (long h = 0; h < 24; ++h) {
    if (!bit(m_hours, h)) continue;
    for (long m = 0; m < 60; ++m) {
      if (!bit(m_minutes, m)) continue;
      const auto instant = m_zone.resolve(day + hours(h) + minutes(m));
      switch (instant.kind) {
        case LocalInstant::Kind::unique:
          consider(instant.first);
          break;
        case LocalInstant::Kind::repeated:
          consider(instant.first);
          if (!fixed_time()) consider(instant.second);
          break;
        case LocalInstant::Kind::skipped:
          if (fixed_time()) consider(instant.first);
          break;
      }
    }
  }
  return best;
}

bool Cron::matches(sys_seconds when) const {
  if (!in_supported_years(when)) return false;
  const local_seconds local((when + m_zone.offset_at(when)).time_since_epoch());
  const auto day = floor<days>(local);
  const auto time_of_day = local - day;
  const long h = duration_cast<hours>(time_of_day).count();
  const long m = duration_cast<minutes>(time_of_day % hours(1)).count();
  const bool on_a_minute = time_of_day % minutes(1) == seconds(0);
  if (on_a_minute && bit(m_hours, h) && bit(m_minutes, m) && day_matches(year_month_day(sys_days(day.time_since_epoch())))) {
    const auto instant = m_zone.resolve(local);
    if (instant.kind == LocalInstant::Kind::unique || when == instant.first) return true;
    if (instant.kind == LocalInstant::Kind::repeated && when == instant.second && !fixed_time()) return true;
  }
  return fixed_time() && gap_ends_with_tick(when);
}

// Whether `when` ends a spring-forward gap that swallowed a fixed-time tick.
bool Cron::gap_ends_with_tick(sys_seconds when) const {
  for (const auto& change : m_zone.transitions(when - seconds(1), when)) {
    if (change.at != when || change.after <= change.before) continue;
    const local_seconds gap_start((when + change.before).time_since_epoch());
    const local_seconds gap_end((when + change.after).time_since_epoch());
    // Offsets are below 26 h, so a gap holds at most a few thousand minutes.
    for (auto local = ceil<minutes>(gap_start); local < gap_end; local += minutes(1)) {
      const auto day = floor<days>(local);
      const auto time_of_day = local - day;
      const long h = duration_cast<hours>(time_of_day).count();
      const long m = duration_cast<minutes>(time_of_day % hours(1)).count();
      if (bit(m_hours, h) && bit(m_minutes, m) && day_matches(year_month_day(sys_days(day.time_since_epoch())))) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace pw::schedule
