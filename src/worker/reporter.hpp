// The log lines and metrics of job outcomes. Called only after the outcome
// is durable, so logs and metrics never report what was not stored.
#pragma once

#include <string>

#include "observability/logger.hpp"
#include "observability/metrics.hpp"
#include "queue/job_queue.hpp"
#include "worker/handler.hpp"
#include "worker/outcome.hpp"

namespace pw::worker {

class Reporter {
 public:
  Reporter(const HandlerRegistry& handlers, const observability::Logger& logger, observability::Metrics& metrics)
      : m_handlers(handlers), m_logger(logger), m_metrics(metrics) {}

  enum class Result { succeeded, requeued, dead, released, lost };
  void outcome(const Outcome& outcome, Result what) const;
  // A lease of a presumed-dead worker, settled by one of our claims.
  void expired(const queue::ExpiredLease& lapsed) const;
  // A claim found no longer ours: logged as job_lease_lost and counted in
  // jobs_lease_lost_total. Callers flag the claim lost first (Held::lost),
  // so each claim is reported once.
  void lease_lost(const queue::Job& job) const;
  // A running claim whose job was canceled: logged as job_canceled (the
  // handler is told to stop; the job is already recorded as canceled).
  void canceled(const queue::Job& job) const;
  // This worker claimed the job again while an older run of it was still in hand.
  void superseded(const queue::Job& older) const;

  // job_id, type, attempt, and trace_id + request_id when the job has one.
  static observability::LogFields job_fields(const queue::Job& job);
  // Metric label for a job type: only types this worker can run, so a typo
  // in an enqueue cannot grow the series.
  const std::string& type_label(const std::string& type) const;

 private:
  const HandlerRegistry& m_handlers;
  const observability::Logger& m_logger;
  observability::Metrics& m_metrics;
};

}  // namespace pw::worker
