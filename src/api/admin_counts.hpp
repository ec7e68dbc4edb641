// The job counts the operator console's overview shows for finished jobs
// (succeeded, dead, canceled): counting them reads about every row of the
// table (134 ms on SQLite, ~500 ms on PostgreSQL for a million jobs), too
// slow for each page load. AdminCounts keeps the last full count with the
// time it was taken and refreshes it on a background thread: every
// `idle` while nobody looks, every `busy` while the console is in use (an
// overview within `in_use`), and once at start. The overview says how old
// the snapshot is; queued and running jobs are counted exactly on every
// request (JobTable::active_counts), so nothing that moves fast is stale.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "observability/logger.hpp"
#include "queue/clock.hpp"

namespace pw::api {

// type -> state -> jobs, as JobTable::counts() answers.
using JobCounts = std::map<std::string, std::map<std::string, std::int64_t>>;

struct CountsSnapshot {
  JobCounts counts;
  std::int64_t taken_at_ms = 0;  // clock time when the count began
};

class AdminCounts {
 public:
  struct Periods {
    // Clock time between refreshes (the queue::Clock passed in).
    std::chrono::milliseconds idle{60'000};
    std::chrono::milliseconds busy{5'000};
    // An overview this recent means the console is in use.
    std::chrono::milliseconds in_use{60'000};
    // Real time between the thread's looks at the clock: how late a refresh
    // may start, and how long destruction waits at most besides a count in
    // progress.
    std::chrono::milliseconds tick{1'000};
  };

  // Counts every job; nothing when there is nothing to count for (the
  // console is off). Runs on the background thread, so it must use its own
  // database session, never one a request may be holding. An exception is
  // logged (warn, `admin_counts_unavailable`) and keeps the last snapshot.
  using Count = std::function<std::optional<JobCounts>()>;

  // Starts the thread, whose first look counts at once.
  AdminCounts(Count count, const queue::Clock& clock, const observability::Logger& logger, Periods periods);
  // Stops the thread and joins it (after a count in progress, if any).
  ~AdminCounts();
  AdminCounts(const AdminCounts&) = delete;
  AdminCounts& operator=(const AdminCounts&) = delete;

  // An overview was asked for: the console is in use.
  void note_use();

  // The last snapshot; when none exists yet, one counted now by `count_now`
  // (on the caller's session). Single flight: while a count runs, here or in
  // the background, a caller waits for it instead of starting another.
  // Exceptions from `count_now` go to the caller.
  std::shared_ptr<const CountsSnapshot> snapshot(const std::function<JobCounts()>& count_now);

  // The last snapshot, if any (for tests and diagnosis).
  std::shared_ptr<const CountsSnapshot> latest() const;
  // How many times the thread has looked at the clock, and how many counts
  // it has stored: tests wait on these instead of sleeping.
  std::int64_t looks() const;
  std::int64_t refreshes() const;

 private:
  void run();
  bool due(std::int64_t now_ms) const;  // m_mutex held
  void refresh(std::int64_t decided_at_ms);
  void store(std::shared_ptr<const CountsSnapshot> snapshot);

  Count m_count;
  const queue::Clock& m_clock;
  const observability::Logger& m_logger;
  Periods m_periods;

  // Held for the whole of a count: at most one runs at a time.
  std::mutex m_count_mutex;

  mutable std::mutex m_mutex;
  std::condition_variable m_wake;
  std::shared_ptr<const CountsSnapshot> m_snapshot;  // guarded by m_mutex
  std::optional<std::int64_t> m_last_attempt_ms;     // guarded by m_mutex
  std::optional<std::int64_t> m_last_use_ms;         // guarded by m_mutex
  std::int64_t m_looks = 0;                          // guarded by m_mutex
  std::int64_t m_refreshes = 0;                      // guarded by m_mutex
  bool m_stopping = false;                           // guarded by m_mutex

  std::thread m_thread;  // last: starts after everything it reads exists
};

}  // namespace pw::api
