// The worker's threads, each with its own database connection:
//
//   claimer    polls PRAGMA data_version while idle; claims batches of ready
//              jobs (never more than free capacity) and queues them for the
//              handler threads. Also settles expired leases (inside claim()).
//   handlers   `concurrency` threads: run one job at a time, hand the outcome
//              to the completer.
//   completer  records outcomes in batches, one transaction per batch, then
//              logs them and counts them in metrics (so logs and metrics
//              only ever show outcomes that are durable). While there is a
//              backlog, the slots those jobs freed are kept for it, and it
//              claims their replacements in the same transaction: a busy
//              worker commits once per batch of jobs, not twice.
//   renewer    every lease_ms / 3 extends the leases of every job this worker
//              holds, in one statement; flags the ones it lost.
//   pruner     every prune_interval_ms deletes old finished jobs.
//   checkpointer  every 100 ms copies the WAL back into the database
//              (PRAGMA wal_checkpoint(PASSIVE)), and empties it once past
//              64 MiB (TRUNCATE: busy streams never leave the WAL idle long
//              enough for SQLite to restart it by itself). The other threads have
//              automatic checkpoints turned off: otherwise the commit that
//              happens to cross the WAL threshold pays for copying and
//              syncing megabytes, and a claim stalled that way delays every
//              job it holds by tens of milliseconds.
//
// A job is "in hand" from claim until its handler returns; its lease is held
// until the completer has recorded the outcome.
#include "worker/worker.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>

#include "queue/job_queue.hpp"

namespace pw::worker {
namespace {

using Clock = std::chrono::steady_clock;
using observability::LogFields;
using observability::LogLevel;

std::string make_worker_id() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  std::random_device random;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%06x", random() & 0xFFFFFF);
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + suffix;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One claimed job, from claim until its outcome is recorded.
struct Held {
  queue::Job job;
  std::atomic<bool> lost{false};  // the renewer found the lease gone
  bool started = false;           // guarded by Worker::Impl's m_mutex
  bool finished = false;          // its handler returned; guarded by Worker::Impl's m_mutex
};

enum class Kind { completed, failed, released };
struct Outcome {
  std::shared_ptr<Held> held;
  Kind kind;
  std::string text;  // result JSON, or the error
  queue::FailureKind failure = queue::FailureKind::retryable;
  double seconds = 0;
  bool refill = false;  // its slot is reserved for the completer to fill
};

}  // namespace

struct Worker::Impl {
  Impl(const config::WorkerConfig& config, const HandlerRegistry& handlers, const observability::Logger& logger,
       observability::Metrics& metrics, const queue::Clock& clock)
      : m_config(config),
        m_handlers(handlers),
        m_logger(logger),
        m_metrics(metrics),
        m_clock(clock),
        m_id(config.worker_id.empty() ? make_worker_id() : config.worker_id) {}

  const config::WorkerConfig& m_config;
  const HandlerRegistry& m_handlers;
  const observability::Logger& m_logger;
  observability::Metrics& m_metrics;
  const queue::Clock& m_clock;
  const std::string m_id;

  // ---- jobs in hand (m_mutex) ----
  std::mutex m_mutex;
  std::condition_variable m_work_ready;  // handlers wait for jobs
  std::condition_variable m_capacity;    // the claimer waits for room; shutdown waits for handlers
  std::deque<std::shared_ptr<Held>> m_ready;  // claimed, not started
  std::unordered_map<std::int64_t, std::shared_ptr<Held>> m_held;  // claimed, outcome not yet recorded
  int m_active = 0;  // claimed, handler not yet returned
  // Slots freed by finished handlers while there was a backlog, kept for the
  // completer: it claims their replacements in the transaction that records
  // the outcomes, one commit instead of two. The claimer sees
  // concurrency - m_active - m_reserved as room.
  int m_reserved = 0;
  // The last claim took all it asked for, so more jobs are probably ready.
  bool m_backlog = true;  // claim at once on start
  int m_idle_handlers = 0;
  // Handler threads are woken one at a time: the woken one, if jobs remain,
  // wakes the next. Short jobs are then run by the few threads already awake
  // instead of a herd of context switches; long jobs still fan out to every
  // thread within a millisecond or so. True while a wake-up is in flight.
  bool m_waking = false;
  bool m_claimer_waiting = false;
  bool m_stop_claiming = false;
  bool m_handlers_exit = false;
  std::atomic<bool> m_handlers_exit_flag{false};  // m_handlers_exit, readable without the mutex

