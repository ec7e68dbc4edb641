#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "domain/persona.hpp"
#include "domain/random.hpp"
#include "domain/simulation.hpp"
#include "jobs/handlers.hpp"
#include "queue/clock.hpp"
#include "storage/drivers.hpp"
#include "support/test_database.hpp"
#include "webhook/client.hpp"
#include "webhook/network_libraries.hpp"

using namespace pw;
using nlohmann::json;

namespace {

struct JobsFixture {
  webhook::NetworkLibraries network_libraries;
  // The suite's driver (support/test_database.hpp): the handlers' tests run
  // on SQLite and again on PostgreSQL.
  test::TestDatabase database;
  queue::ManualClock clock;
  config::RetryConfig retry;
  std::unique_ptr<storage::Storage> storage = storage::open_storage(database.config, 4, {clock, retry, {}});
  // The test's own session, beside the handlers'.
  storage::Storage::Lease session = storage->acquire();
  store::Store& store = session->store();
  store::User user = store.create_user("alice", "hash", 1);

  store::World world(std::uint64_t seed = 42) { return store.create_world(user.id, {"Eden", "", seed}, 1); }

  queue::Job job(std::int64_t id, const std::string& type, const json& payload) {
    queue::Job job;
    job.id = id;
    job.type = type;
    job.payload = payload.dump();
    job.trace_id = "trace-" + std::to_string(id);
    job.user_id = user.id;
    job.attempts = 1;
    return job;
  }

  std::string run(const queue::Job& job, const std::function<std::string(worker::JobContext&)>& handler) {
    worker::JobContext context{job, storage.get(), clock,
                               [](observability::LogLevel, std::string_view, observability::LogFields) {},
                               [] { return false; }};
    return handler(context);
  }

  std::int64_t count(const std::string& sql) {
    return test::DatabaseProbe(database.config).scalar(sql);
  }
};

auto generate = [](worker::JobContext& context) { return jobs::generate_personas(context); };

config::WebhookConfig webhook_config(bool allow_private, int timeout_ms) {
  config::WebhookConfig config;
  config.allow_private = allow_private;
  config.timeout_ms = timeout_ms;
  return config;
}

}  // namespace

TEST_CASE("persona.generate: creates the world's n-th generation, deterministically, once") {
  JobsFixture f;
  auto world = f.world(42);
  auto job = f.job(11, "persona.generate", {{"world_id", world.id}, {"generation", 1}, {"count", 5}});
  auto result = json::parse(f.run(job, generate));
  CHECK(result["created"] == 5);
  CHECK(result["persona_ids"].size() == 5);

  auto expected = domain::generate_personas(42, 1, 5);
  auto page = f.store.list_personas(world.id, 0, 100);
  REQUIRE(page.items.size() == 5);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(page.items[i].name == expected[i].name);
    CHECK(page.items[i].traits == expected[i].traits);
    CHECK(page.items[i].job_id == std::optional<std::int64_t>(11));
  }

  // A rerun of the same job (a crash after its commit) creates nothing.
  auto rerun = json::parse(f.run(job, generate));
  CHECK(rerun["created"] == 5);
  CHECK(rerun["rerun"] == true);
  CHECK(f.store.count_personas(world.id) == 5);
  // So does the same request run under another job id (an operator's re-enqueue).
  auto again = f.job(99, "persona.generate", {{"world_id", world.id}, {"generation", 1}, {"count", 5}});
  CHECK(json::parse(f.run(again, generate))["rerun"] == true);
  CHECK(f.store.count_personas(world.id) == 5);

  // The next generation is another job and other personas.
  auto second = f.job(12, "persona.generate", {{"world_id", world.id}, {"generation", 2}, {"count", 3}});
  f.run(second, generate);
  CHECK(f.store.count_personas(world.id) == 8);
}

TEST_CASE("persona.generate: a deleted world is skipped, a malformed payload is permanent") {
  JobsFixture f;
  auto gone = f.job(1, "persona.generate", {{"world_id", 999}, {"generation", 1}, {"count", 5}});
  CHECK(json::parse(f.run(gone, generate)).contains("skipped"));
  auto bad = f.job(2, "persona.generate", {{"world_id", "x"}});
  CHECK_THROWS_AS(f.run(bad, generate), worker::PermanentFailure);
  auto world = f.world();
  auto too_many = f.job(3, "persona.generate", {{"world_id", world.id}, {"generation", 1}, {"count", 100000}});
  CHECK_THROWS_AS(f.run(too_many, generate), worker::PermanentFailure);
  CHECK(f.store.count_personas(world.id) == 0);
}

