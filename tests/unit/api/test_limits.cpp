// The per-user limits and the persona cap, through the real routes: each
// refusal has its status and stable code, and work accepted but not yet done
// counts only while its job can still run.
#include <doctest/doctest.h>

#include "queue/job_queue.hpp"
#include "unit/api/api_fixture.hpp"

using namespace pw;
using nlohmann::json;

namespace {

config::ApiConfig with_limits(const domain::Limits& limits) {
  config::ApiConfig config;
  config.limits = limits;
  return config;
}

std::string world_path(const test::ApiResult& created) {
  return "/v1/worlds/" + std::to_string(created.json()["id"].get<std::int64_t>());
}

// The operator's view of the job table, on a connection of its own.
struct Operator {
  explicit Operator(test::ApiFixture& api) : session(api.storage().acquire()), queue(session->jobs()) {}
  storage::Storage::Lease session;
  queue::JobTable& queue;

  // Claims the next ready job and fails it permanently (it goes dead).
  std::int64_t kill_next() {
    auto claimed = queue.claim("operator", 1, 60000);
    REQUIRE(claimed.jobs.size() == 1);
    const auto& job = claimed.jobs[0].job;
    REQUIRE(queue.fail("operator", {queue::token_of(job), "gave up", queue::FailureKind::permanent}) ==
            queue::FailureOutcome::dead);
    return job.id;
  }
};

std::int64_t job_of(const test::ApiResult& accepted) { return accepted.json()["job"]["id"].get<std::int64_t>(); }

}  // namespace

TEST_CASE("API: generations not yet run count against the persona cap: a dead or canceled job gives its room back") {
  test::ApiFixture api;
  auto token = api.sign_up("alice");
  const auto base = world_path(api.post("/v1/worlds", {{"name", "Eden"}}, token));
  std::vector<std::int64_t> jobs;
  for (int i = 0; i < 10; ++i) {
    auto accepted = api.post(base + "/personas:generate", {{"count", 100}}, token);
    REQUIRE(accepted.status == 202);
    jobs.push_back(job_of(accepted));
  }
  // 1,000 personas are on their way: the cap is taken though none exists yet.
  auto past = api.post(base + "/personas:generate", {{"count", 1}}, token);
  CHECK(past.status == 409);
  CHECK(past.error_code() == "world_full");
  CHECK(past.json()["error"]["message"].get<std::string>().find("being generated") != std::string::npos);
  auto by_hand = api.post(base + "/personas", {{"name", "Ana"}}, token);
  CHECK(by_hand.status == 409);
  CHECK(by_hand.error_code() == "world_full");
  const auto before = api.table_counts();
  CHECK(api.post(base + "/personas:generate", {{"count", 1}}, token).status == 409);
  CHECK(api.table_counts() == before);

  // An operator cancels one generation: its 100 are free again.
  Operator op(api);
  REQUIRE(op.queue.cancel(jobs[3]));
  CHECK(api.post(base + "/personas:generate", {{"count", 100}}, token).status == 202);
  CHECK(api.post(base + "/personas", {{"name", "Ana"}}, token).status == 409);

  // Another goes dead: its room comes back too.
  op.kill_next();
  CHECK(api.post(base + "/personas:generate", {{"count", 60}}, token).status == 202);
  CHECK(api.post(base + "/personas:generate", {{"count", 40}}, token).status == 202);
  CHECK(api.post(base + "/personas:generate", {{"count", 1}}, token).status == 409);
}

TEST_CASE("API: a user holds at most the configured number of worlds: deleting one makes room") {
  domain::Limits limits;
  limits.worlds_per_user = 2;
  test::ApiFixture api(with_limits(limits));
  auto alice = api.sign_up("alice");
  auto bob = api.sign_up("bob");
  auto first = api.post("/v1/worlds", {{"name", "a"}}, alice);
  REQUIRE(first.status == 201);
  REQUIRE(api.post("/v1/worlds", {{"name", "b"}}, alice).status == 201);
  auto third = api.post("/v1/worlds", {{"name", "c"}}, alice);
  CHECK(third.status == 409);
  CHECK(third.error_code() == "too_many_worlds");
  CHECK(third.json()["error"]["message"].get<std::string>().find("at most 2 worlds") != std::string::npos);
  CHECK(api.post("/v1/worlds", {{"name", "b"}}, bob).status == 201);  // per user
  CHECK(api.call("DELETE", world_path(first), {}, {{"Authorization", "Bearer " + alice}}).status == 204);
  CHECK(api.post("/v1/worlds", {{"name", "c"}}, alice).status == 201);
}

