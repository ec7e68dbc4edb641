// Black-box: `jobs pause|resume|rate-limit` against two real worker
// processes on one database (SQLite, or PostgreSQL under
// PW_TEST_DRIVER=postgres). What ran when is read from the jobs' own
// started_at (the claim's time, written by the claiming transaction), never
// from this runner's clock alone.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "support/process.hpp"
#include "support/test_database.hpp"

using pw::test::Process;
using pw::test::RunResult;
using namespace std::chrono_literals;

namespace {

const std::string kBinary = PW_BINARY;

struct Scene {
  pw::test::TestDatabase database{false};

  Scene() {
    auto migrated = pw::test::run(kBinary, {"migrate", database.flag()});
    REQUIRE_MESSAGE(migrated.exit_code == 0, migrated.err);
  }

  RunResult jobs(std::vector<std::string> args) {
    args.insert(args.begin(), "jobs");
    args.push_back(database.flag());
    return pw::test::run(kBinary, args);
  }

  void ok(std::vector<std::string> args) {
    auto result = jobs(std::move(args));
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
  }

  void enqueue(const std::string& type, const std::string& payload, int count) {
    ok({"enqueue", "--type", type, "--payload", payload, "--count", std::to_string(count)});
  }

  std::unique_ptr<Process> worker(std::vector<std::string> args = {}) {
    std::vector<std::string> all = {"worker", database.flag(), "--observability-port", "0", "--observability-host",
                                    "127.0.0.1"};
    all.insert(all.end(), args.begin(), args.end());
    return std::make_unique<Process>(kBinary, all);
  }

