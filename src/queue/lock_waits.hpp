// How long this process could not write lately: the stretches its
// connections spent waiting for SQLite's write lock or holding it, as each
// connection reports them (db::HoldObserver). A transaction that takes long
// was held up: the process was frozen or starved of CPU. While the lock is
// unavailable, no live owner can renew a lease either, so the time a lease's
// expiry is judged on must not count these stretches against the owner (see
// JobQueue::claim and docs/job-queue.md, "What lapsed means").
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>

namespace pw::queue {

class LockWaits {
 public:
  // Stretches shorter than `tolerance_ms` are ordinary contention and are
  // not recorded: a renewal delayed that little still lands in time.
  explicit LockWaits(std::int64_t tolerance_ms) : m_tolerance_ms(tolerance_ms) {}

  std::int64_t tolerance_ms() const { return m_tolerance_ms; }

  // Measured on the monotonic clock: a step of the wall clock (or of a
  // test's manual clock) is not time anyone waited.
  using Instant = std::chrono::steady_clock::time_point;

  // One stretch: a write transaction from asking for the lock to its end, a
  // write statement outside one, or a checkpoint that held writers off.
  void record(Instant start, Instant end);
  // Records here each stretch a connection reports: what it is given to
  // observe its holds with (db::Connection::observe_holds).
  auto recorder() {
    return [this](Instant start, Instant end) { record(start, end); };
  }

  // The recorded stretches that ended within `window` before `now`, added up, in ms.
  std::int64_t total_within(std::chrono::milliseconds window, Instant now = std::chrono::steady_clock::now()) const;

 private:
  const std::int64_t m_tolerance_ms;
  mutable std::mutex m_mutex;
  std::deque<std::pair<Instant, std::int64_t>> m_stretches;  // (end, length in ms), oldest first
};

}  // namespace pw::queue