  // ---- outcomes waiting for the completer (m_done_mutex) ----
  std::mutex m_done_mutex;
  std::condition_variable m_done_ready;
  std::vector<Outcome> m_done;
  std::atomic<bool> m_completer_exit{false};

  // ---- timers and exit flags of the background threads (m_timer_mutex) ----
  std::mutex m_timer_mutex;
  std::condition_variable m_timer_wake;
  std::atomic<bool> m_timers_exit{false};
  std::atomic<bool> m_renewer_exit{false};

  // Taken around the frequent writes of the worker's own threads (claim,
  // settle, renew): they queue here, in-process and cheaply, instead of on
  // SQLite's lock. Handler threads' own writes do not take it.
  std::mutex m_write_gate;

  // Totals for the worker_totals line at shutdown (batching at a glance).
  std::atomic<std::int64_t> m_claim_transactions{0}, m_jobs_claimed{0}, m_settle_transactions{0}, m_outcomes_settled{0},
      m_jobs_refilled{0};

  std::atomic<bool> m_stopping{false};  // JobContext::stop_requested
  std::atomic<bool> m_thread_died{false};
  bool m_started = false;
  bool m_shut_down = false;

  std::thread m_claimer_thread, m_completer_thread, m_renewer_thread, m_pruner_thread, m_checkpointer_thread;
  std::vector<std::thread> m_handler_threads;

  db::QueryObserver observer() {
    return [this](double seconds) { m_metrics.observe_db_query(seconds); };
  }

  // Metric label for a job type: only types this worker can run, so a typo
  // in an enqueue cannot grow the series.
  const std::string& type_label(const std::string& type) const {
    static const std::string unknown = "unknown";
    return m_handlers.find(type) ? type : unknown;
  }

  LogFields job_fields(const queue::Job& job) const {
    LogFields fields;
    fields.reserve(8);
    fields.emplace_back("job_id", static_cast<long long>(job.id));
    fields.emplace_back("type", job.type);
    fields.emplace_back("attempt", job.attempts);
    if (job.trace_id) {
      fields.emplace_back("trace_id", *job.trace_id);
      fields.emplace_back("request_id", *job.trace_id);
    }
    return fields;
  }

  // Runs `body` until it returns; logs and backs off on exceptions, so a
  // database hiccup never kills a thread. SQLITE_BUSY that outlived the busy
  // timeout is expected under heavy contention and logged at debug only.
  template <typename Body>
  void guarded(const char* loop, Body&& body, const std::function<bool()>& should_exit) {
    int consecutive = 0;
    while (!should_exit()) {
      try {
        body();
        return;
      } catch (const std::exception& e) {
        std::string what = e.what();
        bool busy = what.find("database is locked") != std::string::npos ||
                    what.find("database table is locked") != std::string::npos;
        ++consecutive;
        m_logger.log(busy ? LogLevel::debug : LogLevel::error, busy ? "worker_db_busy" : "worker_loop_failed",
                     {{"loop", loop}, {"error", what}, {"consecutive", consecutive}});
        auto pause = std::chrono::milliseconds(std::min(5000, busy ? 5 * consecutive : 100 * consecutive));
        std::unique_lock lock(m_timer_mutex);
        m_timer_wake.wait_for(lock, pause, should_exit);
      }
    }
  }

