// The scheduler loop every worker process runs: about once per interval it
// fires the schedules that are due (schedule/firing.hpp), then writes a log
// line and counts schedule_ticks_total for each tick it fired. Any number of
// these loops, on any number of hosts, fire each tick once: the database
// decides which one does. Its own thread, on its own storage session; RAII:
// the destructor stops and joins it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "observability/logger.hpp"
#include "observability/metrics.hpp"
#include "schedule/firing.hpp"

namespace pw::schedule {

class Scheduler {
 public:
  Scheduler(storage::Storage& storage, const queue::Clock& clock, FireSettings settings,
            std::chrono::milliseconds interval, const observability::Logger& logger,
            observability::Metrics& metrics);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

 private:
  void run(std::stop_token stop);
  void report(const TickOutcome& outcome);

  storage::Storage& m_storage;
  const queue::Clock& m_clock;
  FireSettings m_settings;
  std::chrono::milliseconds m_interval;
  const observability::Logger& m_logger;
  observability::Metrics& m_metrics;
  std::mutex m_mutex;
  std::condition_variable_any m_wake;
  std::jthread m_thread;  // last: started once everything it reads is set
};

}  // namespace pw::schedule
