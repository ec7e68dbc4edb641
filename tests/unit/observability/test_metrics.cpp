#include <doctest/doctest.h>

#include <map>

#include "observability/metrics.hpp"

using pw::observability::Metrics;

namespace {
bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }
}  // namespace

TEST_CASE("metrics: known routes and job types exist at zero before any traffic") {
  Metrics metrics("worker", {"noop", "world.simulate"});
  metrics.add_route("/v1/worlds/{id}", "GET");
  auto text = metrics.scrape();
  CHECK(has(text, "http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/worlds/{id}\",le=\"0.5\"} 0"));
  CHECK(has(text, "jobs_processed_total{status=\"failed\",type=\"world.simulate\"} 0"));
  CHECK(has(text, "jobs_processed_total{status=\"canceled\",type=\"world.simulate\"} 0"));
  CHECK(has(text, "jobs_trace_total{status=\"succeeded\",trace=\"missing\",type=\"noop\"} 0"));
  CHECK(has(text, "job_retries_total{type=\"noop\"} 0"));
  CHECK(has(text, "queue_depth{type=\"noop\"} 0"));
  CHECK(has(text, "# HELP db_query_duration_seconds"));
  CHECK(has(text, "personaworlds_build_info{service=\"worker\""));
}

TEST_CASE("metrics: every status the server answers exists at zero for every route before any traffic") {
  Metrics metrics("api", {});
  metrics.add_route("/v1/worlds/{id}", "DELETE");
  auto text = metrics.scrape();
  for (const char* status : {"200", "201", "202", "204", "400", "401", "404", "405", "409", "413", "415", "422",
                             "429", "431", "500", "503"}) {
    CAPTURE(status);
    CHECK(has(text, std::string("http_requests_total{method=\"DELETE\",route=\"/v1/worlds/{id}\",status=\"") +
                        status + "\"} 0"));
    // Refusals before routing are counted under `unmatched`, any method.
    CHECK(has(text, std::string("http_requests_total{method=\"OTHER\",route=\"unmatched\",status=\"") + status +
                        "\"} 0"));
  }
}

TEST_CASE("metrics: requests are counted by route template, method and status") {
  Metrics metrics("api", {});
  auto handle = metrics.add_route("/v1/worlds/{id}", "GET");
  metrics.observe_request(handle, 200, 0.01);
  metrics.observe_request(handle, 200, 0.02);
  metrics.observe_request(handle, 404, 0.7);
  metrics.observe_request(metrics.unmatched("BREW"), 404, 0.001);
  auto text = metrics.scrape();
  CHECK(has(text, "http_requests_total{method=\"GET\",route=\"/v1/worlds/{id}\",status=\"200\"} 2"));
  CHECK(has(text, "http_requests_total{method=\"GET\",route=\"/v1/worlds/{id}\",status=\"404\"} 1"));
  CHECK(has(text, "http_requests_total{method=\"OTHER\",route=\"unmatched\",status=\"404\"} 1"));
  CHECK(has(text, "http_request_duration_seconds_count{method=\"GET\",route=\"/v1/worlds/{id}\"} 3"));
  CHECK_FALSE(has(text, "BREW"));
}

TEST_CASE("metrics: job outcomes, trace state, retries, dead jobs and lost leases") {
  Metrics metrics("worker", {"noop"});
  metrics.observe_job("noop", Metrics::JobStatus::succeeded, true, 0.001);
  metrics.observe_job("noop", Metrics::JobStatus::failed, false, 0.002);
  metrics.count_retry("noop");
  metrics.count_dead("noop");
  metrics.count_lease_lost("noop");
  metrics.count_lease_lost("noop");
  auto text = metrics.scrape();
  CHECK(has(text, "jobs_processed_total{status=\"succeeded\",type=\"noop\"} 1"));
  CHECK(has(text, "jobs_processed_total{status=\"failed\",type=\"noop\"} 1"));
  CHECK(has(text, "jobs_trace_total{status=\"succeeded\",trace=\"present\",type=\"noop\"} 1"));
  CHECK(has(text, "jobs_trace_total{status=\"failed\",trace=\"missing\",type=\"noop\"} 1"));
  CHECK(has(text, "job_retries_total{type=\"noop\"} 1"));
  CHECK(has(text, "jobs_dead_total{type=\"noop\"} 1"));
  CHECK(has(text, "jobs_lease_lost_total{type=\"noop\"} 2"));
  CHECK(has(text, "job_duration_seconds_count{type=\"noop\"} 2"));
}

