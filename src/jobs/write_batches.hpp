// How a job writes or deletes many rows without starving other writers:
// in batches of a bounded number of rows, each its own short transaction,
// with a pause between them.
//
// SQLite's write lock is not fair: a writer that commits and begins again
// at once usually takes the lock back before anyone waiting has noticed it
// was free, so batches alone would not let other users' requests in. Every
// connection's busy handler retries at least once a millisecond
// (db::Connection), so a pause of two milliseconds gives each waiting writer
// its turn before the next batch.
#pragma once

#include <chrono>
#include <cstddef>
#include <thread>

namespace pw::jobs {

struct WriteBatches {
  std::size_t rows = 1000;  // rows one transaction writes or deletes
  std::chrono::microseconds pause{2000};

  void pause_between() const {
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
};

}  // namespace pw::jobs
