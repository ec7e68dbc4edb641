// Black-box: processes killed on purpose. kill -9 of the API in the middle of
// a storm of enqueuing requests, and of a worker in the middle of its batch;
// SIGTERM of both roles under load. Whatever was acknowledged to a client
// survives, exactly once; retries with the same Idempotency-Key create
// nothing twice; a graceful stop exits 0 and reports not-ready first.
#include <doctest/doctest.h>

#include <signal.h>

#include <set>

#include "e2e/reliability_scene.hpp"

using namespace pw::test;
using namespace pw::test::reliability;

namespace {

// The storms enqueue hundreds of simulations into one world faster than any
// worker runs them: the per-user limits that would refuse that are lifted.
const std::vector<std::string> kStormLimits = {"--max-simulations-per-world", "1000000", "--max-pending-simulations",
                                               "1000000", "--max-events-per-world", "1000000000"};

std::vector<std::string> with_storm_limits(std::vector<std::string> flags) {
  flags.insert(flags.end(), kStormLimits.begin(), kStormLimits.end());
  return flags;
}

// Every simulation completed, and its events were written once: the rows on
// disk match the count its (possibly repeated) job reported.
void require_side_effects_once(const Scene& scene) {
  const auto rows = scene.probe().rows(
      "SELECT s.id, CASE WHEN s.completed_at IS NOT NULL THEN 1 ELSE 0 END, s.event_count, "
      "(SELECT count(*) FROM events e WHERE e.simulation_id = s.id) FROM simulations s",
      4);
  int simulations = 0;
  int with_events = 0;
  for (const auto& row : rows) {
    ++simulations;
    const auto& id = row[0];
    CAPTURE(id);
    CHECK(row[1] == "1");
    CHECK(row[2] == row[3]);
    if (std::stoll(row[3]) > 0) ++with_events;
  }
  CHECK(simulations > 0);
  CHECK(with_events == simulations);  // every world has personas: every run leaves events
}

}  // namespace

