// How many callers may be looking up a callback host at once. A lookup may
// take its whole deadline (a name server that never answers), so without a
// cap a token holder could keep every API request thread waiting on DNS;
// past the cap a caller is told no at once instead of queueing.
#pragma once

#include <atomic>
#include <optional>

namespace pw::webhook {

class LookupLimit {
 public:
  // Held while one lookup runs; gives its place back when destroyed.
  class Slot {
   public:
    explicit Slot(std::atomic<int>& in_use) : m_in_use(&in_use) {}
    Slot(Slot&& other) noexcept : m_in_use(other.m_in_use) { other.m_in_use = nullptr; }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (m_in_use != nullptr) m_in_use->fetch_sub(1);
    }

   private:
    std::atomic<int>* m_in_use;
  };

  explicit LookupLimit(int capacity) : m_capacity(capacity) {}

  // A slot, or nothing when `capacity` lookups are already running.
  std::optional<Slot> try_acquire() {
    int current = m_in_use.load();
    while (current < m_capacity) {
      if (m_in_use.compare_exchange_weak(current, current + 1)) return std::optional<Slot>(std::in_place, m_in_use);
    }
    return std::nullopt;
  }

  int in_use() const { return m_in_use.load(); }

 private:
  const int m_capacity;
  std::atomic<int> m_in_use{0};
};

}  // namespace pw::webhook
