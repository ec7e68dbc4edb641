// Black-box: per-type concurrency as a user meets it, with the worker at its
// defaults (no --type-concurrency). A backlog of webhook deliveries to a
// receiver that holds them all open must not hold back the simulations users
// post through the API. Runs on both drivers (tests/CMakeLists.txt).
#include <doctest/doctest.h>

#include <signal.h>

#include <string>
#include <vector>

#include "e2e/holding_receiver.hpp"
#include "e2e/reliability_scene.hpp"

using pw::test::HoldingReceiver;
using pw::test::reliability::Scene;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string kBinary = PW_BINARY;

struct Posted {
  std::int64_t simulation_id = 0;
  std::int64_t job_id = 0;
};

Posted post_simulation(Scene& scene, const std::string& world, const std::string& token) {
  auto response = scene.post(world + "/simulations", {{"ticks", 20}}, token);
  REQUIRE_MESSAGE(response.status == 202, response.body);
  auto accepted = json::parse(response.body);
  return {accepted["simulation"]["id"].get<std::int64_t>(), accepted["job"]["id"].get<std::int64_t>()};
}

bool completed(Scene& scene, const std::string& world, const std::string& token, const Posted& posted) {
  auto response = scene.get(world + "/simulations/" + std::to_string(posted.simulation_id), token);
  return response.status == 200 && json::parse(response.body)["state"] == "completed";
}

// From the job's creation to its start, as the job table recorded both.
std::int64_t wait_to_start_ms(Scene& scene, const Posted& posted) {
  return scene.count("SELECT started_at - created_at FROM jobs WHERE id = " + std::to_string(posted.job_id));
}

}  // namespace

TEST_CASE("queue controls (binary): with a worker at its defaults, simulations posted while 300 slow webhook deliveries fill the queue start and complete while the deliveries are still held") {
  Scene scene;
  scene.start_api();
  const auto token = scene.sign_up("ada");
  const std::string world = "/v1/worlds/" + std::to_string(scene.make_world(token, 3));
  // Room for every delivery the worker could start at once, so the receiver
  // (not its thread pool) is what holds them.
  HoldingReceiver receiver(160);
  auto [worker, worker_port] =
      scene.start_worker({"--allow-private-webhooks", "--webhook-timeout-ms", "120000", "--max-attempts", "1"});

  // The normal latency: a simulation on an empty queue.
  const auto baseline = post_simulation(scene, world, token);
  REQUIRE_MESSAGE(pw::test::eventually([&] { return completed(scene, world, token, baseline); }, 60s),
                  worker->output());
  const auto normal_ms = wait_to_start_ms(scene, baseline);

  // 300 deliveries, each held open by the receiver: by the default limit, at
  // most half of the 128 handlers take them, and claims pass over the rest.
  const json delivery = {{"url", receiver.url()}, {"body", {{"n", 1}}}};
  auto enqueued = pw::test::run(kBinary, {"jobs", "enqueue", scene.flag(), "--type", "webhook.deliver", "--payload",
                                          delivery.dump(), "--count", "300"});
  REQUIRE_MESSAGE(enqueued.exit_code == 0, enqueued.err);
  REQUIRE_MESSAGE(pw::test::eventually([&] { return receiver.at_once() == 64; }, 60s), worker->output());

  std::vector<Posted> posted;
  for (int i = 0; i < 3; ++i) posted.push_back(post_simulation(scene, world, token));
  for (const auto& simulation : posted) {
    REQUIRE_MESSAGE(pw::test::eventually([&] { return completed(scene, world, token, simulation); }, 60s),
                    worker->output());
  }
  // All three ran while every delivery the worker had started was still held
  // open: the webhooks neither took the handlers nor blocked the claims.
  CHECK(receiver.at_once() == 64);
  CHECK(receiver.most_at_once() == 64);
  CHECK(scene.count("SELECT count(*) FROM jobs WHERE type = 'webhook.deliver' AND state = 'succeeded'") == 0);
  for (const auto& simulation : posted) {
    MESSAGE("simulation job " << simulation.job_id << " waited " << wait_to_start_ms(scene, simulation)
                              << " ms to start behind the deliveries; " << normal_ms << " ms on an empty queue");
  }

  receiver.release();
  REQUIRE_MESSAGE(pw::test::eventually(
                      [&] {
                        return scene.count("SELECT count(*) FROM jobs WHERE type = 'webhook.deliver' AND "
                                           "state = 'succeeded'") == 300;
                      },
                      120s),
                  worker->output());
  CHECK(receiver.most_at_once() == 64);  // never more deliveries at once than the type's default limit
  worker->signal(SIGTERM);
  REQUIRE_MESSAGE(worker->wait_exit(30s) == 0, worker->output());
}