TEST_CASE("crash (binary): kill -9 of the API mid-storm loses no acknowledged job, and retries create nothing twice") {
  Scene scene;
  scene.start_api(with_storm_limits({"--http-threads", "4"}));
  INFO(scene.output());
  const auto token = scene.sign_up("storm");
  const auto world = scene.make_world(token, 4);

  // 4 clients enqueue simulations, one Idempotency-Key per logical request.
  SimulationStorm storm(scene, token, world, 4);
  REQUIRE_MESSAGE(eventually([&] { return storm.acknowledged() >= 300; }, 60s), "acknowledged " << storm.acknowledged());
  scene.api().kill();  // SIGKILL while requests are in flight
  CHECK(scene.api().wait_exit(10s) == 128 + SIGKILL);
  storm.stop();
  const auto outcomes = storm.outcomes();
  MESSAGE("before the kill: ", storm.acknowledged(), " acknowledged, ", storm.unanswered(), " unanswered, ",
          storm.refused(), " refused");
  CHECK(storm.refused() == 0);

  // What the crash left: every acknowledged job, once.
  if (!scene.postgres()) CHECK(scene.integrity() == "ok");
  auto jobs = scene.job_ids("world.simulate");
  std::set<std::int64_t> acknowledged_jobs;
  for (const auto& [key, outcome] : outcomes) {
    if (outcome.status != 202) continue;
    CAPTURE(key);
    CHECK(jobs.count(outcome.job_id) == 1);
    CHECK(acknowledged_jobs.insert(outcome.job_id).second);  // two requests never share a job
  }
  CHECK(acknowledged_jobs.size() == static_cast<std::size_t>(storm.acknowledged()));
  // A request cut off by the crash may or may not have committed; nothing else can be there.
  CHECK(jobs.size() <= outcomes.size());

  // The clients retry every request with its key against the restarted API.
  scene.start_api(with_storm_limits({"--http-threads", "4"}));
  std::set<std::int64_t> retried_jobs;
  int replayed = 0;
  for (const auto& [key, outcome] : outcomes) {
    CAPTURE(key);
    auto response = storm.send(key, 30s);
    REQUIRE_MESSAGE(response.status == 202, response.body);
    const auto job_id = json::parse(response.body)["job"]["id"].get<std::int64_t>();
    CHECK(retried_jobs.insert(job_id).second);
    if (outcome.status == 202) {
      // Acknowledged before the crash: the same job again, replayed.
      CHECK(job_id == outcome.job_id);
      CHECK(header_of(response, "Idempotent-Replayed") == "true");
    }
    if (header_of(response, "Idempotent-Replayed") == "true") ++replayed;
  }
  MESSAGE(replayed, " of ", outcomes.size(), " retries were replays");
  // One job and one simulation per logical request, however often it was sent.
  CHECK(scene.job_ids("world.simulate").size() == outcomes.size());
  CHECK(scene.count("SELECT count(*) FROM simulations") == static_cast<std::int64_t>(outcomes.size()));
  CHECK(scene.count("SELECT count(*) FROM idempotency_keys") == static_cast<std::int64_t>(outcomes.size()));

  // A second round of retries changes nothing at all.
  const auto rows_before = scene.count("SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM simulations)");
  for (const auto& [key, outcome] : outcomes) {
    auto response = storm.send(key, 30s);
    CHECK(response.status == 202);
    CHECK(header_of(response, "Idempotent-Replayed") == "true");
  }
  CHECK(scene.count("SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM simulations)") == rows_before);

  // kill -9 of a worker in the middle of its batch: its jobs are run again
  // after the lease, and each simulation's events exist once.
  auto [doomed, doomed_port] = scene.start_worker({"--concurrency", "4", "--lease-ms", "1000"});
  REQUIRE_MESSAGE(eventually(
                      [&] {
                        auto states = scene.job_states();
                        return states["succeeded"] >= 20 && states["running"] > 0;
                      },
                      60s),
                  doomed->output());
  doomed->kill();
  const auto held = scene.count("SELECT count(*) FROM jobs WHERE state = 'running'");
  MESSAGE("the killed worker held ", held, " running jobs; ", scene.job_states()["succeeded"], " had succeeded");
  CHECK(held > 0);
  CHECK(scene.count("SELECT count(*) FROM jobs WHERE state = 'queued'") > 0);  // it died mid-drain

  auto [rescuer, rescuer_port] = scene.start_worker({"--concurrency", "4", "--lease-ms", "1000"});
  REQUIRE_MESSAGE(eventually([&] { return scene.job_states()["succeeded"] == static_cast<std::int64_t>(outcomes.size()); },
                             120s),
                  rescuer->output());
  CHECK(scene.count("SELECT count(*) FROM jobs WHERE attempts >= 2") >= held);
  require_side_effects_once(scene);
  rescuer->signal(SIGTERM);
  CHECK(rescuer->wait_exit(30s) == 0);
  if (!scene.postgres()) CHECK(scene.integrity() == "ok");
}

TEST_CASE("crash (binary): SIGTERM of the API under load: /readyz goes 503 first, in-flight requests finish, exit 0") {
  Scene scene;
  scene.start_api(with_storm_limits({"--http-threads", "4", "--shutdown-delay-ms", "1500", "--shutdown-grace", "20"}));
  INFO(scene.output());
  const auto token = scene.sign_up("graceful");
  const auto world = scene.make_world(token, 2);

  Poller readiness(scene.port(), "/readyz");
  SimulationStorm storm(scene, token, world, 4);
  REQUIRE(eventually([&] { return storm.acknowledged() >= 100; }, 60s));
  const auto signalled = std::chrono::steady_clock::now();
  scene.api().signal(SIGTERM);
  const auto exit_code = scene.api().wait_exit(30s);
  const auto took = std::chrono::steady_clock::now() - signalled;
  REQUIRE_MESSAGE(exit_code.has_value(), "the API did not exit");
  CHECK(*exit_code == 0);
  CHECK(took < 20s);  // within the grace period
  storm.stop();
  readiness.stop();

  // Readiness: ready, then not ready while still answering, then gone.
  const auto seen = transitions(readiness.statuses());
  MESSAGE("/readyz during the stop: ", seen);
  CHECK(seen.rfind("200 503", 0) == 0);
  CHECK(seen.find("503 200") == std::string::npos);
  CHECK(scene.api().wait_for_json("api_stopping", 1s).has_value());
  CHECK(scene.api().wait_for_json("api_stopped", 1s).has_value());

  // Nothing lost: every acknowledged request's job is there; a graceful stop
  // answers every request it took, so nothing unacknowledged is there either.
  auto jobs = scene.job_ids("world.simulate");
  int acknowledged = 0;
  for (const auto& [key, outcome] : storm.outcomes()) {
    if (outcome.status != 202) continue;
    ++acknowledged;
    CAPTURE(key);
    CHECK(jobs.count(outcome.job_id) == 1);
  }
  MESSAGE(acknowledged, " acknowledged, ", storm.unanswered(), " refused at the door, ", storm.refused(), " refused");
  CHECK(storm.refused() == 0);
  CHECK(jobs.size() == static_cast<std::size_t>(acknowledged));
  if (!scene.postgres()) CHECK(scene.integrity() == "ok");
  CHECK(error_events(scene.api()).empty());
}

