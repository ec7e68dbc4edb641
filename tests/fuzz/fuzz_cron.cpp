// Cron expressions and zone names are client text (schedules come through
// the API): parsing never crashes and refuses with a message, and a parsed
// expression's next tick is strictly later, is a tick, and skips none.
// Input: "expression\nzone\nunix seconds" (zone and time optional). An input
// that starts with "TZif" is read as a zone file instead.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "schedule/cron.hpp"

using namespace std::chrono;

namespace {

std::string_view next_line(std::string_view& rest) {
  auto end = rest.find('\n');
  std::string_view line = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  return line;
}

sys_seconds instant(std::string_view text) {
  std::int64_t value = 0;
  bool negative = !text.empty() && text[0] == '-';
  for (char c : text.substr(negative ? 1 : 0)) {
    if (c < '0' || c > '9') break;
    if (value > 1'000'000'000'000) break;  // past year 9000 already
    value = value * 10 + (c - '0');
  }
  if (text.empty()) value = 1741392000;  // 2025-03-08, the eve of a change in New York
  return sys_seconds(seconds(negative ? -value : value));
}

void check_zone_file(std::string_view bytes) {
  auto result = pw::schedule::TimeZone::from_tzif("fuzz", bytes);
  if (result.zone.has_value() == !result.error.empty()) std::abort();
  if (!result.zone) return;
  for (std::int64_t t : {-2'000'000'000LL, 0LL, 1'741'500'000LL, 4'000'000'000LL}) {
    auto offset = result.zone->offset_at(sys_seconds(seconds(t)));
    if (offset < hours(-26) || offset > hours(26)) std::abort();
    auto local = local_seconds(seconds(t));
    auto resolved = result.zone->resolve(local);
    if (resolved.second < resolved.first) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  if (rest.substr(0, 4) == "TZif") {
    check_zone_file(rest);
    return 0;
  }
  std::string_view text = next_line(rest);
  std::string_view zone = next_line(rest);
  const sys_seconds after = instant(next_line(rest));

  auto result = pw::schedule::Cron::parse(text, zone.empty() ? std::string_view("UTC") : zone);
  if (result.cron.has_value() == !result.error.empty()) std::abort();
  if (result.error.size() > 1024) std::abort();
  if (!result.cron) return 0;
  const auto& cron = *result.cron;

  auto next = cron.next_after(after);
  if (!next) return 0;
  if (*next <= after || !cron.matches(*next)) std::abort();
  // No tick in between: checked minute by minute when the gap is short.
  if (*next - after <= hours(3)) {
    for (auto minute = ceil<minutes>(after + seconds(1)); minute < *next; minute += minutes(1)) {
      if (cron.matches(minute)) std::abort();
    }
  }
  auto following = cron.next_after(*next);
  if (following && *following <= *next) std::abort();
  return 0;
}
