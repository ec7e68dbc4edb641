// What every part of a worker shares: its settings and id, the logger and
// metrics, the clock, the write gate, running totals, and the loop helpers
// that keep a database hiccup from ending a thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "db/connection.hpp"
#include "observability/logger.hpp"
#include "observability/metrics.hpp"
#include "queue/clock.hpp"
#include "queue/lock_waits.hpp"
#include "threads/pause.hpp"
#include "worker/driver_seams.hpp"
#include "worker/handler.hpp"
#include "worker/reporter.hpp"
#include "worker/thread_safety.hpp"

namespace pw::worker {

// For the worker_totals line at shutdown (batching at a glance).
struct Totals {
  std::atomic<std::int64_t> claim_transactions{0}, jobs_claimed{0}, settle_transactions{0}, outcomes_settled{0},
      jobs_refilled{0};
};

struct WorkerContext {
  WorkerContext(const config::WorkerConfig& config, const HandlerRegistry& handlers,
                const observability::Logger& logger, observability::Metrics& metrics, const queue::Clock& clock,
                std::string id, DriverSeams seams)
      : config(config),
        handlers(handlers),
        logger(logger),
        metrics(metrics),
        clock(clock),
        id(std::move(id)),
        reporter(handlers, logger, metrics),
        lock_waits(std::max<std::int64_t>(1, config.lease_ms / 10)),
        seams(std::move(seams)) {}

  const config::WorkerConfig& config;
  const HandlerRegistry& handlers;
  const observability::Logger& logger;
  observability::Metrics& metrics;
  const queue::Clock& clock;
  const std::string id;
  const Reporter reporter;
  // Taken around the frequent writes of the worker's own threads (claim,
  // settle, renew): they queue here, in-process and cheaply, instead of on
  // SQLite's lock. Handler threads' own writes do not take it.
  Mutex write_gate;
  // Stretches this process could not write (every JobQueue of the worker's
  // own threads records into it): lapses are judged net of them.
  queue::LockWaits lock_waits;
  // The database driver's parts (job tables, handler sessions, wake-ups, care).
  const DriverSeams seams;
  Totals totals;
  // JobContext::stop_requested for every handler: the worker is shutting down.
  std::atomic<bool> stopping{false};
  std::atomic<bool> thread_died{false};

  db::QueryObserver observer() {
    return [this](double seconds) { metrics.observe_db_query(seconds); };
  }
  db::LockObserver lock_observer() {
    return [this](double seconds, bool acquired) { metrics.observe_lock_wait(seconds, acquired); };
  }
  // For connections outside the job table (whose JobQueue observes
  // lock_waits itself): the stretches handlers' and the scheduler's writes,
  // and checkpoints that hold writers off, waited for the write lock or held it.
  db::HoldObserver hold_observer() { return lock_waits.recorder(); }
  // What the handlers' sessions are built with.
  storage::SessionSettings session_settings() {
    return storage::SessionSettings{clock, config.retry,
                                    storage::Observers{observer(), lock_observer(), hold_observer()}};
  }
};

using threads::pause_unless_stopped;

// Runs `body` until it returns; logs and backs off on exceptions, so a
// database hiccup never kills a thread. SQLITE_BUSY that outlived the busy
// timeout is expected under heavy contention and logged at debug only. Gives
// up (returns false) once `give_up` holds; `stop` cuts a backoff short.
bool run_guarded(WorkerContext& context, const char* loop, const std::function<void()>& body,
                 const std::function<bool()>& give_up, std::stop_token stop);

// Opens what a worker thread works on (`open()`: a job table, a connection),
// retrying as run_guarded() does; nothing once `give_up` holds.
template <class Open>
auto open_guarded(WorkerContext& context, const char* loop, const std::function<bool()>& give_up,
                  std::stop_token stop, Open&& open) -> decltype(open()) {
  decltype(open()) opened{};
  run_guarded(context, loop, [&] { opened = open(); }, give_up, stop);
  return opened;
}

// A job table for a worker thread, through the driver's seam.
inline std::unique_ptr<queue::JobTable> open_job_table(WorkerContext& context, const char* loop,
                                                       const std::function<bool()>& give_up, std::stop_token stop) {
  return open_guarded(context, loop, give_up, stop, [&] { return context.seams.job_table(context, false); });
}

// A thread for one part. An exception escaping `body` (a connection that
// cannot be opened, say) marks the worker unhealthy instead of ending the process.
std::jthread spawn(WorkerContext& context, const char* name, std::function<void(std::stop_token)> body);

}  // namespace pw::worker
