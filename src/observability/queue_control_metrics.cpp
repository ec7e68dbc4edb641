// The metrics of the queue controls (queue/controls.hpp): queue_paused{type}
// from the database at scrape time (both roles, as queue_depth), and
// jobs_rate_limited_total{type} counted by the worker as its claims report.
#include "observability/metrics.hpp"

namespace pw::observability {

void Metrics::register_queue_controls(const std::vector<std::string>& labels) {
  m_queue_paused = &prometheus::BuildGauge()
                        .Name("queue_paused")
                        .Help("1 while claims pass over the job type (jobs pause), else 0, read at scrape time.")
                        .Register(*m_registry);
  std::lock_guard lock(m_gauge_mutex);
  for (const auto& label : labels) gauge_for(*m_queue_paused, m_paused_gauges, label).Set(0);
  if (m_service != "worker") return;
  auto& limited = prometheus::BuildCounter()
                      .Name("jobs_rate_limited_total")
                      .Help("Claims by this worker that left ready jobs of the type for want of rate-limit "
                            "tokens (jobs rate-limit), by type.")
                      .Register(*m_registry);
  for (const auto& label : labels) m_rate_limited[label] = &limited.Add({{"type", label}});
}

void Metrics::count_rate_limited(const std::string& type) {
  // Every label was created at start-up: the map is only read.
  auto found = m_rate_limited.find(job_type_label(type));
  if (found != m_rate_limited.end()) found->second->Increment();
}

void Metrics::set_queue_paused(const std::vector<std::string>& paused_types) {
  std::lock_guard lock(m_gauge_mutex);
  for (auto& [label, gauge] : m_paused_gauges) gauge->Set(0);
  for (const auto& type : paused_types) gauge_for(*m_queue_paused, m_paused_gauges, job_type_label(type)).Set(1);
}

}  // namespace pw::observability