TEST_CASE("API: a simulation past the work limit is 422 simulation_too_large") {
  domain::Limits limits;
  limits.simulation_work = 1000;  // ticks x personas
  test::ApiFixture api(with_limits(limits));
  auto token = api.sign_up("alice");
  const auto base = world_path(api.post("/v1/worlds", {{"name", "Eden"}}, token));
  for (int i = 0; i < 10; ++i) REQUIRE(api.post(base + "/personas", {{"name", "p" + std::to_string(i)}}, token).status == 201);
  auto too_large = api.post(base + "/simulations", {{"ticks", 101}}, token);
  CHECK(too_large.status == 422);
  CHECK(too_large.error_code() == "simulation_too_large");
  CHECK(too_large.json()["error"]["message"].get<std::string>().find("101 ticks x 10 personas is 1,010") !=
        std::string::npos);
  CHECK(api.post(base + "/simulations", {{"ticks", 100}}, token).status == 202);
}

TEST_CASE("API: pending simulations per user are limited (429 with Retry-After) until their jobs finish") {
  domain::Limits limits;
  limits.pending_simulations_per_user = 2;
  test::ApiFixture api(with_limits(limits));
  auto alice = api.sign_up("alice");
  auto bob = api.sign_up("bob");
  const auto first_world = world_path(api.post("/v1/worlds", {{"name", "a"}}, alice));
  const auto second_world = world_path(api.post("/v1/worlds", {{"name", "b"}}, alice));
  auto first = api.post(first_world + "/simulations", {{"ticks", 5}}, alice);
  REQUIRE(first.status == 202);
  REQUIRE(api.post(second_world + "/simulations", {{"ticks", 5}}, alice).status == 202);
  // Per user, across worlds.
  auto third = api.post(first_world + "/simulations", {{"ticks", 5}}, alice);
  CHECK(third.status == 429);
  CHECK(third.error_code() == "too_many_pending_simulations");
  CHECK(third.header("Retry-After") == "5");
  const auto bobs = world_path(api.post("/v1/worlds", {{"name", "b"}}, bob));
  CHECK(api.post(bobs + "/simulations", {{"ticks", 5}}, bob).status == 202);

  // The first one's job goes dead: it is no longer pending.
  Operator op(api);
  CHECK(op.kill_next() == job_of(first));
  CHECK(api.post(first_world + "/simulations", {{"ticks", 5}}, alice).status == 202);
  CHECK(api.post(first_world + "/simulations", {{"ticks", 5}}, alice).status == 429);
}

TEST_CASE("API: a world runs at most the configured number of simulations (409 too_many_simulations)") {
  domain::Limits limits;
  limits.simulations_per_world = 2;
  test::ApiFixture api(with_limits(limits));
  auto token = api.sign_up("alice");
  const auto base = world_path(api.post("/v1/worlds", {{"name", "Eden"}}, token));
  REQUIRE(api.post(base + "/simulations", {{"ticks", 5}}, token).status == 202);
  REQUIRE(api.post(base + "/simulations", {{"ticks", 5}}, token).status == 202);
  auto third = api.post(base + "/simulations", {{"ticks", 5}}, token);
  CHECK(third.status == 409);
  CHECK(third.error_code() == "too_many_simulations");
  const auto other = world_path(api.post("/v1/worlds", {{"name", "Other"}}, token));
  CHECK(api.post(other + "/simulations", {{"ticks", 5}}, token).status == 202);
}

