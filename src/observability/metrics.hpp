// The Prometheus metrics of both roles, named exactly as in the observability
// contract. Label combinations known up front are created at start-up (so
// rate() sees the first event) and cached; nothing calls Family::Add on a hot
// path except the first time an unforeseen HTTP status shows up.
//
// Label values that come from data (job types are whatever a row of the job
// table says, and an operator can enqueue any text) pass through one bounded
// mapping here, so no caller can grow the series or break the exposition
// with bytes that are not UTF-8: a type this build knows is its own label,
// anything else is `unknown`.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace pw::observability {

// A route template and method pair, registered before serving.
struct RouteKey {
  std::string route;  // template: /v1/worlds/{id}
  std::string method;
};

class Metrics {
 public:
  // service: "api" or "worker". job_types: the types this process knows;
  // they and `unknown` are the only values the `type` label ever takes.
  Metrics(std::string service, const std::vector<std::string>& job_types);

  static constexpr const char* kUnknownJobType = "unknown";
  // The `type` label of a job type: itself when known, else "unknown".
  const std::string& job_type_label(const std::string& type) const;

  prometheus::Registry& registry() { return *m_registry; }

  // ---- HTTP ----
  // Pre-creates the series of the route x method, with a request counter at
  // 0 for every status the server answers with; returns a handle for
  // observe_request. Call before serving.
  std::size_t add_route(const std::string& route, const std::string& method);
  // The handle for route="unmatched" with the given method (any method).
  std::size_t unmatched(const std::string& method);
  void observe_request(std::size_t route_handle, int status, double seconds);

  // ---- jobs (worker) ----
  // canceled: the attempt was running when the job was canceled (its handler
  // was told to stop; whatever it returned is discarded).
  enum class JobStatus { succeeded, failed, canceled };
  void observe_job(const std::string& type, JobStatus status, bool trace_present, double seconds);
  void count_retry(const std::string& type);
  void count_dead(const std::string& type);
  // A claim this worker held but no longer owns (its lease lapsed and another
  // took the job over, or the job was canceled): once per claim, however the
  // worker found out (a renewal, a claim, or its outcome refused at settle).
  void count_lease_lost(const std::string& type);
  // A claim that left ready jobs of the type for want of rate-limit tokens
  // (queue/controls.hpp): jobs_rate_limited_total{type}.
  void count_rate_limited(const std::string& type);

  // ---- database ----
  void observe_db_query(double seconds);
  // One wait for the write lock (db::LockObserver): observed in
  // db_lock_wait_seconds; one that gave up also counts in db_busy_timeouts_total.
  void observe_lock_wait(double seconds, bool acquired);
  // Why a request was answered 503 because the database could not serve it:
  // one of kUnavailableReasons (anything else counts as "other").
  // "connection" and "overloaded" come from a database server (PostgreSQL):
  // unreachable or lost, and out of connections or resources.
  static constexpr std::array<const char*, 10> kUnavailableReasons = {
      "busy", "readonly", "full", "io", "corrupt", "missing", "schema", "connection", "overloaded", "other"};
  void count_database_unavailable(std::string_view reason);

  // ---- operator console (api) ----
  // One admin action that changed jobs (the audit log has the details):
  // one of kAdminActions; anything else is not counted.
  static constexpr std::array<const char*, 8> kAdminActions = {"retry",       "cancel", "delete", "bulk_retry",
                                                               "bulk_cancel", "pause",  "resume", "rate_limit"};
  void count_admin_action(std::string_view action);

  // ---- schedules (worker) ----
  // One fired schedule tick: kind one of kScheduleKinds, status one of
  // kScheduleTickStatuses (anything else is not counted).
  static constexpr std::array<const char*, 2> kScheduleKinds = {"operator", "world"};
  static constexpr std::array<const char*, 3> kScheduleTickStatuses = {"enqueued", "skipped", "failed"};
  void count_schedule_tick(std::string_view kind, std::string_view status);

