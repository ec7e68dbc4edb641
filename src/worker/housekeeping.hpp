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
#include "db/wal_care.hpp"
#include "worker/context.hpp"
#include "worker/driver_seams.hpp"

namespace pw::worker {

// SQLite's WAL kept bounded (db::WalCare) from the worker's housekeeping.
// The worker's other threads have automatic checkpoints turned off.
class WalCheckpoints final : public StorageCare {
 public:
  explicit WalCheckpoints(std::unique_ptr<db::Connection> connection) : m_care(std::move(connection)) {}
  std::chrono::milliseconds period() const override { return db::WalCare::kPeriod; }
  void run_once() override { m_care.run_once(); }

 private:
  db::WalCare m_care;
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
