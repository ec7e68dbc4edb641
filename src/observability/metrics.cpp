#include "observability/metrics.hpp"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <mutex>

namespace pw::observability {
namespace {

// HTTP and job buckets include 0.5 s, the latency alert threshold, so the
// alert's p95 is exact at the line that matters.
const prometheus::Histogram::BucketBoundaries kHttpBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const prometheus::Histogram::BucketBoundaries kJobBuckets = {
    0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300};
const prometheus::Histogram::BucketBoundaries kDbBuckets = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5};

// Lock waits run from microseconds (no contention) to the busy timeout
// (seconds; 10 s by default) and beyond.
const prometheus::Histogram::BucketBoundaries kLockWaitBuckets = {
    0.0001, 0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

const std::array<std::string, 8> kKnownMethods = {"GET",  "POST",    "PUT",   "PATCH",
                                                  "DELETE", "HEAD", "OPTIONS", "OTHER"};

// Every status this server answers with: the successes the /v1 handlers
// use, every refusal of the request framer and router, and the errors of
// handlers and health checks. Their series exist at 0 from the start, so
// the first burst of a status nobody has answered yet shows in rate() and
// increase() (which cannot see the value a series is born with). Any other
// status still gets its series on first use.
constexpr std::array<int, 23> kAnsweredStatuses = {200, 201, 202, 204, 400, 401, 403, 404, 405, 408, 409, 411,
                                                   413, 414, 415, 416, 417, 422, 429, 431, 500, 501, 503};

std::string bounded_method(const std::string& method) {
  for (const auto& known : kKnownMethods) {
    if (known == method) return method;
  }
  // Methods are client text: an unbounded label would let anyone grow our series.
  return "OTHER";
}

}  // namespace

Metrics::Metrics(std::string service, const std::vector<std::string>& job_types)
    : m_service(std::move(service)),
      m_known_types(job_types.begin(), job_types.end()),
      m_registry(std::make_shared<prometheus::Registry>()),
      m_http_requests(prometheus::BuildCounter()
                          .Name("http_requests_total")
                          .Help("HTTP requests answered, by route template, method and status.")
                          .Register(*m_registry)),
      m_http_duration(prometheus::BuildHistogram()
                          .Name("http_request_duration_seconds")
                          .Help("Time from request parsed to response ready, by route template and method.")
                          .Register(*m_registry)),
      m_jobs_processed(prometheus::BuildCounter()
                           .Name("jobs_processed_total")
                           .Help("Job attempts finished, by type and status (succeeded, failed, or canceled while running).")
                           .Register(*m_registry)),
      m_job_duration(prometheus::BuildHistogram()
                         .Name("job_duration_seconds")
                         .Help("Time a job handler ran for one attempt, by type.")
                         .Register(*m_registry)),
      m_job_retries(prometheus::BuildCounter()
                        .Name("job_retries_total")
                        .Help("Failed attempts scheduled to run again, by type.")
                        .Register(*m_registry)),
      m_jobs_dead(prometheus::BuildCounter()
                      .Name("jobs_dead_total")
                      .Help("Jobs that ran out of attempts or failed permanently, by type.")
                      .Register(*m_registry)),
      m_jobs_lease_lost(prometheus::BuildCounter()
                            .Name("jobs_lease_lost_total")
                            .Help("Claims this worker lost while it held them (lease lapsed and taken over, or "
                                  "job canceled); their outcomes are refused, by type.")
                            .Register(*m_registry)),
      m_jobs_trace(prometheus::BuildCounter()
                       .Name("jobs_trace_total")
                       .Help("Job attempts finished, by type, status and whether a trace id came with the job.")
                       .Register(*m_registry)),
      m_db_duration(prometheus::BuildHistogram()
                        .Name("db_query_duration_seconds")
                        .Help("Time spent in database queries and transactions.")
                        .Register(*m_registry)),
      m_queue_depth(prometheus::BuildGauge()
                        .Name("queue_depth")
                        .Help("Jobs ready to run (queued and due), by type, read at scrape time.")
                        .Register(*m_registry)),
      m_oldest_ready(prometheus::BuildGauge()
                         .Name("job_oldest_ready_age_seconds")
                         .Help("Age of the oldest ready job, by type, read at scrape time.")
                         .Register(*m_registry)) {
  m_db_histogram = &m_db_duration.Add({}, kDbBuckets);
  m_lock_wait = &prometheus::BuildHistogram()
                     .Name("db_lock_wait_seconds")
                     .Help("Time a write waited for the database write lock (BEGIN IMMEDIATE), whether or not it got it.")
                     .Register(*m_registry)
                     .Add({}, kLockWaitBuckets);
  m_busy_timeouts = &prometheus::BuildCounter()
                         .Name("db_busy_timeouts_total")
                         .Help("Writes that gave up waiting for the database write lock (busy timeout).")
                         .Register(*m_registry)
                         .Add({});
  auto& unavailable = prometheus::BuildCounter()
                          .Name("db_unavailable_total")
                          .Help("Requests answered 503 because the database could not serve them, by reason.")
                          .Register(*m_registry);
  for (std::size_t i = 0; i < kUnavailableReasons.size(); ++i) {
    m_unavailable[i] = &unavailable.Add({{"reason", kUnavailableReasons[i]}});
  }
  if (m_service == "api") {
    auto& admin_actions = prometheus::BuildCounter()
                              .Name("admin_actions_total")
                              .Help("Operator console actions that changed jobs (/admin/v1), by action.")
                              .Register(*m_registry);
    for (std::size_t i = 0; i < kAdminActions.size(); ++i) {
      m_admin_actions[i] = &admin_actions.Add({{"action", kAdminActions[i]}});
    }
  }
  if (m_service == "worker") {
    auto& schedule_ticks = prometheus::BuildCounter()
                               .Name("schedule_ticks_total")
                               .Help("Schedule ticks fired by this worker, by schedule kind and what became of them.")
                               .Register(*m_registry);
    for (std::size_t k = 0; k < kScheduleKinds.size(); ++k) {
      for (std::size_t s = 0; s < kScheduleTickStatuses.size(); ++s) {
        m_schedule_ticks[k][s] =
            &schedule_ticks.Add({{"schedule_kind", kScheduleKinds[k]}, {"status", kScheduleTickStatuses[s]}});
      }
    }
  }
  prometheus::BuildGauge()
      .Name("personaworlds_build_info")
      .Help("Always 1; labels carry the version and the role of this process.")
      .Register(*m_registry)
      .Add({{"version", PW_VERSION}, {"service", m_service}})
      .Set(1);
  prometheus::BuildGauge()
      .Name("process_start_time_seconds")
      .Help("Start time of the process since the Unix epoch, in seconds.")
      .Register(*m_registry)
      .Add({})
      .Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  for (const auto& method : kKnownMethods) add_route("unmatched", method);
  std::vector<std::string> labels(m_known_types.begin(), m_known_types.end());
  labels.push_back(m_unknown_type);
  // The backlog gauges: every role reads the same table, so they stay
  // visible with no worker running (rules and panels take max by type).
  {
    std::lock_guard lock(m_gauge_mutex);
    for (const auto& label : labels) {
      gauge_for(m_queue_depth, m_depth_gauges, label).Set(0);
      gauge_for(m_oldest_ready, m_age_gauges, label).Set(0);
    }
  }
  register_queue_controls(labels);
  // Job counters belong to the worker: the API exports none, so sums across
  // scrape targets never double.
  if (m_service == "worker") {
    for (const auto& label : labels) job_series(label);
  }
}

const std::string& Metrics::job_type_label(const std::string& type) const {
  // A known type is returned as the set's own copy, so the reference outlives `type`.
  auto found = m_known_types.find(type);
  return found == m_known_types.end() ? m_unknown_type : *found;
}

std::size_t Metrics::add_route(const std::string& route, const std::string& method) {
  auto key = std::make_pair(route, method);
  if (auto found = m_route_index.find(key); found != m_route_index.end()) return found->second;
  auto series = std::make_unique<RouteSeries>();
  series->route = route;
  series->method = method;
  series->duration = &m_http_duration.Add({{"route", route}, {"method", method}}, kHttpBuckets);
  for (int status : kAnsweredStatuses) {
    series->by_status.emplace(
        status, &m_http_requests.Add({{"route", route}, {"method", method}, {"status", std::to_string(status)}}));
  }
  m_routes.push_back(std::move(series));
  m_route_index.emplace(key, m_routes.size() - 1);
  return m_routes.size() - 1;
}

std::size_t Metrics::unmatched(const std::string& method) {
  return m_route_index.at({"unmatched", bounded_method(method)});
}

void Metrics::observe_request(std::size_t route_handle, int status, double seconds) {
  RouteSeries& series = *m_routes.at(route_handle);
  series.duration->Observe(seconds);
  {
    std::shared_lock lock(m_status_mutex);
    if (auto found = series.by_status.find(status); found != series.by_status.end()) {
      found->second->Increment();
      return;
    }
  }
  std::unique_lock lock(m_status_mutex);
  auto [it, inserted] = series.by_status.try_emplace(status, nullptr);
  if (inserted) {
    it->second = &m_http_requests.Add(
        {{"route", series.route}, {"method", series.method}, {"status", std::to_string(status)}});
  }
  it->second->Increment();
}

Metrics::JobSeries& Metrics::job_series(const std::string& type) {
  {
    std::shared_lock lock(m_jobs_mutex);
    if (auto found = m_jobs.find(type); found != m_jobs.end()) return *found->second;
  }
  std::unique_lock lock(m_jobs_mutex);
  auto& slot = m_jobs[type];
  if (!slot) {
    auto series = std::make_unique<JobSeries>();
    const char* statuses[3] = {"succeeded", "failed", "canceled"};
    const char* traces[2] = {"present", "missing"};
    for (int s = 0; s < 3; ++s) {
      series->processed[s] = &m_jobs_processed.Add({{"type", type}, {"status", statuses[s]}});
      for (int t = 0; t < 2; ++t) {
        series->traced[s][t] =
            &m_jobs_trace.Add({{"type", type}, {"status", statuses[s]}, {"trace", traces[t]}});
      }
    }
    series->duration = &m_job_duration.Add({{"type", type}}, kJobBuckets);
    series->retries = &m_job_retries.Add({{"type", type}});
    series->dead = &m_jobs_dead.Add({{"type", type}});
    series->lease_lost = &m_jobs_lease_lost.Add({{"type", type}});
    slot = std::move(series);
  }
  return *slot;
}

void Metrics::observe_job(const std::string& type, JobStatus status, bool trace_present, double seconds) {
  JobSeries& series = job_series(job_type_label(type));
  int s = static_cast<int>(status);
  series.processed[s]->Increment();
  series.traced[s][trace_present ? 0 : 1]->Increment();
  series.duration->Observe(seconds);
}

void Metrics::count_retry(const std::string& type) { job_series(job_type_label(type)).retries->Increment(); }

void Metrics::count_dead(const std::string& type) { job_series(job_type_label(type)).dead->Increment(); }

void Metrics::count_lease_lost(const std::string& type) {
  job_series(job_type_label(type)).lease_lost->Increment();
}

void Metrics::observe_db_query(double seconds) { m_db_histogram->Observe(seconds); }

void Metrics::observe_lock_wait(double seconds, bool acquired) {
  m_lock_wait->Observe(seconds);
  if (!acquired) m_busy_timeouts->Increment();
}

void Metrics::count_database_unavailable(std::string_view reason) {
  std::size_t index = kUnavailableReasons.size() - 1;  // other
  for (std::size_t i = 0; i < kUnavailableReasons.size(); ++i) {
    if (reason == kUnavailableReasons[i]) index = i;
  }
  m_unavailable[index]->Increment();
}

void Metrics::count_admin_action(std::string_view action) {
  for (std::size_t i = 0; i < kAdminActions.size(); ++i) {
    if (action == kAdminActions[i] && m_admin_actions[i] != nullptr) m_admin_actions[i]->Increment();
  }
}

void Metrics::count_schedule_tick(std::string_view kind, std::string_view status) {
  for (std::size_t k = 0; k < kScheduleKinds.size(); ++k) {
    for (std::size_t s = 0; s < kScheduleTickStatuses.size(); ++s) {
      if (kind == kScheduleKinds[k] && status == kScheduleTickStatuses[s] && m_schedule_ticks[k][s] != nullptr) {
        m_schedule_ticks[k][s]->Increment();
      }
    }
  }
}

prometheus::Gauge& Metrics::gauge_for(prometheus::Family<prometheus::Gauge>& family,
                                      std::map<std::string, prometheus::Gauge*>& cache,
                                      const std::string& type) {
  auto& slot = cache[type];
  if (!slot) slot = &family.Add({{"type", type}});
  return *slot;
}

void Metrics::set_queue_depth(const std::map<std::string, std::int64_t>& ready_by_type) {
  std::map<std::string, double> by_label;
  for (const auto& [type, count] : ready_by_type) by_label[job_type_label(type)] += static_cast<double>(count);
  std::lock_guard lock(m_gauge_mutex);
  // Types absent from the reading have no ready jobs.
  for (auto& [label, gauge] : m_depth_gauges) gauge->Set(0);
  for (const auto& [label, count] : by_label) gauge_for(m_queue_depth, m_depth_gauges, label).Set(count);
}

void Metrics::set_oldest_ready_age(const std::map<std::string, double>& age_by_type) {
  std::map<std::string, double> by_label;
  for (const auto& [type, age] : age_by_type) {
    double& oldest = by_label[job_type_label(type)];
    oldest = std::max(oldest, age);
  }
  std::lock_guard lock(m_gauge_mutex);
  for (auto& [label, gauge] : m_age_gauges) gauge->Set(0);
  for (const auto& [label, age] : by_label) gauge_for(m_oldest_ready, m_age_gauges, label).Set(age);
}

std::string Metrics::scrape() {
  std::lock_guard lock(m_scrape_mutex);
  if (m_scrape_hook) m_scrape_hook(*this);
  return prometheus::TextSerializer().Serialize(m_registry->Collect());
}

}  // namespace pw::observability
