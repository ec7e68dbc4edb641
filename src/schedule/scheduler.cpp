#include "schedule/scheduler.hpp"

#include <exception>

namespace pw::schedule {

Scheduler::Scheduler(storage::Storage& storage, const queue::Clock& clock, FireSettings settings,
                     std::chrono::milliseconds interval, const observability::Logger& logger,
                     observability::Metrics& metrics)
    : m_storage(storage),
      m_clock(clock),
      m_settings(std::move(settings)),
      m_interval(interval),
      m_logger(logger),
      m_metrics(metrics),
      m_thread([this](std::stop_token stop) { run(stop); }) {}

Scheduler::~Scheduler() {
  m_thread.request_stop();
  if (m_thread.joinable()) m_thread.join();
}

void Scheduler::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    try {
      // A full batch means more may be due: go round again at once.
      int fired = 0;
      do {
        fired = m_storage.with_session([&](storage::Session& session) {
          return fire_due(session, m_clock, m_settings, [this](const TickOutcome& outcome) { report(outcome); });
        });
      } while (fired >= m_settings.batch && !stop.stop_requested());
    } catch (const std::exception& e) {
      // The database cannot serve now (no session, no read): the next round
      // tries again; the ticks wait in the table meanwhile.
      m_logger.warn("schedule_poll_failed", {{"error", e.what()}});
    }
    std::unique_lock lock(m_mutex);
    m_wake.wait_for(lock, stop, m_interval, [] { return false; });
  }
}

void Scheduler::report(const TickOutcome& outcome) {
  const auto& schedule = outcome.schedule;
  const char* kind = kind_name(schedule.kind);
  const char* status = status_name(outcome.status);
  m_metrics.count_schedule_tick(kind, status);
  observability::LogFields fields{{"schedule_id", static_cast<long long>(schedule.id)},
                                  {"schedule_kind", kind},
                                  {"status", status},
                                  {"tick_ms", static_cast<long long>(outcome.tick_ms)}};
  if (schedule.kind == ScheduleKind::world) {
    fields.push_back({"world_id", static_cast<long long>(schedule.world_id)});
    fields.push_back({"user_id", static_cast<long long>(schedule.user_id)});
  } else {
    fields.push_back({"schedule_name", schedule.name});
    fields.push_back({"type", schedule.job_type});
  }
  if (outcome.job_id) fields.push_back({"job_id", static_cast<long long>(*outcome.job_id)});
  if (outcome.next_ms) fields.push_back({"next_tick_ms", static_cast<long long>(*outcome.next_ms)});
  if (!outcome.reason.empty()) fields.push_back({"reason", outcome.reason});
  if (outcome.status == TickStatus::failed) {
    m_logger.warn("schedule_tick", fields);
  } else {
    m_logger.info("schedule_tick", fields);
  }
}

}  // namespace pw::schedule