  // Opens this thread's connection, retrying (with the backoff of guarded())
  // while the database cannot be opened; nothing once `should_exit` holds.
  std::unique_ptr<db::Connection> open_connection(const char* loop, const std::function<bool()>& should_exit,
                                                  bool autocheckpoint = false) {
    std::unique_ptr<db::Connection> connection;
    guarded(loop, [&] {
      connection = std::make_unique<db::Connection>(m_config.db, observer());
      if (!autocheckpoint) connection->set_autocheckpoint(0);
    }, should_exit);
    return connection;
  }

  // ---- claimer -----------------------------------------------------------

  void claimer_loop() {
    auto connection = open_connection("claimer", [&] { return m_stopping.load(); });
    if (!connection) return;
    queue::JobQueue queue(*connection, m_clock, m_config.retry);
    const int threshold = std::max(1, std::min(m_config.batch_size, m_config.concurrency / 2));
    std::int64_t seen_version = -1;
    std::optional<std::int64_t> next_due;
    const auto poll = std::chrono::milliseconds(m_config.poll_interval_ms);

    for (;;) {
      int room;
      bool backlog;
      {
        std::unique_lock lock(m_mutex);
        // With a backlog, wait for a worthwhile batch of room; when idle, any room will do.
        m_claimer_waiting = true;
        m_capacity.wait(lock, [&] { return m_stop_claiming || free_slots() >= (m_backlog ? threshold : 1); });
        m_claimer_waiting = false;
        if (m_stop_claiming) return;
        room = free_slots();
        backlog = m_backlog;
      }
      if (!backlog) {
        // Idle: claim only when someone committed or something came due.
        bool check = false;
        guarded("claimer", [&] {
          std::int64_t version = queue.data_version();
          check = version != seen_version || (next_due && m_clock.now_ms() >= *next_due);
        }, [&] { return m_stopping.load(); });
        if (!check) {
          std::unique_lock lock(m_mutex);
          m_capacity.wait_for(lock, poll, [&] { return m_stop_claiming; });
          continue;
        }
      }
      queue::ClaimResult claimed;
      bool ok = false;
      guarded("claimer", [&] {
        // Read before claiming: a commit after this read changes the
        // version, so it cannot be missed.
        seen_version = queue.data_version();
        std::lock_guard gate(m_write_gate);
        claimed = queue.claim(m_id, std::min(room, m_config.batch_size), m_config.lease_ms);
        ok = true;
      }, [&] { return m_stopping.load(); });
      if (!ok) return;
      m_claim_transactions++;
      for (const auto& lapsed : claimed.expired) report_expired(lapsed);
      backlog = static_cast<int>(claimed.jobs.size()) == std::min(room, m_config.batch_size);
      if (!backlog) {
        guarded("claimer", [&] { next_due = queue.next_due_ms(); }, [&] { return m_stopping.load(); });
      }
      take_claimed(claimed, backlog, 0);
    }
  }

  int free_slots() const { return m_config.concurrency - m_active - m_reserved; }

  // Puts freshly claimed jobs in hand (for the handlers), or straight back
  // when shutdown began while they were being claimed. `unreserve` slots
  // kept for the completer are given up in the same step, so the claimer
  // never counts a refilled slot as free. `backlog`: nothing when no claim
  // was made.
  void take_claimed(queue::ClaimResult& claimed, std::optional<bool> backlog, int unreserve) {
    m_jobs_claimed += static_cast<std::int64_t>(claimed.jobs.size());
    std::vector<std::shared_ptr<Held>> refused;
    {
      std::lock_guard lock(m_mutex);
      m_reserved -= unreserve;
      if (backlog) m_backlog = *backlog;
      for (auto& claim : claimed.jobs) {
        auto entry = std::make_shared<Held>();
        entry->job = std::move(claim.job);
        m_held.insert_or_assign(entry->job.id, entry);
        if (m_stop_claiming) {
          refused.push_back(std::move(entry));
        } else {
          m_ready.push_back(std::move(entry));
          ++m_active;
        }
      }
      wake_handler();
      if (m_claimer_waiting && (unreserve > 0 || backlog == false)) m_capacity.notify_all();
    }
    for (auto& entry : refused) push_outcome(Outcome{std::move(entry), Kind::released, {}, {}, 0});
  }