TEST_CASE("world.simulate: writes the domain's events once, however often it runs, and one webhook job") {
  JobsFixture f;
  auto world = f.world(7);
  f.run(f.job(1, "persona.generate", {{"world_id", world.id}, {"generation", 1}, {"count", 6}}), generate);
  auto simulation = f.store.create_simulation({world.id, f.user.id, 50, std::string("http://127.0.0.1:9/hook")}, 1);
  auto job = f.job(2, "world.simulate", {{"simulation_id", simulation.id}});
  auto simulate = [&](worker::JobContext& context) { return jobs::simulate_world(context); };

  auto result = json::parse(f.run(job, simulate));
  domain::SimulationInput input{domain::derive_seed(7, 1), f.store.personas_up_to(world.id, simulation.persona_bound),
                                50};
  auto expected = domain::simulate(input);
  REQUIRE(!expected.events.empty());
  CHECK(result["events"] == expected.events.size());
  CHECK(result["simulation_id"] == simulation.id);
  for (const auto& count : expected.counts) CHECK(result["counts"][count.kind] == count.count);

  auto stored = f.store.list_events(world.id, 0, 100, simulation.id);
  REQUIRE(!stored.items.empty());
  CHECK(stored.items[0].kind == expected.events[0].kind);
  CHECK(stored.items[0].text == expected.events[0].text);
  CHECK(stored.items[0].actors == expected.events[0].actors);

  auto rerun = json::parse(f.run(job, simulate));
  CHECK(rerun["events"] == result["events"]);
  CHECK(rerun["webhook_job_id"] == result["webhook_job_id"]);
  CHECK(f.count("SELECT COUNT(*) FROM events") == static_cast<std::int64_t>(expected.events.size()));
  CHECK(f.count("SELECT COUNT(*) FROM jobs WHERE type = 'webhook.deliver'") == 1);

  queue::JobTable& queue = f.session->jobs();
  auto webhook = queue.find(result["webhook_job_id"].get<std::int64_t>());
  REQUIRE(webhook);
  CHECK(webhook->trace_id == std::optional<std::string>("trace-2"));
  CHECK(webhook->user_id == std::optional<std::int64_t>(f.user.id));
  CHECK(webhook->idempotency_key == std::optional<std::string>(jobs::webhook_job_key(simulation.id)));
  auto payload = json::parse(webhook->payload);
  CHECK(payload["url"] == "http://127.0.0.1:9/hook");
  CHECK(payload["body"]["events"] == expected.events.size());
  CHECK(payload["body"]["trace_id"] == "trace-2");

  auto finished = f.store.find_simulation(simulation.id);
  REQUIRE(finished);
  CHECK(finished->event_count == std::optional<std::int64_t>(static_cast<std::int64_t>(expected.events.size())));
  CHECK(finished->completed_at_ms);
}

TEST_CASE("world.simulate: without a callback there is no webhook, a deleted world is skipped") {
  JobsFixture f;
  auto world = f.world(7);
  f.run(f.job(1, "persona.generate", {{"world_id", world.id}, {"generation", 1}, {"count", 3}}), generate);
  auto simulation = f.store.create_simulation({world.id, f.user.id, 5, std::nullopt}, 1);
  auto simulate = [&](worker::JobContext& context) { return jobs::simulate_world(context); };
  auto result = json::parse(f.run(f.job(2, "world.simulate", {{"simulation_id", simulation.id}}), simulate));
  CHECK(result["webhook_job_id"].is_null());
  CHECK(f.count("SELECT COUNT(*) FROM jobs") == 0);

  f.store.mark_world_deleted(f.user.id, world.id, 2);
  auto skipped = json::parse(f.run(f.job(3, "world.simulate", {{"simulation_id", simulation.id}}), simulate));
  CHECK(skipped.contains("skipped"));
}

namespace {

// A webhook receiver on 127.0.0.1 that answers with the statuses it is given,
// in turn, and remembers what it received.
class Receiver {
 public:
  explicit Receiver(std::vector<int> statuses, std::chrono::milliseconds delay = {})
      : m_statuses(std::move(statuses)), m_delay(delay) {
    m_server.Post("/hook", [this](const httplib::Request& request, httplib::Response& response) {
      std::size_t n;
      {
        std::lock_guard lock(m_mutex);
        n = m_requests.size();
        m_requests.push_back(request);
      }
      if (m_delay.count() > 0) std::this_thread::sleep_for(m_delay);
      response.status = m_statuses[std::min(n, m_statuses.size() - 1)];
      response.set_content("{}", "application/json");
    });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    while (!m_server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Receiver() {
    m_server.stop();
    m_thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port) + "/hook"; }
  std::vector<httplib::Request> requests() {
    std::lock_guard lock(m_mutex);
    return m_requests;
  }

 private:
  std::vector<int> m_statuses;
  std::chrono::milliseconds m_delay;
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
  std::mutex m_mutex;
  std::vector<httplib::Request> m_requests;
};

}  // namespace

TEST_CASE("webhook.deliver: 2xx succeeds, 5xx is retryable, other 4xx is permanent") {
  JobsFixture f;
  Receiver receiver({503, 404, 200});
  const auto allow = webhook_config(true, 5000);
  auto job = f.job(5, "webhook.deliver", {{"url", receiver.url()}, {"body", {{"simulation_id", 9}}}});
  job.idempotency_key = "webhook:simulation:9";
  auto deliver = [&](worker::JobContext& context) { return jobs::deliver_webhook(context, allow); };

  try {
    f.run(job, deliver);
    FAIL("503 must fail the attempt");
  } catch (const worker::PermanentFailure&) {
    FAIL("503 must be retryable");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("503") != std::string::npos);
  }
  CHECK_THROWS_AS(f.run(job, deliver), worker::PermanentFailure);
  auto result = json::parse(f.run(job, deliver));
  CHECK(result["status"] == 200);

