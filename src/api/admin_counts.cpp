#include "api/admin_counts.hpp"

#include <exception>
#include <utility>

namespace pw::api {

AdminCounts::AdminCounts(Count count, const queue::Clock& clock, const observability::Logger& logger,
                         Periods periods)
    : m_count(std::move(count)), m_clock(clock), m_logger(logger), m_periods(periods), m_thread([this] { run(); }) {}

AdminCounts::~AdminCounts() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  m_thread.join();
}

void AdminCounts::note_use() {
  std::lock_guard lock(m_mutex);
  m_last_use_ms = m_clock.now_ms();
}

std::shared_ptr<const CountsSnapshot> AdminCounts::latest() const {
  std::lock_guard lock(m_mutex);
  return m_snapshot;
}

std::int64_t AdminCounts::looks() const {
  std::lock_guard lock(m_mutex);
  return m_looks;
}

std::int64_t AdminCounts::refreshes() const {
  std::lock_guard lock(m_mutex);
  return m_refreshes;
}

void AdminCounts::store(std::shared_ptr<const CountsSnapshot> snapshot) {
  std::lock_guard lock(m_mutex);
  m_snapshot = std::move(snapshot);
  ++m_refreshes;
}

std::shared_ptr<const CountsSnapshot> AdminCounts::snapshot(const std::function<JobCounts()>& count_now) {
  if (auto last = latest()) return last;
  std::lock_guard counting(m_count_mutex);
  // Whoever held the count before us may have just stored one.
  if (auto last = latest()) return last;
  auto fresh = std::make_shared<CountsSnapshot>();
  fresh->taken_at_ms = m_clock.now_ms();
  fresh->counts = count_now();
  store(fresh);
  return fresh;
}

bool AdminCounts::due(std::int64_t now_ms) const {
  if (!m_last_attempt_ms) return true;
  const bool in_use = m_last_use_ms && now_ms - *m_last_use_ms < m_periods.in_use.count();
  const auto period = in_use ? m_periods.busy : m_periods.idle;
  return now_ms - *m_last_attempt_ms >= period.count();
}

void AdminCounts::refresh(std::int64_t decided_at_ms) {
  std::lock_guard counting(m_count_mutex);
  {
    // A request counted while we waited for the turn: that count is as new.
    std::lock_guard lock(m_mutex);
    if (m_snapshot && m_snapshot->taken_at_ms >= decided_at_ms) return;
  }
  try {
    const std::int64_t started = m_clock.now_ms();
    auto counts = m_count();
    if (!counts) return;
    auto fresh = std::make_shared<CountsSnapshot>();
    fresh->taken_at_ms = started;
    fresh->counts = std::move(*counts);
    store(std::move(fresh));
  } catch (const std::exception& e) {
    // The database may be away for a while: keep the last snapshot (the
    // overview shows its age) and try again at the next period.
    m_logger.warn("admin_counts_unavailable", {{"error", e.what()}});
  } catch (...) {
    m_logger.warn("admin_counts_unavailable", {{"error", "unknown exception"}});
  }
}

void AdminCounts::run() {
  std::unique_lock lock(m_mutex);
  while (!m_stopping) {
    const std::int64_t now = m_clock.now_ms();
    ++m_looks;
    if (due(now)) {
      m_last_attempt_ms = now;
      lock.unlock();
      refresh(now);
      lock.lock();
      continue;
    }
    m_wake.wait_for(lock, m_periods.tick, [this] { return m_stopping; });
  }
}

}  // namespace pw::api
