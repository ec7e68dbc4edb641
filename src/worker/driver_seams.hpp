// What a database driver plugs into the worker: how each of its threads gets
// a job table, what a handler thread hands its jobs, how an idle claimer
// learns of new work, and what keeps the database healthy. SQLite's set is
// sqlite_seams() (the default); PostgreSQL's is postgres_seams().
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "db/connection.hpp"
#include "queue/job_table.hpp"
#include "storage/storage.hpp"
#include "worker/wake_source.hpp"

namespace pw::worker {

struct WorkerContext;

class StorageCare {
 public:
  virtual ~StorageCare() = default;
  virtual std::chrono::milliseconds period() const = 0;
  // One round; may throw (logged, retried with backoff).
  virtual void run_once() = 0;
};

struct DriverSeams {
  // A job table on a connection of its own, for one worker thread. With
  // `autocheckpoint` off, an SQLite connection leaves WAL checkpoints to
  // the storage care.
  std::function<std::unique_ptr<queue::JobTable>(WorkerContext&, bool autocheckpoint)> job_table;
  // The sessions every handler thread leases from (JobContext::storage), one
  // bounded pool for them all; none for a worker whose handlers need no
  // database.
  std::function<std::unique_ptr<storage::Storage>(WorkerContext&)> handler_storage;
  // Built on the claimer's own job table.
  WakeSourceFactory wake_source;
  // Nothing when the driver needs no care from the worker.
  std::function<std::unique_ptr<StorageCare>(WorkerContext&)> storage_care;
};

DriverSeams sqlite_seams();

}  // namespace pw::worker
