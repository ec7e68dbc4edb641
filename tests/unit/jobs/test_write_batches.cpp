// The jobs that write or delete many rows: world.simulate appends its events
// in batches and resumes after a stop, world.purge deletes a deleted world a
// batch at a time, and persona.generate closes its generation's reservation.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <tuple>
#include <vector>

#include "domain/random.hpp"
#include "db/statement.hpp"
#include "domain/simulation.hpp"
#include "jobs/handlers.hpp"
#include "queue/clock.hpp"
#include "storage/drivers.hpp"
#include "store/sqlite/store.hpp"
#include "unit/store/store_fixture.hpp"

using namespace pw;
using nlohmann::json;

namespace {

struct BatchFixture {
  test::MigratedDatabase database;
  db::Connection connection{database.config};
  store::SqliteStore store{connection};
  queue::ManualClock clock;
  config::RetryConfig retry;
  std::unique_ptr<storage::Storage> storage = storage::open_sqlite_storage(database.config, 4, {clock, retry, {}});
  store::User user = store.create_user("alice", "hash", 1);
  // Small batches and no pause, so a short run takes many transactions.
  jobs::WriteBatches batches{100, std::chrono::microseconds(0), nullptr};
  std::vector<std::pair<std::string, observability::LogFields>> logged;

  queue::Job job(std::int64_t id, const std::string& type, const json& payload) {
    queue::Job job;
    job.id = id;
    job.type = type;
    job.payload = payload.dump();
    job.user_id = user.id;
    job.attempts = 1;
    return job;
  }

  // Runs `handler`; `stop` is asked before each step, as the worker's stop flag would be.
  std::string run(const queue::Job& job, const std::function<std::string(worker::JobContext&)>& handler,
                  std::function<bool()> stop = [] { return false; }) {
    worker::JobContext context{job, storage.get(), clock,
                               [this](observability::LogLevel, std::string_view msg, observability::LogFields fields) {
                                 logged.emplace_back(std::string(msg), std::move(fields));
                               },
                               std::move(stop)};
    return handler(context);
  }

  std::string simulate(const queue::Job& job, std::function<bool()> stop = [] { return false; }) {
    return run(job, [this](worker::JobContext& context) { return jobs::simulate_world(context, batches); },
               std::move(stop));
  }
  std::string purge(const queue::Job& job, std::function<bool()> stop = [] { return false; }) {
    return run(job, [this](worker::JobContext& context) { return jobs::purge_world(context, batches); },
               std::move(stop));
  }

  // A world with `personas` generated personas and one simulation of `ticks`.
  std::pair<store::World, store::Simulation> world_with_simulation(int personas, int ticks) {
    auto world = store.create_world(user.id, {"Eden", "", 7}, 1);
    const auto number = store.next_generation(world.id);
    store.record_generation(world.id, number, personas, 1, 1);
    run(job(1, "persona.generate", {{"world_id", world.id}, {"generation", number}, {"count", personas}}),
        [](worker::JobContext& context) { return jobs::generate_personas(context); });
    auto simulation = store.create_simulation({world.id, user.id, ticks, std::nullopt}, 1);
    return {world, simulation};
  }

  std::vector<domain::Event> expected_events(const store::World& world, const store::Simulation& simulation) {
    domain::SimulationInput input{domain::derive_seed(world.seed, simulation.number),
                                  store.personas_up_to(world.id, simulation.persona_bound), simulation.ticks};
    return domain::simulate(input).events;
  }

  // The simulation's stored events in id order, as (tick, kind, actors, text).
  std::vector<std::tuple<int, std::string, std::vector<std::int64_t>, std::string>> stored_events(
      std::int64_t world_id, std::int64_t simulation_id) {
    std::vector<std::tuple<int, std::string, std::vector<std::int64_t>, std::string>> out;
    std::int64_t after = 0;
    for (;;) {
      auto page = store.list_events(world_id, after, 100, simulation_id);
      for (const auto& e : page.items) out.emplace_back(e.tick, e.kind, e.actors, e.text);
      if (!page.next_after) return out;
      after = *page.next_after;
    }
  }

  std::int64_t count(const std::string& sql) {
    pw::db::Statement query(connection, sql);
    query.step();
    return query.int64(0);
  }
};

std::vector<std::tuple<int, std::string, std::vector<std::int64_t>, std::string>> as_tuples(
    const std::vector<domain::Event>& events) {
  std::vector<std::tuple<int, std::string, std::vector<std::int64_t>, std::string>> out;
  for (const auto& e : events) out.emplace_back(e.tick, e.kind, e.actors, e.text);
  return out;
}

// A stop flag that turns true on its n-th question (and stays true).
std::function<bool()> stop_on_call(int n) {
  return [n, calls = 0]() mutable { return ++calls >= n; };
}

}  // namespace