  void report_expired(const queue::ExpiredLease& lapsed) {
    LogFields fields;
    fields.emplace_back("job_id", static_cast<long long>(lapsed.job_id));
    fields.emplace_back("type", lapsed.type);
    fields.emplace_back("attempt", lapsed.attempts);
    if (lapsed.trace_id) {
      fields.emplace_back("trace_id", *lapsed.trace_id);
      fields.emplace_back("request_id", *lapsed.trace_id);
    }
    fields.emplace_back("previous_owner", lapsed.previous_owner);
    fields.emplace_back("error", queue::kLeaseExpiredError);
    if (lapsed.dead) {
      fields.emplace_back("max_attempts", lapsed.max_attempts);
      m_logger.error("job_dead", fields);
      m_metrics.count_dead(type_label(lapsed.type));
    } else {
      m_logger.warn("job_lease_expired", fields);
      m_metrics.count_retry(type_label(lapsed.type));
    }
  }

  // ---- handlers ----------------------------------------------------------

  void handler_loop() {
    // Handlers' own writes keep automatic checkpoints: they are not on the
    // claim path, and a handler-heavy workload must not grow the WAL unchecked.
    auto connection = open_connection("handler", [&] { return m_handlers_exit_flag.load(); }, true);
    if (!connection) return;
    for (;;) {
      std::shared_ptr<Held> entry;
      {
        std::unique_lock lock(m_mutex);
        if (m_ready.empty() && !m_handlers_exit) {
          ++m_idle_handlers;
          while (m_ready.empty() && !m_handlers_exit) {
            m_work_ready.wait(lock);
            m_waking = false;  // this thread (or a spurious wake) took the wake-up in flight
          }
          --m_idle_handlers;
        }
        if (m_ready.empty()) return;
        entry = std::move(m_ready.front());
        m_ready.pop_front();
        entry->started = true;
        wake_handler();
      }
      // Claimed is not started: a job still waiting for a handler thread is
      // handed back untouched at shutdown. This line tells the two apart.
      if (m_logger.enabled(LogLevel::debug)) m_logger.debug("job_started", job_fields(entry->job));
      Outcome outcome = run(*entry, *connection);
      outcome.held = std::move(entry);
      {
        std::lock_guard lock(m_mutex);
        outcome.held->finished = true;
        --m_active;
        if (m_backlog && !m_stop_claiming) {
          outcome.refill = true;
          ++m_reserved;
        } else if (m_claimer_waiting || m_stop_claiming) {
          m_capacity.notify_all();
        }
      }
      push_outcome(std::move(outcome));
    }
  }

  // Called with `mutex` held, after jobs were queued or one was taken.
  void wake_handler() {
    if (!m_ready.empty() && m_idle_handlers > 0 && !m_waking) {
      m_waking = true;
      m_work_ready.notify_one();
    }
  }

  Outcome run(Held& entry, db::Connection& connection) {
    const queue::Job& job = entry.job;
    Outcome outcome;
    auto start = Clock::now();
    const Handler* handler = m_handlers.find(job.type);
    if (!handler) {
      outcome.kind = Kind::failed;
      outcome.failure = queue::FailureKind::permanent;
      outcome.text = "no handler for job type " + job.type;
      return outcome;
    }
    JobContext context{
        job, connection, m_clock,
        [this, &job](LogLevel level, std::string_view msg, LogFields fields) {
          if (!m_logger.enabled(level)) return;
          LogFields all = job_fields(job);
          all.insert(all.end(), std::make_move_iterator(fields.begin()), std::make_move_iterator(fields.end()));
          m_logger.log(level, msg, all);
        },
        [this, &entry] { return m_stopping.load(std::memory_order_relaxed) || entry.lost.load(std::memory_order_relaxed); }};
    try {
      std::string result = (*handler)(context);
      if (result.empty()) result = "null";
      if (result != "null" && !nlohmann::json::accept(result)) {
        throw PermanentFailure("handler returned a result that is not JSON");
      }
      outcome.kind = Kind::completed;
      outcome.text = std::move(result);
    } catch (const PermanentFailure& e) {
      outcome.kind = Kind::failed;
      outcome.failure = queue::FailureKind::permanent;
      outcome.text = e.what();
    } catch (const std::exception& e) {
      // A handler that gave up because the worker is stopping is handed
      // back uncharged; anything else is a failed attempt.
      outcome.kind = m_stopping ? Kind::released : Kind::failed;
      outcome.text = e.what();
    } catch (...) {
      outcome.kind = m_stopping ? Kind::released : Kind::failed;
      outcome.text = "handler threw a non-standard exception";
    }
    outcome.seconds = seconds_since(start);
    return outcome;
  }