TEST_CASE("crash (binary): SIGTERM of a worker under load: /readyz goes 503 first, jobs finish or go back, exit 0") {
  Scene scene;
  scene.start_api(with_storm_limits({"--http-threads", "4"}));
  INFO(scene.output());
  const auto token = scene.sign_up("worker_stop");
  const auto world = scene.make_world(token, 4);
  // A job that cannot be interrupted keeps the worker busy for a while after
  // SIGTERM, long enough to see it report not ready.
  auto slow = run(kBinary, {"jobs", "enqueue", scene.flag(), "--type", "sleep", "--payload",
                            R"({"ms":3000,"ignore_stop":true})", "--priority", "-1"});
  REQUIRE_MESSAGE(slow.exit_code == 0, slow.err);

  SimulationStorm storm(scene, token, world, 2);
  auto [worker, worker_port] = scene.start_worker({"--concurrency", "4", "--shutdown-grace-ms", "20000"});
  REQUIRE_MESSAGE(eventually(
                      [&] {
                        return scene.count("SELECT count(*) FROM jobs WHERE type = 'sleep' AND state = 'running'") ==
                                   1 &&
                               scene.job_states()["succeeded"] >= 20;
                      },
                      60s),
                  worker->output());
  Poller readiness(worker_port, "/readyz");
  REQUIRE(eventually([&] { return !readiness.statuses().empty(); }, 10s));
  worker->signal(SIGTERM);
  const auto exit_code = worker->wait_exit(30s);
  REQUIRE_MESSAGE(exit_code.has_value(), "the worker did not exit");
  CHECK(*exit_code == 0);
  readiness.stop();
  const auto seen = transitions(readiness.statuses());
  MESSAGE("worker /readyz during the stop: ", seen);
  CHECK(seen.rfind("200 503", 0) == 0);
  CHECK(seen.find("503 200") == std::string::npos);

  // What it held was finished (the sleep job) or handed back, never left running.
  CHECK(scene.count("SELECT count(*) FROM jobs WHERE state = 'running'") == 0);
  CHECK(scene.count("SELECT count(*) FROM jobs WHERE type = 'sleep' AND state = 'succeeded'") == 1);
  storm.stop();

  // Another worker finishes the rest: every acknowledged job succeeds.
  auto [next, next_port] = scene.start_worker({"--concurrency", "4"});
  const auto outcomes = storm.outcomes();
  REQUIRE(eventually([&] { return scene.count("SELECT count(*) FROM jobs WHERE state <> 'succeeded'") == 0; }, 120s));
  auto jobs = scene.job_ids("world.simulate");
  for (const auto& [key, outcome] : outcomes) {
    if (outcome.status == 202) CHECK(jobs.count(outcome.job_id) == 1);
  }
  require_side_effects_once(scene);
  next->signal(SIGTERM);
  CHECK(next->wait_exit(30s) == 0);
  for (auto* process : {worker.get(), next.get()}) {
    CHECK(error_events(*process).empty());
  }
}