  std::int64_t count(const std::string& type, const std::string& state) {
    pw::test::DatabaseProbe probe(database.config);
    return probe.scalar("SELECT count(*) FROM jobs WHERE type = ? AND state = ?", {type, state});
  }
};

int port_of(Process& worker) {
  auto started = worker.wait_for_json("worker_started", 30s);
  REQUIRE_MESSAGE(started.has_value(), worker.output());
  const auto& port = (*started)["observability_port"];
  return port.is_string() ? std::stoi(port.get<std::string>()) : port.get<int>();
}

double metric(int port, const std::string& series) {
  auto metrics = pw::test::http_get(port, "/metrics");
  REQUIRE(metrics.status == 200);
  return pw::test::metric_value(metrics.body, series).value_or(-1);
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void stop(Process& worker) {
  worker.signal(SIGTERM);
  CHECK(worker.wait_exit(30s) == 0);
  CHECK_FALSE(worker.any_line_contains("\"level\":\"error\""));
}

}  // namespace

TEST_CASE("queue controls (binary): jobs pause with two workers running: nothing of the type starts while paused, running ones finish, all run once after resume") {
  Scene scene;
  scene.enqueue("sleep", R"({"ms":40})", 400);
  auto first = scene.worker({"--concurrency", "4"});
  auto second = scene.worker({"--concurrency", "4"});
  const int first_port = port_of(*first);
  const int second_port = port_of(*second);
  REQUIRE(pw::test::eventually([&] { return scene.count("sleep", "succeeded") >= 40; }, 30s));

  scene.ok({"pause", "sleep"});
  const std::int64_t paused_by = wall_ms();
  // Running ones finish; none starts.
  REQUIRE(pw::test::eventually([&] { return scene.count("sleep", "running") == 0; }, 10s));
  const std::int64_t done_before = scene.count("sleep", "succeeded");
  CHECK(done_before < 400);
  // Other types still run: their commits wake both workers, whose claims
  // pass the paused type over.
  scene.enqueue("noop", "{}", 50);
  REQUIRE(pw::test::eventually([&] { return scene.count("noop", "succeeded") == 50; }, 20s));
  std::this_thread::sleep_for(1s);
  scene.enqueue("noop", "{}", 50);
  REQUIRE(pw::test::eventually([&] { return scene.count("noop", "succeeded") == 100; }, 20s));
  CHECK(scene.count("sleep", "succeeded") == done_before);
  CHECK(scene.count("sleep", "queued") == 400 - done_before);
  {
    pw::test::DatabaseProbe probe(scene.database.config);
    CHECK(probe.scalar("SELECT count(*) FROM jobs WHERE type = 'sleep' AND started_at > ?",
                       {std::to_string(paused_by)}) == 0);
  }
  CHECK(metric(first_port, R"(queue_paused{type="sleep"})") == 1);
  CHECK(metric(second_port, R"(queue_paused{type="sleep"})") == 1);
  CHECK(metric(first_port, R"(queue_paused{type="noop"})") == 0);
  auto listed = scene.jobs({"controls", "--json"});
  REQUIRE(listed.exit_code == 0);
  auto controls = nlohmann::json::parse(listed.out);
  REQUIRE(controls.size() == 1);
  CHECK(controls[0]["type"] == "sleep");
  CHECK(controls[0]["paused"] == true);

  scene.ok({"resume", "sleep"});
  const std::int64_t resumed_at = wall_ms();
  REQUIRE(pw::test::eventually([&] { return scene.count("sleep", "succeeded") == 400; }, 30s));
  {
    // Nothing lost, nothing run twice: every job succeeded on its first attempt.
    pw::test::DatabaseProbe probe(scene.database.config);
    CHECK(probe.scalar("SELECT count(*) FROM jobs WHERE state <> 'succeeded' OR attempts <> 1") == 0);
    CHECK(probe.scalar("SELECT count(*) FROM jobs WHERE type = 'sleep' AND started_at >= ?",
                       {std::to_string(resumed_at - 1000)}) == 400 - done_before);
  }
  CHECK(metric(first_port, R"(queue_paused{type="sleep"})") == 0);
  stop(*first);
  stop(*second);
}

TEST_CASE("queue controls (binary): two workers under jobs rate-limit noop 50 start 45 to 55 noop jobs per second over 10 s") {
  Scene scene;
  scene.ok({"rate-limit", "noop", "50"});
  scene.enqueue("noop", "{}", 800);
  auto first = scene.worker();
  auto second = scene.worker();
  const int first_port = port_of(*first);
  const int second_port = port_of(*second);
  // 560 started: the first 10 s after the first claim are behind us.
  REQUIRE(pw::test::eventually([&] { return scene.count("noop", "succeeded") >= 560; }, 40s));

  pw::test::DatabaseProbe probe(scene.database.config);
  const std::int64_t t0 = probe.scalar("SELECT min(started_at) FROM jobs WHERE type = 'noop'");
  const std::int64_t started =
      probe.scalar("SELECT count(*) FROM jobs WHERE type = 'noop' AND started_at >= ? AND started_at < ?",
                   {std::to_string(t0), std::to_string(t0 + 10000)});
  const std::int64_t finished =
      probe.scalar("SELECT count(*) FROM jobs WHERE type = 'noop' AND finished_at >= ? AND finished_at < ?",
                   {std::to_string(t0), std::to_string(t0 + 10000)});
  MESSAGE("started in the first 10 s: " << started << ", finished: " << finished);
  CHECK(started >= 450);
  CHECK(started <= 550);
  CHECK(finished >= 450);
  CHECK(finished <= 550);
  // Both workers took part, and the limit held both back.
  CHECK(probe.scalar("SELECT count(DISTINCT lease_owner) FROM jobs WHERE type = 'noop' AND state = 'succeeded'") == 2);
  CHECK(metric(first_port, R"(jobs_rate_limited_total{type="noop"})") + metric(second_port, R"(jobs_rate_limited_total{type="noop"})") > 0);

  scene.ok({"rate-limit", "noop", "off"});
  REQUIRE(pw::test::eventually([&] { return scene.count("noop", "succeeded") == 800; }, 30s));
  stop(*first);
  stop(*second);
}

TEST_CASE("queue controls (binary): the operator API pauses, resumes and rate-limits a type, audited, and the overview lists the paused types") {
  Scene scene;
  std::vector<std::string> args{"api", scene.database.flag(), "--host", "127.0.0.1", "--port", "0",
                                "--shutdown-delay-ms", "0"};
  Process api(kBinary, args);
  auto started = api.wait_for_json("api_started", 60s);
  REQUIRE_MESSAGE(started, api.output());
  const int port = (*started)["port"].get<int>();
  auto made = pw::test::run(kBinary, {"admin", "token", "create", "--name", "ops", scene.database.flag()});
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  const std::string token = made.out.substr(0, made.out.find('\n'));
  auto call = [&](const std::string& method, const std::string& path, const std::string& body = {},
                  const std::string& bearer = "use") {
    std::multimap<std::string, std::string> headers;
    if (!bearer.empty()) headers.emplace("Authorization", "Bearer " + token);
    return pw::test::http_request(method, port, path, body, "application/json", headers);
  };

  CHECK(call("POST", "/admin/v1/types/webhook.deliver/pause", "", "").status == 401);
  auto paused = call("POST", "/admin/v1/types/webhook.deliver/pause");
  REQUIRE_MESSAGE(paused.status == 200, paused.body);
  auto control = nlohmann::json::parse(paused.body);
  CHECK(control["type"] == "webhook.deliver");
  CHECK(control["paused"] == true);
  CHECK(control["rate_per_second"].is_null());
  auto limited = call("POST", "/admin/v1/types/noop/rate-limit", R"({"rate_per_second": 12.5})");
  REQUIRE_MESSAGE(limited.status == 200, limited.body);
  CHECK(nlohmann::json::parse(limited.body)["rate_per_second"] == 12.5);
  CHECK(call("POST", "/admin/v1/types/noop/rate-limit", R"({"rate_per_second": -1})").status == 400);
  CHECK(call("POST", "/admin/v1/types/noop/rate-limit", R"({"rate_per_second": "fast"})").status == 400);
  CHECK(call("POST", "/admin/v1/types/noop/rate-limit", R"({"rate": 5})").status == 400);

  auto overview = call("GET", "/admin/v1/overview");
  REQUIRE(overview.status == 200);
  CHECK(nlohmann::json::parse(overview.body)["paused_types"] == nlohmann::json::array({"webhook.deliver"}));
  auto controls = call("GET", "/admin/v1/controls");
  REQUIRE(controls.status == 200);
  CHECK(nlohmann::json::parse(controls.body)["controls"].size() == 2);
  // The command line sees what the API set, and the API's gauges too.
  auto listed = scene.jobs({"controls", "--json"});
  REQUIRE(listed.exit_code == 0);
  auto rows = nlohmann::json::parse(listed.out);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0]["type"] == "noop");
  CHECK(rows[0]["rate_per_second"] == 12.5);
  CHECK(rows[1]["type"] == "webhook.deliver");
  CHECK(metric(port, R"(queue_paused{type="webhook.deliver"})") == 1);
  CHECK(metric(port, R"(admin_actions_total{action="pause"})") == 1);
  CHECK(metric(port, R"(admin_actions_total{action="rate_limit"})") == 1);

  REQUIRE(call("POST", "/admin/v1/types/webhook.deliver/resume").status == 200);
  REQUIRE(call("POST", "/admin/v1/types/noop/rate-limit", R"({"rate_per_second": null})").status == 200);
  CHECK(nlohmann::json::parse(call("GET", "/admin/v1/overview").body)["paused_types"] == nlohmann::json::array());
  CHECK(nlohmann::json::parse(call("GET", "/admin/v1/controls").body)["controls"].empty());
  CHECK(metric(port, R"(queue_paused{type="webhook.deliver"})") == 0);
  CHECK(api.any_line_contains("\"action\":\"resume\""));
  api.signal(SIGTERM);
  CHECK(api.wait_exit(30s) == 0);
}
