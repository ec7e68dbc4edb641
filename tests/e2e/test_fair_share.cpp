// Black-box: large writes and deletions in short batches. A simulation's
// 100,000+ events survive a worker killed in the middle of writing them
// (the rerun stores each exactly once), and a deleted world vanishes at once
// and is purged by its world.purge job.
#include <doctest/doctest.h>

#include <string>
#include <tuple>
#include <vector>

#include "domain/random.hpp"
#include "domain/simulation.hpp"
#include "e2e/reliability_scene.hpp"

using pw::test::reliability::Scene;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

using EventRow = std::tuple<int, std::string, std::vector<std::int64_t>, std::string>;

json body_of(const pw::test::HttpResponse& response, int status) {
  REQUIRE_MESSAGE(response.status == status, response.status << " " << response.body);
  return json::parse(response.body);
}

json get_json(const Scene& scene, const std::string& path, const std::string& token) {
  return body_of(scene.get(path, token), 200);
}

// What the simulation must have written: the deterministic run over the
// world's personas of its time, read back from the file.
std::vector<EventRow> expected_events(const Scene& scene, std::uint64_t world_seed, std::int64_t simulation_id) {
  auto database = scene.probe();
  const auto simulation = database.rows("SELECT world_id, number, ticks, persona_bound FROM simulations WHERE id = ?",
                                        4, {std::to_string(simulation_id)});
  REQUIRE(simulation.size() == 1);
  pw::domain::SimulationInput input;
  input.seed = pw::domain::derive_seed(world_seed, std::stoll(simulation[0][1]));
  input.ticks = std::stoi(simulation[0][2]);
  const auto personas = database.rows(
      "SELECT id, name, sociability, generosity, aggression, curiosity, loyalty FROM personas "
      "WHERE world_id = ? AND id <= ? ORDER BY id",
      7, {simulation[0][0], simulation[0][3]});
  for (const auto& row : personas) {
    pw::domain::Persona persona;
    persona.id = std::stoll(row[0]);
    persona.name = row[1];
    persona.traits = {std::stoi(row[2]), std::stoi(row[3]), std::stoi(row[4]), std::stoi(row[5]), std::stoi(row[6])};
    input.personas.push_back(std::move(persona));
  }
  std::vector<EventRow> out;
  for (const auto& event : pw::domain::simulate(input).events) {
    out.emplace_back(event.tick, event.kind, event.actors, event.text);
  }
  return out;
}

std::vector<EventRow> stored_events(const Scene& scene, std::int64_t simulation_id) {
  const auto rows = scene.probe().rows("SELECT tick, kind, actors, text FROM events WHERE simulation_id = ? ORDER BY id",
                                       4, {std::to_string(simulation_id)});
  std::vector<EventRow> out;
  for (const auto& row : rows) {
    std::vector<std::int64_t> actors;
    for (const auto& actor : json::parse(row[2])) actors.push_back(actor.get<std::int64_t>());
    out.emplace_back(std::stoi(row[0]), row[1], std::move(actors), row[3]);
  }
  return out;
}

}  // namespace

TEST_CASE("fair share (binary): a 10,000-tick simulation killed mid-write is rerun to exactly its events, once each") {
  Scene scene;
  scene.start_api();
  auto [first_worker, first_port] = scene.start_worker({"--lease-ms", "2000", "--concurrency", "1"});
  auto token = scene.sign_up("alice");
  auto world = body_of(scene.post("/v1/worlds", {{"name", "Large"}, {"seed", 11}}, token), 201);
  const auto world_id = world["id"].get<std::int64_t>();
  const std::string base = "/v1/worlds/" + std::to_string(world_id);
  for (int i = 0; i < 2; ++i) body_of(scene.post(base + "/personas:generate", {{"count", 100}}, token), 202);
  REQUIRE(pw::test::eventually([&] { return get_json(scene, base, token)["persona_count"] == 200; }, 60s));

  auto accepted = body_of(scene.post(base + "/simulations", {{"ticks", 10000}}, token), 202);
  const auto simulation_id = accepted["simulation"]["id"].get<std::int64_t>();
  const auto job_id = accepted["job"]["id"].get<std::int64_t>();
  const std::string written_sql = "SELECT events_written FROM simulations WHERE id = " + std::to_string(simulation_id);

  // Killed as soon as the first batch is in: the rest is yet to be written.
  REQUIRE(pw::test::eventually([&] { return scene.count(written_sql) > 0; }, 120s));
  first_worker->kill();
  const auto written_at_kill = scene.count(written_sql);
  const std::string stored_sql = "SELECT count(*) FROM events WHERE simulation_id = " + std::to_string(simulation_id);
  CHECK(scene.count(stored_sql) == written_at_kill);
  REQUIRE_MESSAGE(scene.count("SELECT count(*) FROM simulations WHERE completed_at IS NULL AND id = " +
                              std::to_string(simulation_id)) == 1,
                  "the worker was killed after the last batch; the test proves nothing");
  const auto expected = expected_events(scene, 11, simulation_id);
  REQUIRE(expected.size() > 100000);
  CHECK(written_at_kill < static_cast<std::int64_t>(expected.size()));

  // Another worker reclaims the job once the lease lapses and finishes it.
  auto [second_worker, second_port] = scene.start_worker();
  json simulation;
  REQUIRE(pw::test::eventually(
      [&] {
        simulation = get_json(scene, base + "/simulations/" + std::to_string(simulation_id), token);
        return simulation["state"] == "completed";
      },
      180s));
  CHECK(simulation["event_count"] == expected.size());
  const auto stored = stored_events(scene, simulation_id);
  CHECK(stored.size() == expected.size());
  CHECK(stored == expected);
  auto job = get_json(scene, "/v1/jobs/" + std::to_string(job_id), token);
  CHECK(job["state"] == "succeeded");
  CHECK(job["attempts"].get<int>() >= 2);
  CHECK(job["result"]["events"] == expected.size());

  // Deleted: gone from every route at once, purged in batches afterwards.
  auto deleted = pw::test::http_request("DELETE", scene.port(), base, {}, {}, {{"Authorization", "Bearer " + token}});
  REQUIRE(deleted.status == 204);
  CHECK(scene.get(base, token).status == 404);
  CHECK(scene.get(base + "/events", token).status == 404);
  CHECK(scene.get(base + "/simulations/" + std::to_string(simulation_id), token).status == 404);
  const std::string world_rows =
      "SELECT (SELECT count(*) FROM events WHERE world_id = ?1) + (SELECT count(*) FROM simulations WHERE world_id = "
      "?1) + (SELECT count(*) FROM personas WHERE world_id = ?1) + (SELECT count(*) FROM persona_generations WHERE "
      "world_id = ?1) + (SELECT count(*) FROM worlds WHERE id = ?1)";
  auto rows_left = [&] { return scene.probe().scalar(world_rows, {std::to_string(world_id)}); };
  REQUIRE(pw::test::eventually([&] { return rows_left() == 0; }, 120s));
  // The purge job's success is recorded after its last batch commits.
  CHECK(pw::test::eventually(
      [&] { return scene.count("SELECT count(*) FROM jobs WHERE type = 'world.purge' AND state = 'succeeded'") == 1; },
      60s));
  CHECK(scene.count("SELECT count(*) FROM jobs WHERE type = 'world.purge'") == 1);
}