TEST_CASE("world.simulate: events go in bounded batches: a run stopped mid-write and rerun stores each exactly once") {
  BatchFixture f;
  auto [world, simulation] = f.world_with_simulation(20, 150);
  const auto expected = f.expected_events(world, simulation);
  REQUIRE(expected.size() > 500);
  const auto job = f.job(2, "world.simulate", {{"simulation_id", simulation.id}});

  // Stopped before the fourth batch (the handler asks once before it
  // simulates and once before each batch): three batches are stored, nothing
  // more, and the simulation is not complete.
  CHECK_THROWS_AS(f.simulate(job, stop_on_call(5)), std::runtime_error);
  auto partial = f.store.find_simulation(simulation.id);
  REQUIRE(partial);
  CHECK(partial->events_written == 300);
  CHECK_FALSE(partial->completed_at_ms);
  CHECK_FALSE(partial->event_count);
  const auto all = as_tuples(expected);
  CHECK(f.stored_events(world.id, simulation.id) == std::vector(all.begin(), all.begin() + 300));

  // The rerun appends the rest, in order, and completes.
  auto result = json::parse(f.simulate(job));
  CHECK(result["events"] == expected.size());
  CHECK(f.stored_events(world.id, simulation.id) == all);
  auto done = f.store.find_simulation(simulation.id);
  CHECK(done->events_written == static_cast<std::int64_t>(expected.size()));
  CHECK(done->event_count == std::optional<std::int64_t>(static_cast<std::int64_t>(expected.size())));
  CHECK(done->completed_at_ms);
  // Every batch held at most 100 events: the completed run took the rest in
  // ceil((n - 300) / 100) transactions.
  REQUIRE(!f.logged.empty());
  CHECK(f.logged.back().first == "simulation_completed");
  const auto rest = static_cast<std::int64_t>(expected.size()) - 300;
  bool counted = false;
  for (const auto& field : f.logged.back().second) {
    if (field.key == "batches") {
      counted = true;
      CHECK(field.value == observability::LogValue(std::int64_t{(rest + 99) / 100}));
    }
  }
  CHECK(counted);

  // Run again after completion (a crash after the last commit): nothing changes.
  f.simulate(job);
  CHECK(f.count("SELECT COUNT(*) FROM events") == static_cast<std::int64_t>(expected.size()));
}

TEST_CASE("world.simulate: two runs of one simulation racing after a lost lease never store an event twice") {
  BatchFixture f;
  auto [world, simulation] = f.world_with_simulation(20, 100);
  const auto expected = f.expected_events(world, simulation);
  const auto first = f.job(2, "world.simulate", {{"simulation_id", simulation.id}});
  const auto second = f.job(3, "world.simulate", {{"simulation_id", simulation.id}});
  // The first run stops after two batches; while it ran, a second one (the
  // same simulation, another claim) wrote the rest; then the first resumes.
  CHECK_THROWS(f.simulate(first, stop_on_call(4)));
  f.simulate(second);
  f.simulate(first);
  CHECK(f.stored_events(world.id, simulation.id) == as_tuples(expected));
}

TEST_CASE("world.simulate: a world deleted between batches stops the writing") {
  BatchFixture f;
  auto [world, simulation] = f.world_with_simulation(20, 150);
  const auto job = f.job(2, "world.simulate", {{"simulation_id", simulation.id}});
  int calls = 0;
  auto result = json::parse(f.simulate(job, [&] {
    // Once before simulating, then before each batch: deleted after two batches.
    if (++calls == 4) REQUIRE(f.store.mark_world_deleted(f.user.id, world.id, 2));
    return false;
  }));
  CHECK(result.contains("skipped"));
  CHECK(f.count("SELECT COUNT(*) FROM events") == 200);
  CHECK(f.count("SELECT completed_at IS NULL FROM simulations") == 1);
}

