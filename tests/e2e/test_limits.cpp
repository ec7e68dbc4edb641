// Black-box: the per-user limits, the persona cap with pending generations,
// and repeated JSON members, against the real `api` binary as a client sees
// them (no worker runs, so every accepted job stays pending).
#include <doctest/doctest.h>

#include "e2e/reliability_scene.hpp"

using pw::test::HttpResponse;
using pw::test::reliability::Scene;
using pw::test::reliability::is_json_error;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string code_of(const HttpResponse& response) {
  auto body = json::parse(response.body, nullptr, false);
  if (!body.is_object() || !body.contains("error")) return {};
  return body["error"].value("code", "");
}

std::string world_path(const HttpResponse& created) {
  REQUIRE_MESSAGE(created.status == 201, created.body);
  return "/v1/worlds/" + std::to_string(json::parse(created.body)["id"].get<std::int64_t>());
}

// Checks a refusal: status, stable code, JSON error body.
void refused(const HttpResponse& response, int status, const std::string& code) {
  CHECK_MESSAGE(response.status == status, response.body);
  CHECK(code_of(response) == code);
  CHECK(is_json_error(response));
}

}  // namespace

TEST_CASE("limits (binary): each per-user limit set by flag is refused with its status and stable code") {
  Scene scene;
  scene.start_api({"--max-worlds-per-user", "3", "--max-simulations-per-world", "2", "--max-events-per-world",
                   "500", "--max-simulation-work", "1000", "--max-pending-simulations", "3"});
  auto token = scene.sign_up("alice");

  // Worlds per user: 409 too_many_worlds.
  const auto work_world = world_path(scene.post("/v1/worlds", {{"name", "work"}}, token));
  const auto count_world = world_path(scene.post("/v1/worlds", {{"name", "count"}}, token));
  const auto events_world = world_path(scene.post("/v1/worlds", {{"name", "events"}}, token));
  refused(scene.post("/v1/worlds", {{"name", "fourth"}}, token), 409, "too_many_worlds");

  // Work per simulation (ticks x personas): 422 simulation_too_large.
  for (const auto& base : {work_world, events_world}) {
    for (int i = 0; i < 10; ++i) {
      auto persona = scene.post(base + "/personas", {{"name", "p" + std::to_string(i)}}, token);
      REQUIRE_MESSAGE(persona.status == 201, persona.body);
    }
  }
  refused(scene.post(work_world + "/simulations", {{"ticks", 101}}, token), 422, "simulation_too_large");

  // Events per world, counting what pending simulations may still write:
  // 10 personas act at most 5 times a tick, so 100 ticks reserve 500.
  REQUIRE(scene.post(events_world + "/simulations", {{"ticks", 100}}, token).status == 202);
  refused(scene.post(events_world + "/simulations", {{"ticks", 1}}, token), 409, "too_many_events");

  // Simulations per world: 409 too_many_simulations (no personas: no events).
  REQUIRE(scene.post(count_world + "/simulations", {{"ticks", 5}}, token).status == 202);
  REQUIRE(scene.post(count_world + "/simulations", {{"ticks", 5}}, token).status == 202);
  refused(scene.post(count_world + "/simulations", {{"ticks", 5}}, token), 409, "too_many_simulations");

  // Three simulations pending (no worker runs them): 429, with Retry-After,
  // for a world that has room.
  auto pending = scene.post(work_world + "/simulations", {{"ticks", 1}}, token);
  refused(pending, 429, "too_many_pending_simulations");
  CHECK(pw::test::header_of(pending, "Retry-After") == "5");

  // Deleting a world makes room for another.
  CHECK(pw::test::http_request("DELETE", scene.port(), events_world, {}, {},
                               {{"Authorization", "Bearer " + token}}).status == 204);
  CHECK(scene.post("/v1/worlds", {{"name", "fourth"}}, token).status == 201);

  // Every refusal left nothing behind: 3 accepted simulations, 3 live worlds.
  CHECK(scene.count("SELECT count(*) FROM simulations") == 3);
  CHECK(scene.count("SELECT count(*) FROM worlds WHERE deleted_at IS NULL") == 3);
}

