#include "worker/reporter.hpp"

namespace pw::worker {

using observability::LogFields;
using observability::LogLevel;

LogFields Reporter::job_fields(const queue::Job& job) {
  LogFields fields;
  fields.reserve(9);
  fields.emplace_back("job_id", static_cast<long long>(job.id));
  fields.emplace_back("type", job.type);
  fields.emplace_back("attempt", job.attempts);
  fields.emplace_back("claim", static_cast<long long>(job.claim));
  if (job.trace_id) {
    fields.emplace_back("trace_id", *job.trace_id);
    fields.emplace_back("request_id", *job.trace_id);
  }
  return fields;
}

const std::string& Reporter::type_label(const std::string& type) const {
  static const std::string unknown = "unknown";
  return m_handlers.find(type) ? type : unknown;
}

void Reporter::outcome(const Outcome& outcome, Result what) const {
  const queue::Job& job = outcome.held->job;
  const std::string& label = type_label(job.type);
  bool traced = job.trace_id.has_value();
  using Status = observability::Metrics::JobStatus;
  switch (what) {
    case Result::succeeded:
      m_metrics.observe_job(label, Status::succeeded, traced, outcome.seconds);
      if (m_logger.enabled(LogLevel::info)) {
        LogFields fields = job_fields(job);
        fields.emplace_back("duration_ms", outcome.seconds * 1000.0);
        m_logger.info("job_succeeded", fields);
      }
      return;
    case Result::requeued:
    case Result::dead: {
      m_metrics.observe_job(label, Status::failed, traced, outcome.seconds);
      LogFields fields = job_fields(job);
      fields.emplace_back("duration_ms", outcome.seconds * 1000.0);
      fields.emplace_back("error", outcome.text);
      fields.emplace_back("max_attempts", job.max_attempts);
      if (what == Result::requeued) {
        m_metrics.count_retry(label);
        m_logger.warn("job_failed", fields);
      } else {
        m_metrics.count_dead(label);
        fields.emplace_back("permanent", outcome.failure == queue::FailureKind::permanent);
        m_logger.error("job_dead", fields);
      }
      return;
    }
    case Result::released: {
      LogFields fields = job_fields(job);
      fields.emplace_back("started", outcome.started);
      m_logger.info("job_released", fields);
      return;
    }
    case Result::lost: {
      if (outcome.held->canceled) {
        // Expected: the cancel was reported when it arrived.
        LogFields fields = job_fields(job);
        fields.emplace_back("duration_ms", outcome.seconds * 1000.0);
        m_logger.info("job_stopped_after_cancel", fields);
        m_metrics.observe_job(label, Status::canceled, traced, outcome.seconds);
        return;
      }
      // Refused at settle before a renewal or a claim told us: this is where
      // the worker learns the claim is gone, so it is reported here, once.
      if (!outcome.held->lost.exchange(true)) lease_lost(job);
      LogFields fields = job_fields(job);
      fields.emplace_back("error", "lease lost (job canceled, or taken over after the lease lapsed); outcome discarded");
      m_logger.warn("job_lost", fields);
      return;
    }
  }
}

void Reporter::expired(const queue::ExpiredLease& lapsed) const {
  LogFields fields;
  fields.emplace_back("job_id", static_cast<long long>(lapsed.job_id));
  fields.emplace_back("type", lapsed.type);
  fields.emplace_back("attempt", lapsed.attempts);
  if (lapsed.trace_id) {
    fields.emplace_back("trace_id", *lapsed.trace_id);
    fields.emplace_back("request_id", *lapsed.trace_id);
  }
  fields.emplace_back("claim", static_cast<long long>(lapsed.claim));
  fields.emplace_back("previous_owner", lapsed.previous_owner);
  fields.emplace_back("overdue_ms", static_cast<long long>(lapsed.overdue_ms));
  fields.emplace_back("grace_ms", static_cast<long long>(lapsed.grace_ms));
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

void Reporter::canceled(const queue::Job& job) const {
  LogFields fields = job_fields(job);
  fields.emplace_back("detail", "canceled while running; its handler is told to stop and its outcome discarded");
  m_logger.info("job_canceled", fields);
}

void Reporter::lease_lost(const queue::Job& job) const {
  LogFields fields = job_fields(job);
  fields.emplace_back("error", "lease lost (job canceled, or taken over after the lease lapsed)");
  m_logger.warn("job_lease_lost", fields);
  m_metrics.count_lease_lost(type_label(job.type));
}

}  // namespace pw::worker

namespace pw::worker {

void Reporter::superseded(const queue::Job& older) const {
  LogFields fields = job_fields(older);
  fields.emplace_back("error", "lease lapsed and the job was claimed again; this run is told to stop");
  m_logger.warn("job_lease_lost", fields);
  m_metrics.count_lease_lost(type_label(older.type));
}

}  // namespace pw::worker