TEST_CASE("metrics: the scrape hook refreshes queue gauges, and absent types drop to zero") {
  Metrics metrics("worker", {"noop", "other"});
  int calls = 0;
  metrics.set_scrape_hook([&](Metrics& m) {
    ++calls;
    if (calls == 1) {
      m.set_queue_depth({{"noop", 5}, {"other", 2}});
    } else {
      m.set_queue_depth({{"noop", 1}});
    }
  });
  CHECK(has(metrics.scrape(), "queue_depth{type=\"noop\"} 5"));
  auto second = metrics.scrape();
  CHECK(has(second, "queue_depth{type=\"noop\"} 1"));
  CHECK(has(second, "queue_depth{type=\"other\"} 0"));
}

namespace {
// Lines of the exposition that are samples (not HELP/TYPE comments).
std::size_t sample_count(const std::string& text) {
  std::size_t samples = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start && text[start] != '#') ++samples;
    start = end + 1;
  }
  return samples;
}
}  // namespace

TEST_CASE("metrics: job types from data map to a bounded set of labels: unknown exists from the start") {
  Metrics metrics("worker", {"noop", "world.simulate"});
  const auto before = metrics.scrape();
  CHECK(has(before, "jobs_processed_total{status=\"failed\",type=\"unknown\"} 0"));
  CHECK(has(before, "jobs_dead_total{type=\"unknown\"} 0"));
  CHECK(has(before, "jobs_lease_lost_total{type=\"unknown\"} 0"));
  CHECK(has(before, "queue_depth{type=\"unknown\"} 0"));
  CHECK(has(before, "job_oldest_ready_age_seconds{type=\"unknown\"} 0"));

  CHECK(metrics.job_type_label("noop") == "noop");
  CHECK(metrics.job_type_label("noop ") == "unknown");
  CHECK(metrics.job_type_label("") == "unknown");
  CHECK(metrics.job_type_label("bad\xff\xfe") == "unknown");

  // 200 distinct types, and one that is not UTF-8, through every entry point.
  std::map<std::string, std::int64_t> depth;
  std::map<std::string, double> age;
  for (int i = 0; i < 200; ++i) {
    const std::string type = "typo-" + std::to_string(i * 7919);
    metrics.observe_job(type, Metrics::JobStatus::failed, false, 0.001);
    metrics.count_retry(type);
    depth[type] = 1;
    age[type] = i;
  }
  const std::string hostile = "x\xff\"}\n# y";
  metrics.observe_job(hostile, Metrics::JobStatus::succeeded, true, 0.001);
  metrics.count_dead(hostile);
  metrics.count_lease_lost(hostile);
  depth[hostile] = 5;
  depth["noop"] = 3;
  metrics.set_queue_depth(depth);
  metrics.set_oldest_ready_age(age);

  const auto after = metrics.scrape();
  CHECK(sample_count(after) == sample_count(before));
  CHECK_FALSE(has(after, "typo-"));
  CHECK_FALSE(has(after, "\xff"));
  CHECK(has(after, "jobs_processed_total{status=\"failed\",type=\"unknown\"} 200"));
  CHECK(has(after, "jobs_processed_total{status=\"succeeded\",type=\"unknown\"} 1"));
  CHECK(has(after, "job_retries_total{type=\"unknown\"} 200"));
  CHECK(has(after, "jobs_dead_total{type=\"unknown\"} 1"));
  CHECK(has(after, "jobs_lease_lost_total{type=\"unknown\"} 1"));
  // Depths of unknown types add up; the oldest age wins.
  CHECK(has(after, "queue_depth{type=\"unknown\"} 205"));
  CHECK(has(after, "queue_depth{type=\"noop\"} 3"));
  CHECK(has(after, "job_oldest_ready_age_seconds{type=\"unknown\"} 199"));
}

