// How an idle claimer learns that another connection may have added work.
// A seam for the database driver: SQLite answers from PRAGMA data_version
// (a counter that moves when any other connection commits); a server
// database would answer from its notifications (PostgreSQL LISTEN).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "queue/job_queue.hpp"

namespace pw::worker {

class WakeSource {
 public:
  virtual ~WakeSource() = default;
  // Called just before each claim reads the table: news() reports what was
  // committed after this call, so nothing committed meanwhile can be missed.
  virtual void mark() = 0;
  // True when work may have been added since mark(). Asked every poll
  // interval by an idle worker: must be cheap.
  virtual bool news() = 0;
};

// Builds the wake source on the claimer's own queue (and so its connection).
using WakeSourceFactory = std::function<std::unique_ptr<WakeSource>(queue::JobQueue&)>;

class DataVersionWakeSource final : public WakeSource {
 public:
  explicit DataVersionWakeSource(queue::JobQueue& queue) : m_queue(queue) {}
  void mark() override { m_seen = m_queue.data_version(); }
  bool news() override { return m_queue.data_version() != m_seen; }

 private:
  queue::JobQueue& m_queue;
  std::int64_t m_seen = -1;  // nothing seen yet: the first check claims
};

inline WakeSourceFactory sqlite_wake_source() {
  return [](queue::JobQueue& queue) { return std::make_unique<DataVersionWakeSource>(queue); };
}

}  // namespace pw::worker
