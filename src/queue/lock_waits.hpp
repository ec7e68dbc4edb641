// How long this process could not write lately: the stretches its write
// transactions spent waiting for SQLite's write lock or holding it (a
// transaction that takes long was held up: the process was frozen or
// starved of CPU). While the lock is unavailable, no live owner can renew a
// lease either, so the time a lease's expiry is judged on must not count
// these stretches against the owner (see JobQueue::claim and
// docs/job-queue.md, "What lapsed means").
#pragma once

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

  // One write transaction (from asking for the lock to commit or rollback).
  void record(std::int64_t start_ms, std::int64_t end_ms);

  // The recorded stretches that ended after `since_ms`, added up.
  std::int64_t total_since(std::int64_t since_ms) const;

 private:
  const std::int64_t m_tolerance_ms;
  mutable std::mutex m_mutex;
  std::deque<std::pair<std::int64_t, std::int64_t>> m_stretches;  // (start, end), oldest first
};

}  // namespace pw::queue
