// How a job writes or deletes many rows without starving other writers:
// in batches of a bounded number of rows, each its own short transaction,
// with a pause after each batch at least as long as the batch held the lock.
//
// SQLite's write lock is not fair: a writer that commits and begins again
// at once usually takes the lock back before anyone waiting has noticed it
// was free, so batches alone would not let other users' requests in. Every
// connection's busy handler retries at least once a millisecond
// (db::Connection), so a pause of a few milliseconds gives each waiting
// writer its turn; pausing as long as the batch took keeps bulk work to at
// most half of the lock's time even when batches run slow (a busy CPU).
//
// The bulk writers of one process (a simulation and a purge on two handler
// threads) take turns through a shared gate, pause included: otherwise one
// would fill the other's pause and the lock would again never be free.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>

namespace pw::jobs {

struct WriteBatches {
  std::size_t rows = 500;                    // rows one transaction writes or deletes
  std::chrono::microseconds min_pause{2000};  // after each batch, at least this long; 0: no pause
  // Shared by the bulk writers of one process; none: they do not take turns.
  std::shared_ptr<std::mutex> gate;

  // One batch's turn: holds the gate from before the transaction until the
  // pause after it is over.
  class Turn {
   public:
    explicit Turn(const WriteBatches& batches) : m_batches(batches) {
      if (m_batches.gate) m_lock = std::unique_lock(*m_batches.gate);
      m_start = std::chrono::steady_clock::now();  // the batch's own time, not the wait for the gate
    }
    // Call after the batch committed: pauses (the gate still held), then
    // lets the next writer in. Without it (a refusal, an exception) the gate
    // is released at once.
    void finish() {
      const auto took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - m_start);
      // A zero minimum turns pausing off altogether (tests).
      if (m_batches.min_pause.count() > 0) std::this_thread::sleep_for(std::max(m_batches.min_pause, took));
      if (m_lock.owns_lock()) m_lock.unlock();
    }

   private:
    const WriteBatches& m_batches;
    std::chrono::steady_clock::time_point m_start;
    std::unique_lock<std::mutex> m_lock;
  };
};

}  // namespace pw::jobs