  // Called at scrape time to refresh gauges read from the database
  // (queue_depth, oldest ready age). Set by both roles. Readings are keyed by
  // the raw type from the table; unknown types are added up (depth) or
  // reduced to the oldest (age) under `unknown`.
  using ScrapeHook = std::function<void(Metrics&)>;
  void set_scrape_hook(ScrapeHook hook) { m_scrape_hook = std::move(hook); }
  void set_queue_depth(const std::map<std::string, std::int64_t>& ready_by_type);
  void set_oldest_ready_age(const std::map<std::string, double>& age_by_type);
  // queue_paused{type}: 1 for each paused type (raw types; an unknown one
  // sets `unknown`), 0 for the rest. Both roles, like queue_depth.
  void set_queue_paused(const std::vector<std::string>& paused_types);

  // The text exposition format, after running the scrape hook.
  std::string scrape();

  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct RouteSeries {
    std::string route;
    std::string method;
    prometheus::Histogram* duration;
    std::map<int, prometheus::Counter*> by_status;  // guarded by m_status_mutex
  };
  struct JobSeries {
    prometheus::Counter* processed[3];   // succeeded, failed, canceled
    prometheus::Counter* traced[3][2];   // status x (present, missing)
    prometheus::Histogram* duration;
    prometheus::Counter* retries;
    prometheus::Counter* dead;
    prometheus::Counter* lease_lost;
  };
  JobSeries& job_series(const std::string& type);
  prometheus::Gauge& gauge_for(prometheus::Family<prometheus::Gauge>& family,
                               std::map<std::string, prometheus::Gauge*>& cache, const std::string& type);

  std::string m_service;
  // Fixed at construction, read without a lock.
  std::set<std::string> m_known_types;
  const std::string m_unknown_type = kUnknownJobType;
  std::shared_ptr<prometheus::Registry> m_registry;
  prometheus::Family<prometheus::Counter>& m_http_requests;
  prometheus::Family<prometheus::Histogram>& m_http_duration;
  prometheus::Family<prometheus::Counter>& m_jobs_processed;
  prometheus::Family<prometheus::Histogram>& m_job_duration;
  prometheus::Family<prometheus::Counter>& m_job_retries;
  prometheus::Family<prometheus::Counter>& m_jobs_dead;
  prometheus::Family<prometheus::Counter>& m_jobs_lease_lost;
  prometheus::Family<prometheus::Counter>& m_jobs_trace;
  prometheus::Family<prometheus::Histogram>& m_db_duration;
  prometheus::Family<prometheus::Gauge>& m_queue_depth;
  prometheus::Family<prometheus::Gauge>& m_oldest_ready;
  prometheus::Histogram* m_db_histogram;
  prometheus::Histogram* m_lock_wait;
  prometheus::Counter* m_busy_timeouts;
  std::array<prometheus::Counter*, kUnavailableReasons.size()> m_unavailable{};
  std::array<prometheus::Counter*, kAdminActions.size()> m_admin_actions{};  // api only
  std::array<std::array<prometheus::Counter*, kScheduleTickStatuses.size()>, kScheduleKinds.size()>
      m_schedule_ticks{};  // worker only

  std::vector<std::unique_ptr<RouteSeries>> m_routes;
  std::map<std::pair<std::string, std::string>, std::size_t> m_route_index;
  std::shared_mutex m_status_mutex;
  std::shared_mutex m_jobs_mutex;
  std::map<std::string, std::unique_ptr<JobSeries>> m_jobs;
  std::mutex m_gauge_mutex;
  std::map<std::string, prometheus::Gauge*> m_depth_gauges;
  std::map<std::string, prometheus::Gauge*> m_age_gauges;
  // Queue controls (queue_control_metrics.cpp), under m_gauge_mutex.
  void register_queue_controls(const std::vector<std::string>& labels);
  prometheus::Family<prometheus::Gauge>* m_queue_paused = nullptr;
  std::map<std::string, prometheus::Gauge*> m_paused_gauges;
  std::map<std::string, prometheus::Counter*> m_rate_limited;  // worker only
  std::mutex m_scrape_mutex;
  ScrapeHook m_scrape_hook;
};

}  // namespace pw::observability
