#include "queue/controls.hpp"

#include <algorithm>
#include <cmath>

namespace pw::queue {

double bucket_capacity(double rate_per_second) { return std::max(1.0, rate_per_second / 10.0); }

double tokens_at(const TypeControl& control, std::int64_t now_ms) {
  if (!control.rate_per_second) return 0;
  const double rate = *control.rate_per_second;
  // A clock that went back (another host's, on SQLite) refills nothing.
  const double elapsed_ms = static_cast<double>(std::max<std::int64_t>(0, now_ms - control.refilled_at_ms));
  return std::min(bucket_capacity(rate), control.tokens + elapsed_ms * rate / 1000.0);
}

std::int64_t next_token_ms(const TypeControl& control, std::int64_t now_ms) {
  const double now_tokens = tokens_at(control, now_ms);
  if (!control.rate_per_second || now_tokens >= 1.0) return now_ms;
  const double missing_ms = (1.0 - now_tokens) * 1000.0 / *control.rate_per_second;
  return now_ms + static_cast<std::int64_t>(std::ceil(missing_ms));
}

ClaimPlan plan_claim(const std::vector<TypeControl>& controls, const std::vector<std::string>& skip_types,
                     int limit, std::int64_t now_ms) {
  ClaimPlan plan;
  plan.skip_types = skip_types;
  auto skipped = [&](const std::string& type) {
    return std::find(skip_types.begin(), skip_types.end(), type) != skip_types.end();
  };
  for (const auto& control : controls) {
    if (!control.paused && !control.rate_per_second) continue;
    if (!skipped(control.type)) plan.skip_types.push_back(control.type);
    if (control.paused || !control.rate_per_second || skipped(control.type)) continue;
    const double tokens = tokens_at(control, now_ms);
    const int allowance = static_cast<int>(std::min<double>(std::floor(tokens), std::max(0, limit)));
    plan.limited.push_back({control.type, allowance, tokens, control.held});
  }
  return plan;
}

DueExclusions due_exclusions(const std::vector<TypeControl>& controls, std::int64_t now_ms) {
  DueExclusions out;
  for (const auto& control : controls) {
    if (control.paused) {
      out.types.push_back(control.type);
    } else if (control.rate_per_second && control.held && tokens_at(control, now_ms) < 1.0) {
      out.types.push_back(control.type);
      const std::int64_t at = next_token_ms(control, now_ms);
      if (!out.next_token_ms || at < *out.next_token_ms) out.next_token_ms = at;
    }
  }
  return out;
}

}  // namespace pw::queue