  void push_outcome(Outcome outcome) {
    std::lock_guard lock(m_done_mutex);
    m_done.push_back(std::move(outcome));
    m_done_ready.notify_one();
  }

  // ---- completer ---------------------------------------------------------

  void completer_loop() {
    auto connection = open_connection("completer", [&] { return m_completer_exit.load(); });
    if (!connection) return;
    queue::JobQueue queue(*connection, m_clock, m_config.retry);
    std::vector<Outcome> batch;
    for (;;) {
      {
        std::unique_lock lock(m_done_mutex);
        m_done_ready.wait(lock, [&] { return !m_done.empty() || m_completer_exit; });
        if (m_done.empty()) return;
        batch.swap(m_done);
      }
      settle(queue, batch);
      batch.clear();
    }
  }

  void settle(queue::JobQueue& queue, std::vector<Outcome>& batch) {
    std::vector<queue::Completion> completions;
    std::vector<queue::Failure> failures;
    std::vector<std::int64_t> releases;
    std::vector<const Outcome*> completed_order, failed_order, released_order;
    int reserved = 0;
    for (const auto& outcome : batch) {
      if (outcome.refill) ++reserved;
      std::int64_t job_id = outcome.held->job.id;
      switch (outcome.kind) {
        case Kind::completed:
          completions.push_back({job_id, outcome.text});
          completed_order.push_back(&outcome);
          break;
        case Kind::failed:
          failures.push_back({job_id, outcome.text, outcome.failure});
          failed_order.push_back(&outcome);
          break;
        case Kind::released:
          releases.push_back(job_id);
          released_order.push_back(&outcome);
          break;
      }
    }
    queue::JobQueue::Refill refill;
    {
      std::lock_guard lock(m_mutex);
      if (!m_stop_claiming) refill = {std::min(reserved, m_config.batch_size), m_config.lease_ms};
    }
    queue::JobQueue::Outcomes recorded;
    bool ok = false;
    // Retried until it works or the worker gives up at exit: the outcome of
    // work already done must not be dropped for a passing database error.
    int attempts = 0;
    auto forget_batch = [&] {
      std::lock_guard lock(m_mutex);
      // Only this entry: a job that failed without backoff may already be
      // held again under the same id, claimed since the commit.
      for (const auto& outcome : batch) {
        auto found = m_held.find(outcome.held->job.id);
        if (found != m_held.end() && found->second == outcome.held) m_held.erase(found);
      }
    };
    guarded("completer", [&] {
      ++attempts;
      std::lock_guard gate(m_write_gate);
      recorded = queue.settle(m_id, completions, failures, releases, refill);
      ok = true;
      // Before the gate opens: a renewal queued behind it would otherwise
      // find these jobs finished in the table but still held here, and
      // report leases as lost that were not.
      forget_batch();
    }, [&] { return m_completer_exit && attempts >= 20; });
    if (!ok) forget_batch();
    if (ok) {
      m_settle_transactions++;
      m_outcomes_settled += static_cast<std::int64_t>(batch.size());
      m_jobs_refilled += static_cast<std::int64_t>(recorded.claimed.jobs.size());
      for (const auto& lapsed : recorded.claimed.expired) report_expired(lapsed);
    }
    // A refill that got less than it asked for found the backlog drained:
    // from here on the claimer waits for commits and due times.
    std::optional<bool> backlog;
    if (ok && refill.limit > 0) backlog = static_cast<int>(recorded.claimed.jobs.size()) == refill.limit;
    take_claimed(recorded.claimed, backlog, reserved);
    if (!ok) {
      m_logger.error("outcomes_not_recorded", {{"jobs", static_cast<long long>(batch.size())},
                                             {"hint", "their leases will expire and they will run again"}});
      return;
    }
    for (std::size_t i = 0; i < completed_order.size(); ++i) {
      report(*completed_order[i], recorded.completed[i] ? Report::succeeded : Report::lost);
    }
    for (std::size_t i = 0; i < failed_order.size(); ++i) {
      switch (recorded.failed[i]) {
        case queue::FailureOutcome::requeued: report(*failed_order[i], Report::requeued); break;
        case queue::FailureOutcome::dead: report(*failed_order[i], Report::dead); break;
        case queue::FailureOutcome::lost_lease: report(*failed_order[i], Report::lost); break;
      }
    }
    // Releases are guarded too: one that did not apply was lost earlier, or
    // (after the grace period) its late handler's outcome came first.
    for (std::size_t i = 0; i < released_order.size(); ++i) {
      if (recorded.released[i]) report(*released_order[i], Report::released);
    }
  }

