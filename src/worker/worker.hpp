// `personaworlds worker`: claims jobs in batches, runs them on handler
// threads, renews their leases, records outcomes in batches, and on shutdown
// hands back what it could not finish. Built from parts (src/worker/):
//
//   in_hand       the ledger of held jobs and the slot accounting
//   claimer       idle wake-up (WakeSource) + batch claims
//   executor      the handler threads; one job: context, handler, outcome
//   completer     batched outcomes + refill claims, then logs and metrics
//   lease_keeper  renewals; flags lost leases
//   housekeeping  the pruner and the storage care (WAL checkpoints)
#pragma once

#include <memory>
#include <string>

#include "config/config.hpp"
#include "db/connection.hpp"
#include "observability/logger.hpp"
#include "observability/metrics.hpp"
#include "queue/clock.hpp"
#include "worker/handler.hpp"
#include "worker/driver_seams.hpp"

namespace pw::worker {

class Worker {
 public:
  Worker(const config::WorkerConfig& config, const HandlerRegistry& handlers,
         const observability::Logger& logger, observability::Metrics& metrics, const queue::Clock& clock,
         DriverSeams seams = sqlite_seams());
  ~Worker();  // shutdown() if still running; waits for abandoned handlers
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  // Stops claiming and hands back jobs not yet started; running jobs get
  // shutdown_grace_ms to finish (stop_requested() is true from the start,
  // and a handler that gives up is handed back uncharged). A handler still
  // running after the grace is abandoned, never handed back: its job keeps
  // its lease, which lapses once this process has exited (the lapse is
  // charged as an attempt), so no other worker runs it meanwhile. Returns
  // promptly after the grace; idempotent.
  void shutdown();
  // Handlers abandoned by shutdown() and still running. The destructor waits
  // for them; a process about to exit need not (run_worker exits at once).
  int abandoned() const;
  // False once a worker thread died unexpectedly (for /healthz).
  bool healthy() const;
  const std::string& id() const;
  // For the process's other SQLite sessions (the scheduler's): the time
  // they hold the write lock counts toward this worker's lapse grace.
  db::HoldObserver hold_observer();

 private:
  struct Parts;
  std::unique_ptr<Parts> m_parts;
};

}  // namespace pw::worker
