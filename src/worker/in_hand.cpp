#include "worker/in_hand.hpp"

#include <algorithm>

namespace pw::worker {

InHand::InHand(int concurrency, int claim_threshold)
    : m_concurrency(concurrency), m_claim_threshold(std::max(1, claim_threshold)) {}

std::optional<InHand::Room> InHand::wait_for_room(std::stop_token stop) {
  // Registered before the lock is taken: the callback takes it to notify,
  // so the wake-up cannot fall between the check and the wait.
  std::stop_callback wake(stop, [this] {
    Lock lock(m_mutex);
    m_capacity.notify_all();
  });
  Lock lock(m_mutex);
  m_claimer_waiting = true;
  // With a backlog, wait for a worthwhile batch of room; when idle, any room will do.
  while (!m_stop_claiming && !stop.stop_requested() && free_slots_locked() < (m_backlog ? m_claim_threshold : 1)) {
    m_capacity.wait(m_mutex);
  }
  m_claimer_waiting = false;
  if (m_stop_claiming || stop.stop_requested()) return std::nullopt;
  return Room{free_slots_locked(), m_backlog};
}

InHand::Taken InHand::take(std::vector<queue::ClaimedJob>& claimed, std::optional<bool> backlog, int unreserve) {
  Taken taken;
  Lock lock(m_mutex);
  m_reserved -= unreserve;
  if (backlog) m_backlog = *backlog;
  for (auto& claim : claimed) {
    auto held = std::make_shared<Held>(std::move(claim.job));
    auto [newest, first] = m_newest.try_emplace(held->job.id, held->key());
    if (!first) {
      auto older = m_held.find(newest->second);
      if (older != m_held.end() && !older->second.held->lost.exchange(true)) {
        taken.superseded.push_back(older->second.held);
      }
      newest->second = held->key();
    }
    m_held.insert_or_assign(held->key(), Entry{held, Stage::claimed});
    if (m_stop_claiming) {
      taken.refused.push_back(std::move(held));
    } else {
      m_ready.push_back(std::move(held));
      ++m_active;
    }
  }
  wake_handler();
  if (m_claimer_waiting && (unreserve > 0 || backlog == false)) m_capacity.notify_all();
  return taken;
}

void InHand::wake_handler() {
  if (!m_ready.empty() && m_idle_handlers > 0 && !m_waking) {
    m_waking = true;
    m_work_ready.notify_one();
  }
}

std::shared_ptr<Held> InHand::pop_ready() {
  if (m_ready.empty()) return nullptr;
  auto held = std::move(m_ready.front());
  m_ready.pop_front();
  auto found = m_held.find(held->key());
  if (found != m_held.end() && found->second.held == held) found->second.stage = Stage::started;
  wake_handler();
  return held;
}

std::shared_ptr<Held> InHand::next(std::stop_token stop) {
  std::stop_callback wake(stop, [this] {
    Lock lock(m_mutex);
    m_work_ready.notify_all();
  });
  Lock lock(m_mutex);
  if (m_ready.empty() && !m_handlers_released && !stop.stop_requested()) {
    ++m_idle_handlers;
    while (m_ready.empty() && !m_handlers_released && !stop.stop_requested()) {
      m_work_ready.wait(m_mutex);
      m_waking = false;  // this thread (or a spurious wake) took the wake-up in flight
    }
    --m_idle_handlers;
  }
  return pop_ready();
}

std::shared_ptr<Held> InHand::try_next() {
  Lock lock(m_mutex);
  return pop_ready();
}

bool InHand::finish(const Held& held) {
  Lock lock(m_mutex);
  auto found = m_held.find(held.key());
  if (found != m_held.end() && found->second.held.get() == &held) found->second.stage = Stage::finished;
  --m_active;
  if (m_backlog && !m_stop_claiming) {
    ++m_reserved;
    return true;
  }
  if (m_claimer_waiting || m_stop_claiming) m_capacity.notify_all();
  return false;
}

int InHand::refill_limit(int reserved, int batch_size) const {
  Lock lock(m_mutex);
  return m_stop_claiming ? 0 : std::min(reserved, batch_size);
}

void InHand::forget(const std::vector<std::shared_ptr<Held>>& recorded) {
  Lock lock(m_mutex);
  // Only this claim's entry (a retry of the same claim is a no-op).
  for (const auto& held : recorded) {
    auto found = m_held.find(held->key());
    if (found == m_held.end() || found->second.held != held) continue;
    m_held.erase(found);
    auto newest = m_newest.find(held->job.id);
    if (newest != m_newest.end() && newest->second == held->key()) m_newest.erase(newest);
  }
}

std::vector<std::shared_ptr<Held>> InHand::renewable() const {
  Lock lock(m_mutex);
  std::vector<std::shared_ptr<Held>> out;
  out.reserve(m_held.size());
  for (const auto& [key, entry] : m_held) {
    if (!entry.held->lost) out.push_back(entry.held);
  }
  return out;
}

std::shared_ptr<Held> InHand::find(ClaimKey key) const {
  Lock lock(m_mutex);
  auto found = m_held.find(key);
  return found == m_held.end() ? nullptr : found->second.held;
}

void InHand::stop_claiming() {
  Lock lock(m_mutex);
  m_stop_claiming = true;
  m_capacity.notify_all();
}

std::vector<std::shared_ptr<Held>> InHand::take_unstarted() {
  Lock lock(m_mutex);
  std::vector<std::shared_ptr<Held>> unstarted(m_ready.begin(), m_ready.end());
  m_ready.clear();
  m_active -= static_cast<int>(unstarted.size());
  return unstarted;
}

bool InHand::wait_until_idle(std::chrono::steady_clock::time_point deadline) {
  Lock lock(m_mutex);
  while (m_active != 0) {
    if (m_capacity.wait_until(m_mutex, deadline) == std::cv_status::timeout) return m_active == 0;
  }
  return true;
}

std::vector<std::shared_ptr<Held>> InHand::running() const {
  Lock lock(m_mutex);
  std::vector<std::shared_ptr<Held>> out;
  for (const auto& [key, entry] : m_held) {
    if (entry.stage == Stage::started) out.push_back(entry.held);
  }
  return out;
}

void InHand::release_handlers() {
  Lock lock(m_mutex);
  m_handlers_released = true;
  m_work_ready.notify_all();
}

std::optional<Stage> InHand::stage(ClaimKey key) const {
  Lock lock(m_mutex);
  auto found = m_held.find(key);
  if (found == m_held.end()) return std::nullopt;
  return found->second.stage;
}

int InHand::free_slots() const {
  Lock lock(m_mutex);
  return free_slots_locked();
}

int InHand::reserved() const {
  Lock lock(m_mutex);
  return m_reserved;
}

std::size_t InHand::held() const {
  Lock lock(m_mutex);
  return m_held.size();
}

}  // namespace pw::worker