TEST_CASE("limits (binary): the default limits are in force and a bad limit setting is refused at start") {
  Scene scene;
  scene.start_api();
  auto token = scene.sign_up("alice");
  const auto base = world_path(scene.post("/v1/worlds", {{"name", "w"}}, token));
  for (int i = 1; i < 100; ++i) REQUIRE(scene.post("/v1/worlds", {{"name", "w"}}, token).status == 201);
  refused(scene.post("/v1/worlds", {{"name", "w"}}, token), 409, "too_many_worlds");
  for (int i = 0; i < 10; ++i) REQUIRE(scene.post(base + "/simulations", {{"ticks", 1}}, token).status == 202);
  refused(scene.post(base + "/simulations", {{"ticks", 1}}, token), 429, "too_many_pending_simulations");

  auto bad = pw::test::run(pw::test::reliability::kBinary,
                           {"api", scene.flag(), "--max-simulation-work", "10000001"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--max-simulation-work / MAX_SIMULATION_WORK") != std::string::npos);
  auto zero = pw::test::run(pw::test::reliability::kBinary, {"api", scene.flag()},
                            {{"MAX_WORLDS_PER_USER", "0"}});
  CHECK(zero.exit_code == 2);
  CHECK(zero.err.find("MAX_WORLDS_PER_USER") != std::string::npos);
}

TEST_CASE("limits (binary): generate requests past the persona cap are 409 world_full up front, pending ones counted") {
  Scene scene;
  scene.start_api();
  auto token = scene.sign_up("alice");
  const auto base = world_path(scene.post("/v1/worlds", {{"name", "full"}}, token));
  for (int i = 0; i < 10; ++i) {
    auto accepted = scene.post(base + "/personas:generate", {{"count", 100}}, token);
    REQUIRE_MESSAGE(accepted.status == 202, accepted.body);
  }
  refused(scene.post(base + "/personas:generate", {{"count", 1}}, token), 409, "world_full");
  refused(scene.post(base + "/personas", {{"name", "late"}}, token), 409, "world_full");
  CHECK(scene.count("SELECT count(*) FROM jobs WHERE type = 'persona.generate'") == 10);

  // An operator cancels one: its room is free again.
  auto listed = pw::test::run(pw::test::reliability::kBinary,
                              {"jobs", "list", scene.flag(), "--type", "persona.generate", "--json"});
  REQUIRE(listed.exit_code == 0);
  const auto first = json::parse(listed.out).at(0)["id"].get<std::int64_t>();
  auto canceled = pw::test::run(pw::test::reliability::kBinary,
                                {"jobs", "cancel", std::to_string(first), scene.flag()});
  REQUIRE_MESSAGE(canceled.exit_code == 0, canceled.err);
  CHECK(scene.post(base + "/personas:generate", {{"count", 100}}, token).status == 202);
  refused(scene.post(base + "/personas:generate", {{"count", 1}}, token), 409, "world_full");
}

TEST_CASE("limits (binary): a request body that repeats a member is 400 naming it, at any depth, and creates nothing") {
  Scene scene;
  scene.start_api();
  auto token = scene.sign_up("alice");
  const auto base = world_path(scene.post("/v1/worlds", {{"name", "w"}}, token));
  const std::multimap<std::string, std::string> auth{{"Authorization", "Bearer " + token}};
  struct Row {
    std::string path;
    std::string body;
    std::string field;
  };
  const std::vector<Row> rows = {
      {base + "/personas", R"({"name":"Ana","traits":{"loyalty":200,"loyalty":2}})", "traits.loyalty"},
      {base + "/personas", R"({"name":"Ana","name":"Bo"})", "name"},
      {base + "/simulations", R"({"ticks":10000,"ticks":1})", "ticks"},
      {base + "/personas:generate", R"({"count":1,"co\u0075nt":100})", "count"},
      {"/v1/worlds", R"({"name":"x","seed":1,"seed":2})", "seed"},
      {"/v1/users", R"({"handle":"abc","handle":"abd"})", "handle"},
  };
  const auto before = scene.count("SELECT (SELECT count(*) FROM personas) + (SELECT count(*) FROM simulations) + "
                                  "(SELECT count(*) FROM jobs) + (SELECT count(*) FROM worlds) + "
                                  "(SELECT count(*) FROM users)");
  for (const auto& row : rows) {
    CAPTURE(row.body);
    auto response = pw::test::http_request("POST", scene.port(), row.path, row.body, "application/json", auth);
    refused(response, 400, "invalid_request");
    CHECK(json::parse(response.body)["error"]["message"].get<std::string>().find(row.field + ": ") !=
          std::string::npos);
  }
  CHECK(scene.count("SELECT (SELECT count(*) FROM personas) + (SELECT count(*) FROM simulations) + "
                    "(SELECT count(*) FROM jobs) + (SELECT count(*) FROM worlds) + (SELECT count(*) FROM users)") ==
        before);
}