  enum class Report { succeeded, requeued, dead, released, lost };

  void report(const Outcome& outcome, Report what) {
    const queue::Job& job = outcome.held->job;
    const std::string& label = type_label(job.type);
    bool traced = job.trace_id.has_value();
    using Status = observability::Metrics::JobStatus;
    switch (what) {
      case Report::succeeded:
        m_metrics.observe_job(label, Status::succeeded, traced, outcome.seconds);
        if (m_logger.enabled(LogLevel::info)) {
          LogFields fields = job_fields(job);
          fields.emplace_back("duration_ms", outcome.seconds * 1000.0);
          m_logger.info("job_succeeded", fields);
        }
        return;
      case Report::requeued:
      case Report::dead: {
        m_metrics.observe_job(label, Status::failed, traced, outcome.seconds);
        LogFields fields = job_fields(job);
        fields.emplace_back("duration_ms", outcome.seconds * 1000.0);
        fields.emplace_back("error", outcome.text);
        if (what == Report::requeued) {
          m_metrics.count_retry(label);
          fields.emplace_back("max_attempts", job.max_attempts);
          m_logger.warn("job_failed", fields);
        } else {
          m_metrics.count_dead(label);
          fields.emplace_back("max_attempts", job.max_attempts);
          fields.emplace_back("permanent", outcome.failure == queue::FailureKind::permanent);
          m_logger.error("job_dead", fields);
        }
        return;
      }
      case Report::released: {
        LogFields fields = job_fields(job);
        fields.emplace_back("started", outcome.held->started);
        m_logger.info("job_released", fields);
        return;
      }
      case Report::lost: {
        LogFields fields = job_fields(job);
        fields.emplace_back("error", "lease lost (job canceled, or taken over after the lease lapsed); outcome discarded");
        m_logger.warn("job_lost", fields);
        return;
      }
    }
  }

  // ---- renewer and pruner ------------------------------------------------