TEST_CASE("API: a world's events, written and reserved by pending simulations, are limited (409 too_many_events)") {
  domain::Limits limits;
  limits.events_per_world = 500;
  test::ApiFixture api(with_limits(limits));
  auto token = api.sign_up("alice");
  const auto base = world_path(api.post("/v1/worlds", {{"name", "Eden"}}, token));
  for (int i = 0; i < 10; ++i) REQUIRE(api.post(base + "/personas", {{"name", "p" + std::to_string(i)}}, token).status == 201);
  // 10 personas: at most 5 interactions a tick, so 100 ticks may write 500 events.
  auto first = api.post(base + "/simulations", {{"ticks", 100}}, token);
  REQUIRE(first.status == 202);
  CHECK(first.json()["simulation"]["state"] == "pending");
  auto second = api.post(base + "/simulations", {{"ticks", 1}}, token);
  CHECK(second.status == 409);
  CHECK(second.error_code() == "too_many_events");
  CHECK(second.json()["error"]["message"].get<std::string>().find("500 more on their way") != std::string::npos);

  // Canceled, the first simulation reserves nothing (it wrote nothing).
  Operator op(api);
  REQUIRE(op.queue.cancel(job_of(first)));
  CHECK(api.post(base + "/simulations", {{"ticks", 100}}, token).status == 202);
}

TEST_CASE("API: deleting a world hides it and everything in it at once, and queues its purge") {
  test::ApiFixture api;
  auto token = api.sign_up("alice");
  auto created = api.post("/v1/worlds", {{"name", "Eden"}}, token);
  const auto base = world_path(created);
  REQUIRE(api.post(base + "/personas", {{"name", "Ana"}}, token).status == 201);
  auto simulated = api.post(base + "/simulations", {{"ticks", 5}}, token);
  REQUIRE(simulated.status == 202);
  const auto simulation = std::to_string(simulated.json()["simulation"]["id"].get<std::int64_t>());

  auto deleted = api.call("DELETE", base, {}, {{"Authorization", "Bearer " + token}});
  REQUIRE(deleted.status == 204);
  for (const std::string& path : {base, base + "/personas", base + "/simulations", base + "/simulations/" + simulation,
                                  base + "/events"}) {
    CAPTURE(path);
    CHECK(api.get(path, token).status == 404);
  }
  CHECK(api.post(base + "/personas", {{"name", "Bo"}}, token).status == 404);
  CHECK(api.post(base + "/simulations", {{"ticks", 5}}, token).status == 404);
  CHECK(api.get("/v1/worlds", token).json()["items"].empty());

  // The rows stay until the world.purge job (one per deletion) removes them.
  auto counts = api.table_counts();
  CHECK(counts["worlds"] == 1);
  CHECK(counts["personas"] == 1);
  Operator op(api);
  queue::JobFilter purge_jobs;
  purge_jobs.type = "world.purge";
  auto purges = op.queue.list(purge_jobs);
  REQUIRE(purges.size() == 1);
  CHECK(purges[0].user_id == api.last_user_id);
  CHECK(nlohmann::json::parse(purges[0].payload)["world_id"] == created.json()["id"]);
  CHECK(api.call("DELETE", base, {}, {{"Authorization", "Bearer " + token}}).status == 404);
  CHECK(op.queue.list(purge_jobs).size() == 1);
}

TEST_CASE("API: a body repeating a member changes nothing and names the member") {
  test::ApiFixture api;
  auto token = api.sign_up("alice");
  const auto base = world_path(api.post("/v1/worlds", {{"name", "Eden"}}, token));
  const auto before = api.table_counts();
  auto repeated = api.call("POST", base + "/personas", R"({"name":"Ana","traits":{"loyalty":200,"loyalty":2}})",
                           {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}});
  CHECK(repeated.status == 400);
  CHECK(repeated.error_code() == "invalid_request");
  CHECK(repeated.json()["error"]["message"].get<std::string>().find("traits.loyalty") != std::string::npos);
  auto ticks = api.call("POST", base + "/simulations", R"({"ticks":10000,"ticks":1})",
                        {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}});
  CHECK(ticks.status == 400);
  CHECK(api.table_counts() == before);
}
