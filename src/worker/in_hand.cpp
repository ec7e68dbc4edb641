#include "worker/in_hand.hpp"

#include <algorithm>

namespace pw::worker {

InHand::InHand(Slots slots)
    : m_concurrency(std::max(1, slots.concurrency)),
      m_capacity_slots(std::max(m_concurrency, slots.capacity)),
      m_claim_threshold(std::max(1, slots.claim_threshold)),
      m_type_limits(std::move(slots.type_limits)) {}

InHand::InHand(int concurrency, int claim_threshold)
    : InHand(Slots{.concurrency = concurrency, .capacity = concurrency, .claim_threshold = claim_threshold,
                   .type_limits = {}}) {}

InHand::TypeSlots& InHand::type_slots(const std::string& type) {
  auto found = m_types.find(type);
  if (found != m_types.end()) return found->second;
  auto limit = m_type_limits.find(type);
  int cap = limit == m_type_limits.end() ? m_concurrency : std::clamp(limit->second, 1, m_concurrency);
  return m_types.emplace(type, TypeSlots{.limit = cap}).first->second;
}

std::vector<std::string> InHand::full_types() const {
  Lock lock(m_mutex);
  std::vector<std::string> full;
  for (const auto& [type, slots] : m_types) {
    if (is_full(slots)) full.push_back(type);
  }
  return full;
}

std::optional<InHand::Room> InHand::wait_for_room(std::stop_token stop) {
  // Registered before the lock is taken: the callback takes it to notify,
  // so the wake-up cannot fall between the check and the wait.
  std::stop_callback wake(stop, [this] {
    Lock lock(m_mutex);
    m_capacity.notify_all();
  });
  Lock lock(m_mutex);
  // Room beyond `concurrency` (up to the capacity) is only for claims that
  // pass over a type with its limit in hand; without one, a worker holds at
  // most `concurrency` jobs, as many as its handlers can run.
  auto skip_types = [&]() PW_REQUIRES(m_mutex) {
    std::vector<std::string> skip;
    // A type whose limit is the concurrency itself is never passed over:
    // with it full, every handler is busy and more jobs would only wait.
    for (const auto& [type, slots] : m_types) {
      if (is_full(slots)) skip.push_back(type);
    }
    return skip;
  };
  auto usable = [&](const std::vector<std::string>& skip) PW_REQUIRES(m_mutex) {
    int room = skip.empty() ? m_concurrency - m_active - m_reserved : free_slots_locked();
    return std::min(room, m_concurrency);
  };
  m_claimer_waiting = true;
  // With a backlog, wait for a worthwhile batch of room; when idle, any room will do.
  while (!m_stop_claiming && !stop.stop_requested() && usable(skip_types()) < (m_backlog ? m_claim_threshold : 1)) {
    m_capacity.wait(m_mutex);
  }
  m_claimer_waiting = false;
  if (m_stop_claiming || stop.stop_requested()) return std::nullopt;
  Room room{0, m_backlog, skip_types()};
  room.slots = usable(room.skip_types);
  return room;
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
      TypeSlots& type = type_slots(held->job.type);
      ++type.held;
      m_ready.push_back(Ready{std::move(held), &type});
      ++m_active;
    }
  }
  wake_handler();
  if (m_claimer_waiting && (unreserve > 0 || backlog == false)) m_capacity.notify_all();
  return taken;
}

std::deque<InHand::Ready>::iterator InHand::first_runnable() {
  // Usually the first: only jobs of types at their limit are passed over,
  // and claims pass over those types, so few of them wait here.
  return std::find_if(m_ready.begin(), m_ready.end(),
                      [](const Ready& ready) { return ready.type->running < ready.type->limit; });
}

void InHand::wake_handler() {
  if (m_idle_handlers > 0 && !m_waking && first_runnable() != m_ready.end()) {
    m_waking = true;
    m_work_ready.notify_one();
  }
}

std::shared_ptr<Held> InHand::pop_ready() {
  auto runnable = first_runnable();
  if (runnable == m_ready.end()) return nullptr;
  auto held = std::move(runnable->held);
  ++runnable->type->running;
  m_ready.erase(runnable);
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
  if (first_runnable() == m_ready.end() && !m_handlers_released && !stop.stop_requested()) {
    ++m_idle_handlers;
    while (first_runnable() == m_ready.end() && !m_handlers_released && !stop.stop_requested()) {
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
  TypeSlots& type = type_slots(held.job.type);
  --type.held;
  --type.running;
  // A job of this type may have been waiting for the slot.
  wake_handler();
  if (m_backlog && !m_stop_claiming) {
    ++m_reserved;
    return true;
  }
  if (m_claimer_waiting || m_stop_claiming) m_capacity.notify_all();
  return false;
}

int InHand::refill_limit(int reserved, int batch_size) const {
  Lock lock(m_mutex);
  return m_stop_claiming ? 0 : std::min({reserved, batch_size, m_concurrency});
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
  std::vector<std::shared_ptr<Held>> unstarted;
  unstarted.reserve(m_ready.size());
  for (auto& ready : m_ready) {
    --ready.type->held;
    unstarted.push_back(std::move(ready.held));
  }
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

int InHand::running_of(std::string_view type) const {
  Lock lock(m_mutex);
  auto found = m_types.find(type);
  return found == m_types.end() ? 0 : found->second.running;
}

int InHand::held_of(std::string_view type) const {
  Lock lock(m_mutex);
  auto found = m_types.find(type);
  return found == m_types.end() ? 0 : found->second.held;
}

}  // namespace pw::worker