TEST_CASE("world.purge: removes a deleted world a batch at a time, carries on after a stop, never purges a live world") {
  BatchFixture f;
  auto [world, simulation] = f.world_with_simulation(20, 150);
  f.simulate(f.job(2, "world.simulate", {{"simulation_id", simulation.id}}));
  auto [kept, kept_simulation] = f.world_with_simulation(4, 20);
  f.simulate(f.job(3, "world.simulate", {{"simulation_id", kept_simulation.id}}));
  const auto events = f.count("SELECT COUNT(*) FROM events WHERE world_id = " + std::to_string(world.id));
  const auto kept_events = f.count("SELECT COUNT(*) FROM events WHERE world_id = " + std::to_string(kept.id));
  REQUIRE(events > 300);

  const auto job = f.job(4, "world.purge", {{"world_id", world.id}});
  CHECK_THROWS_AS(f.purge(job), worker::PermanentFailure);  // live
  CHECK(f.count("SELECT COUNT(*) FROM events") == events + kept_events);

  REQUIRE(f.store.mark_world_deleted(f.user.id, world.id, 2));
  CHECK_THROWS_AS(f.purge(job, stop_on_call(3)), std::runtime_error);
  CHECK(f.count("SELECT COUNT(*) FROM events WHERE world_id = " + std::to_string(world.id)) == events - 200);
  CHECK(f.store.world_state(world.id) == store::WorldState::deleted);

  auto result = json::parse(f.purge(job));
  CHECK(result["world_id"] == world.id);
  // events, 1 simulation, 20 personas, 1 generation and the world, less the 200 already gone.
  CHECK(result["rows"] == events - 200 + 1 + 20 + 1 + 1);
  CHECK(f.store.world_state(world.id) == store::WorldState::absent);
  for (const char* table : {"events", "simulations", "personas", "persona_generations"}) {
    CAPTURE(table);
    CHECK(f.count(std::string("SELECT COUNT(*) FROM ") + table + " WHERE world_id = " + std::to_string(world.id)) ==
          0);
  }
  CHECK(f.count("SELECT COUNT(*) FROM events") == kept_events);
  CHECK(f.store.find_world(kept.id));

  // A rerun after the end finds nothing to do; a malformed payload is permanent.
  CHECK(json::parse(f.purge(job))["rows"] == 0);
  CHECK_THROWS_AS(f.purge(f.job(5, "world.purge", {{"world_id", "x"}})), worker::PermanentFailure);
}

TEST_CASE("persona.generate: its generation stops counting as pending in the transaction that creates the personas") {
  BatchFixture f;
  auto world = f.store.create_world(f.user.id, {"Eden", "", 7}, 1);
  const auto number = f.store.next_generation(world.id);
  f.store.record_generation(world.id, number, 5, 1, 1);
  REQUIRE(f.store.pending_generations(world.id).size() == 1);
  const auto job = f.job(1, "persona.generate", {{"world_id", world.id}, {"generation", number}, {"count", 5}});
  auto generate = [](worker::JobContext& context) { return jobs::generate_personas(context); };
  f.run(job, generate);
  CHECK(f.store.pending_generations(world.id).empty());
  CHECK(f.store.count_personas(world.id) == 5);

  // A generation whose personas exist but whose record is still open (run
  // before the record was kept) is closed by a rerun.
  pw::db::Statement reopen(f.connection, "UPDATE persona_generations SET finished_at = NULL");
  reopen.exec();
  CHECK(json::parse(f.run(job, generate))["rerun"] == true);
  CHECK(f.store.pending_generations(world.id).empty());
}

TEST_CASE("WriteBatches: writers sharing a gate take turns, and each turn pauses at least as long as its batch") {
  jobs::WriteBatches shared{500, std::chrono::microseconds(0), std::make_shared<std::mutex>()};
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  auto writer = [&] {
    for (int i = 0; i < 200; ++i) {
      jobs::WriteBatches::Turn turn(shared);
      const int now = ++inside;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::yield();
      --inside;
      turn.finish();
    }
  };
  std::thread first(writer);
  std::thread second(writer);
  first.join();
  second.join();
  CHECK(most.load() == 1);

  // The pause is at least the minimum, and at least what the batch took.
  jobs::WriteBatches paced{500, std::chrono::microseconds(2000), nullptr};
  const auto start = std::chrono::steady_clock::now();
  {
    jobs::WriteBatches::Turn turn(paced);
    turn.finish();
  }
  const auto short_batch = std::chrono::steady_clock::now() - start;
  CHECK(short_batch >= std::chrono::microseconds(2000));
  const auto slow_start = std::chrono::steady_clock::now();
  {
    jobs::WriteBatches::Turn turn(paced);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a batch that took 5 ms
    turn.finish();
  }
  CHECK(std::chrono::steady_clock::now() - slow_start >= std::chrono::milliseconds(10));
}
