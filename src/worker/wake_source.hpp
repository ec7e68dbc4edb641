// How an idle claimer learns that another connection may have added work.
// A seam for the database driver: SQLite answers from PRAGMA data_version
// (a counter that moves when any other connection commits); a server
// database would answer from its notifications (PostgreSQL LISTEN).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "queue/job_table.hpp"

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

// Builds the wake source on the claimer's own job table (and so its connection).
using WakeSourceFactory = std::function<std::unique_ptr<WakeSource>(queue::JobTable&)>;

}  // namespace pw::worker
