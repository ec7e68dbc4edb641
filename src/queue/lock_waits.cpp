#include "queue/lock_waits.hpp"

namespace pw::queue {

void LockWaits::record(std::int64_t start_ms, std::int64_t end_ms) {
  if (end_ms - start_ms < m_tolerance_ms) return;
  std::lock_guard lock(m_mutex);
  m_stretches.emplace_back(start_ms, end_ms);
  // Kept bounded: nobody asks about stretches this old (a few leases).
  while (m_stretches.size() > 1024) m_stretches.pop_front();
}

std::int64_t LockWaits::total_since(std::int64_t since_ms) const {
  std::lock_guard lock(m_mutex);
  std::int64_t total = 0;
  for (const auto& [start, end] : m_stretches) {
    if (end > since_ms) total += end - start;
  }
  return total;
}

}  // namespace pw::queue