  void renewer_loop() {
    auto connection = open_connection("renewer", [&] { return m_renewer_exit.load(); });
    if (!connection) return;
    queue::JobQueue queue(*connection, m_clock, m_config.retry);
    const auto period = std::chrono::milliseconds(std::max<std::int64_t>(1, m_config.lease_ms / 3));
    for (;;) {
      {
        std::unique_lock lock(m_timer_mutex);
        if (m_timer_wake.wait_for(lock, period, [&] { return m_renewer_exit.load(); })) return;
      }
      std::vector<std::int64_t> ids;
      {
        std::lock_guard lock(m_mutex);
        ids.reserve(m_held.size());
        for (const auto& [job_id, entry] : m_held) {
          if (!entry->lost) ids.push_back(job_id);
        }
      }
      if (ids.empty()) continue;
      std::vector<std::int64_t> lost;
      guarded("renewer", [&] {
        std::lock_guard gate(m_write_gate);
        lost = queue.renew(m_id, ids, m_config.lease_ms);
      }, [&] { return m_renewer_exit.load(); });
      for (auto job_id : lost) {
        std::shared_ptr<Held> entry;
        {
          std::lock_guard lock(m_mutex);
          auto found = m_held.find(job_id);
          if (found == m_held.end()) continue;  // recorded meanwhile: not lost
          entry = found->second;
        }
        entry->lost = true;
        LogFields fields = job_fields(entry->job);
        fields.emplace_back("error", "lease lost (job canceled, or taken over after the lease lapsed)");
        m_logger.warn("job_lease_lost", fields);
      }
    }
  }

  void pruner_loop() {
    auto connection = open_connection("pruner", [&] { return m_timers_exit.load(); }, true);
    if (!connection) return;
    queue::JobQueue queue(*connection, m_clock, m_config.retry);
    const auto period = std::chrono::milliseconds(m_config.prune_interval_ms);
    for (;;) {
      {
        std::unique_lock lock(m_timer_mutex);
        if (m_timer_wake.wait_for(lock, period, [&] { return m_timers_exit.load(); })) return;
      }
      std::int64_t deleted = 0;
      // No write gate: pruning runs many short transactions and must not
      // hold up claims between them.
      guarded("pruner", [&] { deleted = queue.prune(m_config.retention_ms); }, [&] { return m_timers_exit.load(); });
      if (deleted > 0) {
        m_logger.info("jobs_pruned", {{"deleted", static_cast<long long>(deleted)},
                                    {"retention_ms", static_cast<long long>(m_config.retention_ms)}});
      }
    }
  }

  void checkpointer_loop() {
    auto connection = open_connection("checkpointer", [&] { return m_renewer_exit.load(); }, true);
    if (!connection) return;
    const auto period = std::chrono::milliseconds(100);
    for (;;) {
      {
        std::unique_lock lock(m_timer_mutex);
        if (m_timer_wake.wait_for(lock, period, [&] { return m_renewer_exit.load(); })) return;
      }
      guarded("checkpointer", [&] {
        // Past 64 MiB (4 KiB pages), reset the WAL: a short pause for every
        // writer, instead of a log that only ever grows while work flows.
        if (connection->checkpoint() >= 16384) connection->checkpoint(db::Connection::Checkpoint::truncate);
      }, [&] { return m_renewer_exit.load(); });
    }
  }

  // Runs a thread body; an exception escaping it (a connection that cannot
  // be opened, say) marks the worker unhealthy instead of ending the process.
  std::thread spawn(const char* name, void (Impl::*body)()) {
    return std::thread([this, name, body] {
      try {
        (this->*body)();
      } catch (const std::exception& e) {
        m_thread_died = true;
        m_logger.error("worker_thread_failed", {{"thread", name}, {"error", e.what()}});
      }
    });
  }

  // ---- lifecycle ---------------------------------------------------------

  void start() {
    if (m_started) return;
    m_started = true;
    m_handler_threads.reserve(static_cast<std::size_t>(m_config.concurrency));
    for (int i = 0; i < m_config.concurrency; ++i) m_handler_threads.push_back(spawn("handler", &Impl::handler_loop));
    m_completer_thread = spawn("completer", &Impl::completer_loop);
    m_renewer_thread = spawn("renewer", &Impl::renewer_loop);
    m_pruner_thread = spawn("pruner", &Impl::pruner_loop);
    m_checkpointer_thread = spawn("checkpointer", &Impl::checkpointer_loop);
    m_claimer_thread = spawn("claimer", &Impl::claimer_loop);
  }

