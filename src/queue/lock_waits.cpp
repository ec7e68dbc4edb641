#include "queue/lock_waits.hpp"

namespace pw::queue {

void LockWaits::record(Instant start, Instant end) {
  auto length = std::chrono::duration_cast<std::chrono::milliseconds>(end - start).count();
  if (length < m_tolerance_ms) return;
  std::lock_guard lock(m_mutex);
  m_stretches.emplace_back(end, length);
  // Kept bounded: nobody asks about stretches this old (a few leases).
  while (m_stretches.size() > 1024) m_stretches.pop_front();
}

std::int64_t LockWaits::total_within(std::chrono::milliseconds window, Instant now) const {
  std::lock_guard lock(m_mutex);
  std::int64_t total = 0;
  for (const auto& [end, length] : m_stretches) {
    if (end > now - window) total += length;
  }
  return total;
}

}  // namespace pw::queue
