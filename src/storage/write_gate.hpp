// One writer at a time within a process, in arrival order. SQLite has one
// write lock per database; when the API's request threads all ask it for
// the lock at once, each loser sleeps in the busy handler and polls, so a
// write waits for the next poll rather than for the previous commit, and
// who wins is luck (a slow tail). Taken before BEGIN IMMEDIATE, the gate
// hands the lock from one thread to the next as soon as it is free. The
// lock itself still decides between processes (the worker writes too):
// the thread at the head of the gate waits for it as before.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>

namespace pw::storage {

class WriteGate {
 public:
  // RAII: holds the gate from a successful enter() until it goes.
  class Pass {
   public:
    Pass() = default;
    explicit Pass(WriteGate& gate) : m_gate(&gate) {}
    Pass(Pass&& other) noexcept : m_gate(other.m_gate) { other.m_gate = nullptr; }
    Pass& operator=(Pass&&) = delete;
    ~Pass() {
      if (m_gate != nullptr) m_gate->leave();
    }

   private:
    WriteGate* m_gate = nullptr;
  };

  // Waits for every thread that came earlier to leave, up to `deadline`;
  // false (and no place kept in the queue) when the deadline passed first.
  bool enter(std::chrono::steady_clock::time_point deadline);
  void leave();

  // Threads holding or waiting for the gate, for tests.
  std::size_t queued();

 private:
  // One per waiting thread, on its stack: leave() hands the gate to the
  // first one directly and wakes only it.
  struct Waiter {
    std::condition_variable turn;
    bool granted = false;
  };
  std::mutex m_mutex;
  bool m_held = false;
  // In arrival order, not counting the holder.
  std::deque<Waiter*> m_waiters;
};

}  // namespace pw::storage
