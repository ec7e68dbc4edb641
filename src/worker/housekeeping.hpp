// Background care of the job table: the pruner deletes finished jobs past
// their retention; the storage care keeps the database file healthy. The
// latter is a seam for the database driver: for SQLite it is WAL
// checkpointing (WalCheckpoints); a server database brings its own, or none.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <stop_token>
#include <thread>

#include "db/connection.hpp"
#include "worker/context.hpp"
#include "worker/driver_seams.hpp"

namespace pw::worker {

// Every 100 ms copies the WAL back into the database (PASSIVE), and once
// the WAL holds more than 16 MiB, makes the next writer start it over from
// its beginning (RESTART): under constant writes from the API and workers
// SQLite never finds a moment to do so by itself, and the WAL would grow
// without bound. A RESTART holds off writers while it waits for readers of
// old snapshots, so it waits at most 10 ms for them, and after a round that
// gave up, the next try waits a round more (at most 16, 1.6 s): a long
// reader costs writers little. RESTART leaves the file as large as it grew
// (about 16 MiB when restarts keep up); only a file past 64 MiB is also
// emptied (TRUNCATE), because freeing a large file holds writers longer
// (60 ms for 300 MB here). Measured with the API taking simulations while
// a worker drains them (BENCHMARKS.md): trying only when no reader was in
// the way at all, as before, succeeded so rarely that the WAL reached
// 170-330 MB and the TRUNCATE that finally ran held writers for 100-250 ms.
// The worker's other threads have automatic checkpoints turned off:
// otherwise the commit that happens to cross the WAL threshold pays for
// copying and syncing megabytes, and a claim stalled that way delays every
// job it holds.
class WalCheckpoints final : public StorageCare {
 public:
  static constexpr std::int64_t kResetAboveBytes = std::int64_t{16} << 20;
  static constexpr std::uintmax_t kShrinkAboveBytes = std::uintmax_t{64} << 20;
  static constexpr std::chrono::milliseconds kReaderWait{10};
  static constexpr int kMostRoundsSkipped = 16;

  // On a connection of its own (automatic checkpoints on).
  explicit WalCheckpoints(std::unique_ptr<db::Connection> connection) : m_connection(std::move(connection)) {}
  std::chrono::milliseconds period() const override { return std::chrono::milliseconds(100); }
  void run_once() override;

 private:
  std::unique_ptr<db::Connection> m_connection;
  int m_rounds_to_skip = 0;  // before the next RESTART
  int m_backoff = 0;         // rounds skipped after the last RESTART that gave up
};


// One periodic task: what to do each round, and how often.
struct Chore {
  std::function<void()> round;
  std::chrono::milliseconds period;
};

// A thread that runs a chore on its own connection until stopped.
class Housekeeper {
 public:
  Housekeeper(WorkerContext& context, const char* name) : m_context(context), m_name(name) {}

  // `make_chore` is called on the thread, and again after a failure until
  // it succeeds (it opens what the chore works on); nothing to do when it
  // returns a chore without a round.
  void start(std::function<Chore()> make_chore);
  void stop();

 private:
  WorkerContext& m_context;
  const char* m_name;
  std::jthread m_thread;
};

// Deletes finished jobs older than --retention-ms every --prune-interval-ms.
void start_pruner(Housekeeper& pruner, WorkerContext& context);
// The driver's storage care, if it has one.
void start_storage_care(Housekeeper& keeper, WorkerContext& context);

}  // namespace pw::worker