  void shutdown() {
    if (!m_started || m_shut_down) return;
    m_shut_down = true;
    auto deadline = Clock::now() + std::chrono::milliseconds(m_config.shutdown_grace_ms);
    m_stopping = true;
    {
      std::lock_guard lock(m_mutex);
      m_stop_claiming = true;
      m_capacity.notify_all();
    }
    {
      std::lock_guard lock(m_timer_mutex);
      m_timers_exit = true;
      m_timer_wake.notify_all();
    }
    m_claimer_thread.join();
    m_pruner_thread.join();

    // Jobs claimed but not started go straight back.
    std::vector<std::shared_ptr<Held>> unstarted;
    {
      std::lock_guard lock(m_mutex);
      unstarted.assign(m_ready.begin(), m_ready.end());
      m_ready.clear();
      m_active -= static_cast<int>(unstarted.size());
    }
    for (auto& entry : unstarted) push_outcome(Outcome{std::move(entry), Kind::released, {}, {}, 0});

    // Running jobs get the grace period to finish.
    std::vector<std::shared_ptr<Held>> overdue;
    {
      std::unique_lock lock(m_mutex);
      if (!m_capacity.wait_until(lock, deadline, [&] { return m_active == 0; })) {
        for (const auto& [job_id, entry] : m_held) {
          if (entry->started && !entry->finished) overdue.push_back(entry);
        }
      }
    }
    if (!overdue.empty()) {
      // Their handlers ignore stop_requested. Hand the jobs back now so
      // another worker can run them without waiting for the lease; whatever
      // these handlers report later is refused by the lease guard.
      std::string ids;
      for (const auto& entry : overdue) ids += (ids.empty() ? "" : ",") + std::to_string(entry->job.id);
      m_logger.warn("shutdown_grace_expired", {{"job_ids", ids},
                                             {"grace_ms", static_cast<long long>(m_config.shutdown_grace_ms)}});
      for (auto& entry : overdue) push_outcome(Outcome{entry, Kind::released, {}, {}, 0});
    }
    {
      std::lock_guard lock(m_mutex);
      m_handlers_exit = true;
      m_handlers_exit_flag = true;
      m_work_ready.notify_all();
    }
    {
      std::lock_guard lock(m_timer_mutex);  // a handler still opening its connection must notice
      m_timer_wake.notify_all();
    }
    for (auto& thread : m_handler_threads) thread.join();
    {
      std::lock_guard lock(m_done_mutex);
      m_completer_exit = true;
      m_done_ready.notify_all();
    }
    {
      std::lock_guard lock(m_timer_mutex);  // a completer backing off must notice
      m_timer_wake.notify_all();
    }
    m_completer_thread.join();
    {
      std::lock_guard lock(m_timer_mutex);
      m_renewer_exit = true;
      m_timer_wake.notify_all();
    }
    m_renewer_thread.join();
    m_checkpointer_thread.join();
    m_logger.info("worker_totals", {{"claim_transactions", static_cast<long long>(m_claim_transactions)},
                                  {"jobs_claimed", static_cast<long long>(m_jobs_claimed)},
                                  {"settle_transactions", static_cast<long long>(m_settle_transactions)},
                                  {"jobs_claimed_with_outcomes", static_cast<long long>(m_jobs_refilled)},
                                  {"outcomes_settled", static_cast<long long>(m_outcomes_settled)}});
  }
};

Worker::Worker(const config::WorkerConfig& config, const HandlerRegistry& handlers,
               const observability::Logger& logger, observability::Metrics& metrics, const queue::Clock& clock)
    : m_impl(std::make_unique<Impl>(config, handlers, logger, metrics, clock)) {}

Worker::~Worker() { shutdown(); }

void Worker::start() { m_impl->start(); }

void Worker::shutdown() { m_impl->shutdown(); }

// Liveness only: a database that is missing or busy is a readiness problem
// (/readyz reports it); restarting the process would not fix it.
bool Worker::healthy() const { return !m_impl->m_thread_died; }

const std::string& Worker::id() const { return m_impl->m_id; }

}  // namespace pw::worker
