#include "storage/write_gate.hpp"

#include <algorithm>

namespace pw::storage {

bool WriteGate::enter(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(m_mutex);
  if (!m_held && m_waiters.empty()) {
    m_held = true;
    return true;
  }
  Waiter self;
  m_waiters.push_back(&self);
  if (self.turn.wait_until(lock, deadline, [&] { return self.granted; })) return true;
  // Not granted, so still queued: step out without a trace.
  m_waiters.erase(std::find(m_waiters.begin(), m_waiters.end(), &self));
  return false;
}

void WriteGate::leave() {
  std::lock_guard lock(m_mutex);
  if (m_waiters.empty()) {
    m_held = false;
    return;
  }
  // Handed over, never free in between: nobody arriving now can overtake.
  Waiter* next = m_waiters.front();
  m_waiters.pop_front();
  next->granted = true;
  // Under the lock: `next` lives on its thread's stack, and that thread may
  // return (and destroy it) as soon as the lock is free.
  next->turn.notify_one();
}

std::size_t WriteGate::queued() {
  std::lock_guard lock(m_mutex);
  return (m_held ? 1 : 0) + m_waiters.size();
}

}  // namespace pw::storage