TEST_CASE("metrics: the api role exports the backlog gauges at zero from the start") {
  Metrics metrics("api", {"noop"});
  auto text = metrics.scrape();
  CHECK(has(text, "queue_depth{type=\"noop\"} 0"));
  CHECK(has(text, "queue_depth{type=\"unknown\"} 0"));
  CHECK(has(text, "job_oldest_ready_age_seconds{type=\"noop\"} 0"));
  CHECK(has(text, "job_oldest_ready_age_seconds{type=\"unknown\"} 0"));
}

TEST_CASE("metrics: the api role maps queue gauges the same way and exports no job series") {
  Metrics metrics("api", {"noop"});
  metrics.set_queue_depth({{"noop", 1}, {"made\xffup", 2}, {"other", 3}});
  auto text = metrics.scrape();
  CHECK(has(text, "queue_depth{type=\"unknown\"} 5"));
  CHECK(has(text, "queue_depth{type=\"noop\"} 1"));
  CHECK_FALSE(has(text, "made"));
  CHECK_FALSE(has(text, "jobs_processed_total{"));
}

TEST_CASE("metrics: lock waits, busy time-outs and database-unavailable reasons, bounded") {
  Metrics metrics("api", {});
  const auto before = metrics.scrape();
  CHECK(has(before, "db_lock_wait_seconds_count 0"));
  CHECK(has(before, "db_busy_timeouts_total 0"));
  for (const char* reason : Metrics::kUnavailableReasons) {
    CAPTURE(reason);
    CHECK(has(before, std::string("db_unavailable_total{reason=\"") + reason + "\"} 0"));
  }
  metrics.observe_lock_wait(0.0002, true);
  metrics.observe_lock_wait(3.0, false);
  metrics.count_database_unavailable("busy");
  metrics.count_database_unavailable("no such reason");
  const auto after = metrics.scrape();
  CHECK(has(after, "db_lock_wait_seconds_count 2"));
  CHECK(has(after, "db_lock_wait_seconds_bucket{le=\"0.001\"} 1"));
  CHECK(has(after, "db_lock_wait_seconds_bucket{le=\"2.5\"} 1"));
  CHECK(has(after, "db_lock_wait_seconds_bucket{le=\"5\"} 2"));
  CHECK(has(after, "db_busy_timeouts_total 1"));
  CHECK(has(after, "db_unavailable_total{reason=\"busy\"} 1"));
  CHECK(has(after, "db_unavailable_total{reason=\"other\"} 1"));
  CHECK_FALSE(has(after, "no such reason"));
}

TEST_CASE("metrics: admin actions are counted by a bounded action label, on the api role only") {
  Metrics metrics("api", {"noop"});
  const auto before = metrics.scrape();
  for (const char* action : Metrics::kAdminActions) {
    CAPTURE(action);
    CHECK(has(before, std::string("admin_actions_total{action=\"") + action + "\"} 0"));
  }
  metrics.count_admin_action("bulk_cancel");
  metrics.count_admin_action("retry");
  metrics.count_admin_action("drop_table");
  const auto after = metrics.scrape();
  CHECK(has(after, "admin_actions_total{action=\"bulk_cancel\"} 1"));
  CHECK(has(after, "admin_actions_total{action=\"retry\"} 1"));
  CHECK(has(after, "admin_actions_total{action=\"delete\"} 0"));
  CHECK_FALSE(has(after, "drop_table"));

  Metrics worker("worker", {"noop"});
  worker.count_admin_action("retry");
  CHECK_FALSE(has(worker.scrape(), "admin_actions_total"));
}
