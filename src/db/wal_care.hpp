// Keeps an SQLite WAL bounded under constant writes, from a connection of
// its own, for processes whose other connections have automatic
// checkpoints turned off (the worker's threads, the API's sessions):
// otherwise the commit that happens to cross the WAL threshold pays for
// copying and syncing megabytes, and holds up every write queued behind it.
//
// Every round (kPeriod) copies the WAL back into the database (PASSIVE),
// and once the WAL holds more than 16 MiB, makes the next writer start it
// over from its beginning (RESTART): under constant writes from the API and
// workers SQLite never finds a moment to do so by itself, and the WAL would
// grow without bound. A RESTART holds off writers while it waits for
// readers of old snapshots, so it waits at most 10 ms for them, and after a
// round that gave up, the next try waits a round more (at most 16, 1.6 s):
// a long reader costs writers little. RESTART leaves the file as large as
// it grew (about 16 MiB when restarts keep up); only a file past 64 MiB is
// also emptied (TRUNCATE), because freeing a large file holds writers
// longer (60 ms for 300 MB here). Measured with the API taking simulations
// while a worker drains them (BENCHMARKS.md): trying only when no reader
// was in the way at all, as before, succeeded so rarely that the WAL
// reached 170-330 MB and the TRUNCATE that finally ran held writers for
// 100-250 ms.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "db/connection.hpp"

namespace pw::db {

class WalCare {
 public:
  static constexpr std::chrono::milliseconds kPeriod{100};
  static constexpr std::int64_t kResetAboveBytes = std::int64_t{16} << 20;
  static constexpr std::uintmax_t kShrinkAboveBytes = std::uintmax_t{64} << 20;
  static constexpr std::chrono::milliseconds kReaderWait{10};
  static constexpr int kMostRoundsSkipped = 16;

  // On a connection of its own (automatic checkpoints on or off: it does
  // not commit).
  explicit WalCare(std::unique_ptr<Connection> connection) : m_connection(std::move(connection)) {}
  // One round; throws db::Error when the database cannot be checkpointed.
  void run_once();

 private:
  std::unique_ptr<Connection> m_connection;
  int m_rounds_to_skip = 0;  // before the next RESTART
  int m_backoff = 0;         // rounds skipped after the last RESTART that gave up
};

}  // namespace pw::db