  auto requests = receiver.requests();
  REQUIRE(requests.size() == 3);
  for (const auto& request : requests) {
    CHECK(request.get_header_value("X-Request-ID") == "trace-5");
    CHECK(request.get_header_value("X-PersonaWorlds-Delivery") == "webhook:simulation:9");
    CHECK(request.get_header_value("Content-Type") == "application/json");
    CHECK(json::parse(request.body)["simulation_id"] == 9);
  }
}

TEST_CASE("webhook.deliver: a loopback destination is refused at delivery unless allowed") {
  JobsFixture f;
  Receiver receiver({200});
  const auto deny = webhook_config(false, 5000);
  auto job = f.job(5, "webhook.deliver", {{"url", receiver.url()}, {"body", json::object()}});
  auto deliver = [&](worker::JobContext& context) { return jobs::deliver_webhook(context, deny); };
  CHECK_THROWS_AS(f.run(job, deliver), worker::PermanentFailure);
  CHECK(receiver.requests().empty());
}

TEST_CASE("webhook.deliver: connection errors and timeouts are retryable") {
  JobsFixture f;
  const auto allow = webhook_config(true, 200);
  auto deliver = [&](worker::JobContext& context) { return jobs::deliver_webhook(context, allow); };
  // A port nobody listens on: take one from the kernel, then close it.
  int free_port;
  {
    httplib::Server probe;
    free_port = probe.bind_to_any_port("127.0.0.1");
  }
  auto refused = f.job(1, "webhook.deliver",
                       {{"url", "http://127.0.0.1:" + std::to_string(free_port) + "/"}, {"body", json::object()}});
  CHECK_THROWS_AS(f.run(refused, deliver), std::runtime_error);
  try {
    f.run(refused, deliver);
  } catch (const worker::PermanentFailure&) {
    FAIL("a refused connection must be retryable");
  } catch (const std::exception&) {
  }

  Receiver slow({200}, std::chrono::milliseconds(800));
  auto timed_out = f.job(2, "webhook.deliver", {{"url", slow.url()}, {"body", json::object()}});
  try {
    f.run(timed_out, deliver);
    FAIL("a receiver slower than the timeout must fail the attempt");
  } catch (const worker::PermanentFailure&) {
    FAIL("a timeout must be retryable");
  } catch (const std::exception&) {
  }
}

TEST_CASE("webhook: a delivery connects to the address that was checked, never resolving the name again") {
  webhook::NetworkLibraries network_libraries;
  Receiver receiver({200});
  // The receiver's URL with a host name no resolver knows: only the given
  // address can lead to the receiver.
  const std::string port = receiver.url().substr(std::string("http://127.0.0.1:").size());
  auto parsed = webhook::parse_url("http://no-such-host.invalid:" + port);
  REQUIRE(parsed.url);
  auto address = webhook::IpAddress::parse("127.0.0.1");
  REQUIRE(address);
  webhook::Delivery delivery{"http://no-such-host.invalid:" + port, "{}", "trace-x", "d-1"};
  auto result = webhook::send(delivery, *parsed.url, *address, std::chrono::steady_clock::now() + std::chrono::seconds(5));
  CHECK(result.outcome == webhook::Outcome::delivered);
  CHECK(result.address == "127.0.0.1");
  auto requests = receiver.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].get_header_value("Host") == "no-such-host.invalid:" + port.substr(0, port.find('/')));
}

TEST_CASE("webhook.deliver: a simulation's webhook is sent while its world exists, and not after it was deleted") {
  JobsFixture f;
  Receiver receiver({200});
  const auto allow = webhook_config(true, 5000);
  auto deliver = [&](worker::JobContext& context) { return jobs::deliver_webhook(context, allow); };
  auto world = f.world();
  auto simulation = f.store.create_simulation({world.id, f.user.id, 5, receiver.url()}, 1);
  const json payload = {{"simulation_id", simulation.id}, {"url", receiver.url()}, {"body", {{"simulation_id", simulation.id}}}};

  auto sent = json::parse(f.run(f.job(1, "webhook.deliver", payload), deliver));
  CHECK(sent["status"] == 200);
  CHECK(receiver.requests().size() == 1);

  REQUIRE(f.store.mark_world_deleted(f.user.id, world.id, 2));
  auto skipped = json::parse(f.run(f.job(2, "webhook.deliver", payload), deliver));
  CHECK(skipped["skipped"] == "the simulation was deleted with its world");
  CHECK(skipped["simulation_id"] == simulation.id);
  CHECK(receiver.requests().size() == 1);  // nothing more was sent

  auto malformed = f.job(3, "webhook.deliver", {{"simulation_id", "x"}, {"url", receiver.url()}, {"body", json::object()}});
  CHECK_THROWS_AS(f.run(malformed, deliver), worker::PermanentFailure);
}
