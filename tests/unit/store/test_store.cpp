// The domain store's contract, on both drivers: every case runs once on
// SQLite and once on PostgreSQL. What only PostgreSQL has to show (sessions
// writing at once) is in test_postgres_store.cpp.
#include <doctest/doctest.h>

#include <map>
#include <span>
#include <stdexcept>

#include "domain/simulation.hpp"
#include "store/store.hpp"
#include "unit/store/store_fixture.hpp"

using namespace pw;

namespace {

std::map<std::string, std::int64_t> counts(store::Store& store) {
  std::map<std::string, std::int64_t> out;
  for (const auto& [table, n] : store.table_counts()) out[table] = n;
  return out;
}

domain::NewPersona persona(std::string name, int sociability = 50) {
  domain::NewPersona p;
  p.name = std::move(name);
  p.traits.sociability = sociability;
  return p;
}

}  // namespace

TEST_CASE_TEMPLATE("Store: a user is found by the hash of its token, not by anything else",
                   F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto user = store.create_user("alice", "hash-a", 1000);
  CHECK(user.id > 0);
  CHECK(store.handle_exists("alice"));
  CHECK_FALSE(store.handle_exists("bob"));
  auto found = store.find_credential("hash-a");
  REQUIRE(found);
  CHECK(found->user.id == user.id);
  CHECK(found->user.handle == "alice");
  CHECK(found->token_hash == "hash-a");
  CHECK_FALSE(store.find_credential("hash-b"));
  CHECK_FALSE(store.find_credential(""));
}

TEST_CASE_TEMPLATE("Store: a world belongs to its user, another user sees nothing",
                   F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto alice = store.create_user("alice", "a", 1);
  auto bob = store.create_user("bob", "b", 1);
  auto world = store.create_world(alice.id, {"Eden", "a garden", 42}, 5);
  CHECK(store.find_world(alice.id, world.id));
  CHECK_FALSE(store.find_world(bob.id, world.id));
  CHECK_FALSE(store.mark_world_deleted(bob.id, world.id, 2));
  CHECK(store.find_world(world.id));
  CHECK(store.world_state(world.id) == store::WorldState::live);
  auto page = store.list_worlds(bob.id, 0, 20);
  CHECK(page.items.empty());
  CHECK_FALSE(page.next_after);
}

TEST_CASE_TEMPLATE("Store: strings are stored verbatim, SQL metacharacters and all",
                   F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto user = store.create_user("alice", "a", 1);
  const std::string name = "Robert'); DROP TABLE worlds;--";
  const std::string description = "50% \"quoted\" \\ back\nslash _ % \xC3\xA9";
  auto world = store.create_world(user.id, {name, description, 7}, 5);
  auto found = store.find_world(user.id, world.id);
  REQUIRE(found);
  CHECK(found->name == name);
  CHECK(found->description == description);
  CHECK(counts(store)["worlds"] == 1);
}

TEST_CASE_TEMPLATE("Store: worlds page in id order with a cursor", F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto user = store.create_user("alice", "a", 1);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(store.create_world(user.id, {"w" + std::to_string(i), "", 1}, 1).id);
  auto first = store.list_worlds(user.id, 0, 2);
  REQUIRE(first.items.size() == 2);
  CHECK(first.items[0].id == ids[0]);
  REQUIRE(first.next_after);
  auto second = store.list_worlds(user.id, *first.next_after, 2);
  REQUIRE(second.items.size() == 2);
  CHECK(second.items[0].id == ids[2]);
  auto third = store.list_worlds(user.id, *second.next_after, 2);
  REQUIRE(third.items.size() == 1);
  CHECK(third.items[0].id == ids[4]);
  CHECK_FALSE(third.next_after);
  // An exactly full last page has no next cursor either.
  auto all = store.list_worlds(user.id, 0, 5);
  CHECK(all.items.size() == 5);
  CHECK_FALSE(all.next_after);
}

TEST_CASE_TEMPLATE("Store: a deleted world vanishes from every read at once: purging removes its rows in bounded steps",
                   F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto user = store.create_user("alice", "a", 1);
  auto world = store.create_world(user.id, {"Eden", "", 42}, 1);
  auto other = store.create_world(user.id, {"Other", "", 42}, 1);
  store.add_persona(world.id, persona("A"), store::PersonaOrigin{}, 1);
  store.add_persona(world.id, persona("B"), store::PersonaOrigin{}, 1);
  store.add_persona(other.id, persona("C"), store::PersonaOrigin{}, 1);
  store.record_generation(world.id, store.next_generation(world.id), 3, 77, 1);
  auto simulation = store.create_simulation({world.id, user.id, 5, std::nullopt}, 1);
  auto kept = store.create_simulation({other.id, user.id, 5, std::nullopt}, 1);
  std::vector<domain::Event> events;
  for (int i = 0; i < 5; ++i) events.push_back({i + 1, "meet", {1, 2}, "A meets B"});
  store.append_events(simulation, events);
  store.append_events(kept, std::span(events).first(1));
  CHECK(counts(store)["events"] == 6);
  CHECK(store.count_worlds(user.id) == 2);

  // Live worlds cannot be purged, deleted or not by anyone else.
  CHECK(store.purge_world_step(world.id, 100).rows == 0);
  CHECK_FALSE(store.purge_world_step(world.id, 100).finished);
  REQUIRE(store.mark_world_deleted(user.id, world.id, 2));
  CHECK_FALSE(store.mark_world_deleted(user.id, world.id, 3));  // already deleted: as absent

  // Gone from every read, though every row is still there.
  CHECK(store.world_state(world.id) == store::WorldState::deleted);
  CHECK_FALSE(store.find_world(user.id, world.id));
  CHECK_FALSE(store.find_world(world.id));
  CHECK_FALSE(store.find_simulation(simulation.id));
  CHECK_FALSE(store.find_simulation(world.id, simulation.id));
  CHECK(store.find_simulation(kept.id));
  CHECK(store.list_worlds(user.id, 0, 20).items.size() == 1);
  CHECK(store.count_worlds(user.id) == 1);
  CHECK(counts(store)["events"] == 6);

  // Two rows a step: events first, and the world row last.
  std::int64_t steps = 0;
  std::int64_t rows = 0;
  for (;;) {
    auto step = store.purge_world_step(world.id, 2);
    CHECK(step.rows <= 2);
    rows += step.rows;
    ++steps;
    if (step.finished) break;
    REQUIRE(steps < 100);
  }
  // 5 events in 3 steps, 1 simulation, 2 personas, 1 generation, the world.
  CHECK(steps == 7);
  CHECK(rows == 10);
  CHECK(store.world_state(world.id) == store::WorldState::absent);
  CHECK(store.purge_world_step(world.id, 2).finished);
  auto after = counts(store);
  CHECK(after["worlds"] == 1);
  CHECK(after["personas"] == 1);
  CHECK(after["simulations"] == 1);
  CHECK(after["events"] == 1);
  CHECK(store.find_world(other.id));
}

TEST_CASE_TEMPLATE("Store: a simulation is numbered within its world and bounded to the personas of its time",
                   F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto user = store.create_user("alice", "a", 1);
  auto world = store.create_world(user.id, {"Eden", "", 42}, 1);
  auto a = store.add_persona(world.id, persona("A"), store::PersonaOrigin{}, 1);
  auto first = store.create_simulation({world.id, user.id, 10, std::string("http://example.com/")}, 1);
  auto b = store.add_persona(world.id, persona("B"), store::PersonaOrigin{}, 1);
  auto second = store.create_simulation({world.id, user.id, 10, std::nullopt}, 1);
  CHECK(first.number == 1);
  CHECK(second.number == 2);
  CHECK(first.persona_bound == a.id);
  CHECK(second.persona_bound == b.id);
  CHECK(store.personas_up_to(world.id, first.persona_bound).size() == 1);
  CHECK(store.personas_up_to(world.id, second.persona_bound).size() == 2);
  auto found = store.find_simulation(world.id, first.id);
  REQUIRE(found);
  CHECK(found->callback_url == std::optional<std::string>("http://example.com/"));
  CHECK_FALSE(store.find_simulation(world.id + 1, first.id));
  CHECK(store.find_world(user.id, world.id)->simulations == 2);
}

TEST_CASE_TEMPLATE("Store: events are appended in order and counted as written",
                   F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto user = store.create_user("alice", "a", 1);
  auto world = store.create_world(user.id, {"Eden", "", 42}, 1);
  auto simulation = store.create_simulation({world.id, user.id, 5, std::nullopt, 10}, 1);
  CHECK(simulation.max_events == 10);
  std::vector<domain::Event> events = {{1, "meet", {1, 2}, "A meets B"}, {2, "talk", {2, 1}, "B talks to A"}};
  store.append_events(simulation, std::span(events).first(1));
  CHECK(store.find_simulation(simulation.id)->events_written == 1);
  store.append_events(simulation, std::span(events).subspan(1));
  auto stored = store.find_simulation(simulation.id);
  CHECK(stored->events_written == 2);
  CHECK(stored->max_events == 10);
  CHECK(store.world_events(world.id) == 2);
  auto page = store.list_events(world.id, 0, 100, std::nullopt);
  REQUIRE(page.items.size() == 2);
  CHECK(page.items[0].kind == "meet");
  CHECK(page.items[0].actors == std::vector<std::int64_t>{1, 2});
  CHECK(page.items[1].text == "B talks to A");
  CHECK(page.items[1].tick == 2);
  auto after_first = store.list_events(world.id, page.items[0].id, 100, std::nullopt);
  REQUIRE(after_first.items.size() == 1);
  CHECK(after_first.items[0].id == page.items[1].id);
  CHECK(store.list_events(world.id, 0, 100, simulation.id + 1).items.empty());
}

TEST_CASE_TEMPLATE("Store: pending work is what is accepted and not yet done, with its job",
                   F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto user = store.create_user("alice", "a", 1);
  auto bob = store.create_user("bob", "b", 1);
  auto world = store.create_world(user.id, {"Eden", "", 42}, 1);
  auto other = store.create_world(bob.id, {"Other", "", 42}, 1);

  store.record_generation(world.id, store.next_generation(world.id), 30, 5, 1);
  store.record_generation(world.id, store.next_generation(world.id), 20, 6, 1);
  store.record_generation(other.id, store.next_generation(other.id), 10, 7, 1);
  auto generations = store.pending_generations(world.id);
  REQUIRE(generations.size() == 2);
  CHECK(generations[0].job_id == std::optional<std::int64_t>(5));
  CHECK(generations[0].amount == 30);
  store.finish_generation(world.id, 1, 2);
  generations = store.pending_generations(world.id);
  REQUIRE(generations.size() == 1);
  CHECK(generations[0].amount == 20);

  auto first = store.create_simulation({world.id, user.id, 5, std::nullopt, 80}, 1);
  store.set_simulation_job(first.id, 11);
  auto second = store.create_simulation({world.id, user.id, 5, std::nullopt, 40}, 1);
  store.create_simulation({other.id, bob.id, 5, std::nullopt, 99}, 1);
  std::vector<domain::Event> events(30, domain::Event{1, "meet", {1, 2}, "A meets B"});
  store.append_events(first, events);
  auto of_world = store.pending_simulations_of_world(world.id);
  REQUIRE(of_world.size() == 2);
  CHECK(of_world[0].job_id == std::optional<std::int64_t>(11));
  CHECK(of_world[0].amount == 50);  // 80 reserved, 30 written
  CHECK_FALSE(of_world[1].job_id);
  CHECK(of_world[1].amount == 40);
  CHECK(store.pending_simulations_of_user(user.id).size() == 2);
  store.finish_simulation(second.id, 0, std::nullopt, 2);
  CHECK(store.pending_simulations_of_user(user.id).size() == 1);
  CHECK(store.pending_simulations_of_user(bob.id).size() == 1);
  CHECK(store.world_events(world.id) == 30);
  CHECK(store.world_events(other.id) == 0);
}

TEST_CASE_TEMPLATE("Store: pending totals count only work whose job is queued or running",
                   F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  // One job per state; 99 is no job at all (pruned).
  f.connection.exec(
      "INSERT INTO jobs (id, type, state, run_at, created_at, updated_at, finished_at) VALUES "
      "(11, 'simulation.run', 'queued', 0, 0, 0, NULL), (12, 'simulation.run', 'running', 0, 0, 0, NULL), "
      "(13, 'simulation.run', 'succeeded', 0, 0, 0, 1), (14, 'simulation.run', 'dead', 0, 0, 0, 1), "
      "(15, 'simulation.run', 'canceled', 0, 0, 0, 1), (16, 'simulation.run', 'queued', 0, 0, 0, NULL)");
  auto user = store.create_user("alice", "a", 1);
  auto bob = store.create_user("bob", "b", 1);
  auto world = store.create_world(user.id, {"Eden", "", 42}, 1);
  auto second_world = store.create_world(user.id, {"Nod", "", 42}, 1);
  auto other = store.create_world(bob.id, {"Other", "", 42}, 1);

  auto simulation = [&](const store::World& in, const store::User& owner, std::int64_t max_events,
                        std::optional<std::int64_t> job) {
    auto created = store.create_simulation({in.id, owner.id, 5, std::nullopt, max_events}, 1);
    if (job) store.set_simulation_job(created.id, *job);
    return created;
  };
  auto queued = simulation(world, user, 80, 11);
  simulation(world, user, 40, 12);              // running: counts
  simulation(world, user, 1000, 13);            // its job succeeded, not yet marked complete: done
  simulation(world, user, 1000, 14);            // dead: gave its share back
  simulation(world, user, 1000, 15);            // canceled
  simulation(world, user, 1000, 99);            // its job was pruned
  simulation(world, user, 1000, std::nullopt);  // no job yet
  auto finished = simulation(second_world, user, 7, 16);
  simulation(other, bob, 5, 16);

  std::vector<domain::Event> events(30, domain::Event{1, "meet", {1, 2}, "A meets B"});
  store.append_events(queued, events);

  auto of_world = store.pending_simulation_total_of_world(world.id);
  CHECK(of_world.count == 2);
  CHECK(of_world.amount == 50 + 40);  // 80 reserved less 30 written, and 40
  auto of_user = store.pending_simulation_total_of_user(user.id);
  CHECK(of_user.count == 3);  // the second world's too
  CHECK(of_user.amount == 50 + 40 + 7);
  CHECK(store.pending_simulation_total_of_user(bob.id).count == 1);
  CHECK(store.pending_simulation_total_of_world(other.id).amount == 5);

  // A completed simulation no longer counts, whatever its job's state.
  store.finish_simulation(finished.id, 0, std::nullopt, 2);
  CHECK(store.pending_simulation_total_of_user(user.id).count == 2);
  CHECK(store.pending_simulation_total_of_world(second_world.id).count == 0);
  CHECK(store.pending_simulation_total_of_world(second_world.id).amount == 0);
  CHECK(store.pending_simulation_total_of_user(bob.id).count == 1);

  // A simulation that wrote past its reservation reserves nothing, never less.
  f.connection.exec("UPDATE simulations SET events_written = max_events + 5 WHERE job_id = 12");
  CHECK(store.pending_simulation_total_of_world(world.id).amount == 50);

  store.record_generation(world.id, store.next_generation(world.id), 30, 11, 1);
  store.record_generation(world.id, store.next_generation(world.id), 20, 12, 1);
  store.record_generation(world.id, store.next_generation(world.id), 60, 14, 1);  // dead
  store.record_generation(world.id, store.next_generation(world.id), 70, 99, 1);  // pruned
  store.record_generation(other.id, store.next_generation(other.id), 10, 16, 1);
  auto generations = store.pending_generation_total(world.id);
  CHECK(generations.count == 2);
  CHECK(generations.amount == 50);
  store.finish_generation(world.id, 1, 2);
  generations = store.pending_generation_total(world.id);
  CHECK(generations.count == 1);
  CHECK(generations.amount == 20);
  CHECK(store.pending_generation_total(other.id).amount == 10);
  CHECK(store.pending_generation_total(second_world.id).count == 0);
}

TEST_CASE_TEMPLATE("Store: the holdings kept on world and user rows follow every change of a simulation or its job",
                   F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  f.connection.exec(
      "INSERT INTO jobs (id, type, state, run_at, created_at, updated_at) VALUES "
      "(21, 'simulation.run', 'queued', 0, 0, 0), (22, 'simulation.run', 'queued', 0, 0, 0), "
      "(23, 'simulation.run', 'queued', 0, 0, 0), (24, 'noop', 'queued', 0, 0, 0)");
  auto user = store.create_user("alice", "a", 1);
  auto bob = store.create_user("bob", "b", 1);
  auto world = store.create_world(user.id, {"Eden", "", 42}, 1);
  auto other = store.create_world(bob.id, {"Other", "", 42}, 1);

  // The kept figures against the same ones added up from the rows.
  auto agree = [&](std::int64_t events, std::int64_t reserved, std::int64_t pending) {
    const auto held = store.world_holdings(world.id);
    CHECK(held.events == events);
    CHECK(held.reserved_events == reserved);
    CHECK(held.events == store.world_events(world.id));
    CHECK(held.reserved_events == store.pending_simulation_total_of_world(world.id).amount);
    CHECK(store.pending_simulation_count(user.id) == pending);
    CHECK(store.pending_simulation_count(user.id) == store.pending_simulation_total_of_user(user.id).count);
    const auto bobs = store.world_holdings(other.id);
    CHECK(bobs.reserved_events == store.pending_simulation_total_of_world(other.id).amount);
    CHECK(store.pending_simulation_count(bob.id) == store.pending_simulation_total_of_user(bob.id).count);
  };
  agree(0, 0, 0);

  auto first = store.create_simulation({world.id, user.id, 5, std::nullopt, 80}, 1);
  auto second = store.create_simulation({world.id, user.id, 5, std::nullopt, 40}, 1);
  auto third = store.create_simulation({world.id, user.id, 5, std::nullopt, 10}, 1);
  auto bobs = store.create_simulation({other.id, bob.id, 5, std::nullopt, 5}, 1);
  agree(0, 0, 0);  // no job yet: nothing can run
  store.set_simulation_job(first.id, 21);
  store.set_simulation_job(second.id, 22);
  store.set_simulation_job(third.id, 23);
  store.set_simulation_job(bobs.id, 24);
  agree(0, 130, 3);
  CHECK(store.pending_simulation_count(bob.id) == 1);

  std::vector<domain::Event> events(30, domain::Event{1, "meet", {1, 2}, "A meets B"});
  store.append_events(first, events);
  agree(30, 100, 3);
  f.connection.exec("UPDATE jobs SET state = 'running' WHERE id = 21");  // a claim: no change
  agree(30, 100, 3);
  f.connection.exec("UPDATE jobs SET state = 'dead', finished_at = 1 WHERE id = 22");
  agree(30, 60, 2);
  f.connection.exec("UPDATE jobs SET state = 'queued', finished_at = NULL WHERE id = 22");  // retried by hand
  agree(30, 100, 3);
  f.connection.exec("UPDATE jobs SET state = 'canceled', finished_at = 1 WHERE id = 23");
  agree(30, 90, 2);
  f.connection.exec("DELETE FROM jobs WHERE id = 22");  // pruned while queued
  agree(30, 50, 1);

  auto written = *store.find_simulation(first.id);
  store.append_events(written, std::span(events).first(10));
  agree(40, 40, 1);
  store.finish_simulation(first.id, 40, std::nullopt, 2);
  agree(40, 0, 0);
  f.connection.exec("UPDATE jobs SET state = 'succeeded', finished_at = 2 WHERE id = 21");
  agree(40, 0, 0);
  CHECK(store.pending_simulation_count(bob.id) == 1);
  CHECK(store.world_holdings(other.id).reserved_events == 5);

  // Purging a deleted world takes its simulations' shares with them.
  f.connection.exec("UPDATE jobs SET state = 'queued', finished_at = NULL WHERE id = 23");
  agree(40, 10, 1);
  REQUIRE(store.mark_world_deleted(user.id, world.id, 3));
  bool purged = false;
  for (int step = 0; step < 100 && !purged; ++step) purged = store.purge_world_step(world.id, 2).finished;
  REQUIRE(purged);
  CHECK(store.pending_simulation_count(user.id) == 0);
  CHECK(store.pending_simulation_count(bob.id) == 1);
}

TEST_CASE_TEMPLATE("Store: generation numbers count up per world", F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto user = store.create_user("alice", "a", 1);
  auto world = store.create_world(user.id, {"Eden", "", 42}, 1);
  auto other = store.create_world(user.id, {"Other", "", 42}, 1);
  CHECK(store.next_generation(world.id) == 1);
  CHECK(store.next_generation(world.id) == 2);
  CHECK(store.next_generation(other.id) == 1);
  CHECK_THROWS(store.next_generation(999));
}

TEST_CASE_TEMPLATE("Store: generated personas are counted by their world's generation",
                   F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto user = store.create_user("alice", "a", 1);
  auto world = store.create_world(user.id, {"Eden", "", 42}, 1);
  auto other = store.create_world(user.id, {"Other", "", 42}, 1);
  const store::PersonaOrigin first{store::PersonaSource::generated, 1, 7};
  CHECK(store.count_generation(world.id, 1) == 0);
  store.add_persona(world.id, persona("A", 80), first, 1);
  store.add_persona(world.id, persona("B"), first, 1);
  store.add_persona(world.id, persona("C"), store::PersonaOrigin{}, 1);
  CHECK(store.count_generation(world.id, 1) == 2);
  CHECK(store.count_generation(world.id, 2) == 0);
  CHECK(store.count_generation(other.id, 1) == 0);
  CHECK(store.count_personas(world.id) == 3);
  auto page = store.list_personas(world.id, 0, 10);
  REQUIRE(page.items.size() == 3);
  CHECK(page.items[0].traits.sociability == 80);
  CHECK(page.items[0].source == store::PersonaSource::generated);
  CHECK(page.items[0].generation == std::optional<std::int64_t>(1));
  CHECK(page.items[0].job_id == std::optional<std::int64_t>(7));
  CHECK(page.items[2].source == store::PersonaSource::manual);
  CHECK_FALSE(page.items[2].generation);
}

TEST_CASE_TEMPLATE("Store: ids of deleted worlds are never handed out again",
                   F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto user = store.create_user("alice", "a", 1);
  auto world = store.create_world(user.id, {"Eden", "", 42}, 1);
  auto simulation = store.create_simulation({world.id, user.id, 5, std::nullopt}, 1);
  REQUIRE(store.mark_world_deleted(user.id, world.id, 2));
  while (!store.purge_world_step(world.id, 1000).finished) {
  }
  CHECK(store.world_state(world.id) == store::WorldState::absent);
  auto next = store.create_world(user.id, {"Eden", "", 42}, 1);
  CHECK(next.id > world.id);
  CHECK(store.create_simulation({next.id, user.id, 5, std::nullopt}, 1).id > simulation.id);
}

TEST_CASE_TEMPLATE("Store: idempotency records are scoped per user and expire",
                   F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  store::IdempotencyRecord record{"POST", "/v1/worlds", "h1", 201, "{\"id\":1}", 1000};
  store.save_idempotency({1, "key"}, record, 0);
  auto found = store.find_idempotency({1, "key"}, 0);
  REQUIRE(found);
  CHECK(found->status == 201);
  CHECK(found->response == "{\"id\":1}");
  CHECK(found->request_hash == "h1");
  CHECK_FALSE(store.find_idempotency({2, "key"}, 0));
  CHECK_FALSE(store.find_idempotency({std::nullopt, "key"}, 0));
  // Past its lifetime the record is not found, and the key can be used again.
  CHECK_FALSE(store.find_idempotency({1, "key"}, 1001));
  record.request_hash = "h2";
  record.created_at_ms = 5000;
  store.save_idempotency({1, "key"}, record, 1001);
  auto renewed = store.find_idempotency({1, "key"}, 1001);
  REQUIRE(renewed);
  CHECK(renewed->request_hash == "h2");
}

TEST_CASE_TEMPLATE("Store: a broken rule or a missing table is no outage: neither counts as unavailable",
                   F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  store.create_user("alice", "a", 1);
  try {
    store.create_user("alice", "b", 1);  // UNIQUE(handle)
    FAIL("expected a constraint error");
  } catch (const std::exception& e) {
    CHECK(db::fault_of(e) == db::Fault::constraint);
    CHECK_FALSE(db::is_unavailable(e));
  }
  // A missing table (SQLITE_ERROR, SQLSTATE 42P01), which a SQL bug raises
  // too: an internal error, not "retry shortly".
  f.connection.exec("DROP TABLE events");
  try {
    store.list_events(1, 0, 10, std::nullopt);
    FAIL("expected an error");
  } catch (const std::exception& e) {
    CHECK(db::fault_of(e) == db::Fault::other);
    CHECK_FALSE(db::is_unavailable(e));
  }
}

TEST_CASE_TEMPLATE("Store: users are found by id and by handle", F, test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto alice = store.create_user("alice", "a", 1234);
  auto by_id = store.find_user(alice.id);
  REQUIRE(by_id);
  CHECK(by_id->handle == "alice");
  CHECK(by_id->created_at_ms == 1234);
  auto by_handle = store.find_user(std::string_view("alice"));
  REQUIRE(by_handle);
  CHECK(by_handle->id == alice.id);
  CHECK_FALSE(store.find_user(alice.id + 1));
  CHECK_FALSE(store.find_user(std::string_view("Alice")));
  auto credential = store.find_credential("a");
  REQUIRE(credential);
  CHECK(credential->token.name == "sign-up");
  CHECK(credential->token.user_id == alice.id);
  CHECK(credential->token.created_at_ms == 1234);
  CHECK_FALSE(credential->token.expires_at_ms);
}

TEST_CASE_TEMPLATE("Store: a write transaction keeps all of its writes or none", F, test::StoreFixture,
                   test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto user = store.create_user("alice", "a", 1);
  CHECK_THROWS_AS(f.write([&] {
    auto world = store.create_world(user.id, {"Eden", "", 42}, 1);
    store.add_persona(world.id, persona("A"), store::PersonaOrigin{}, 1);
    throw std::runtime_error("the request failed after its writes");
  }),
                  std::runtime_error);
  CHECK(store.count_worlds(user.id) == 0);
  CHECK(counts(store)["personas"] == 0);
  auto world = f.write([&] {
    auto created = store.create_world(user.id, {"Eden", "", 42}, 1);
    store.add_persona(created.id, persona("A"), store::PersonaOrigin{}, 1);
    return created;
  });
  REQUIRE(store.find_world(user.id, world.id));
  CHECK(store.find_world(user.id, world.id)->persona_count == 1);
}

TEST_CASE_TEMPLATE("Store: simulations page in id order, and a simulation's events are listed apart", F,
                   test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto user = store.create_user("alice", "a", 1);
  auto world = store.create_world(user.id, {"Eden", "", 42}, 1);
  auto other = store.create_world(user.id, {"Other", "", 42}, 1);
  auto first = store.create_simulation({world.id, user.id, 5, std::nullopt, 10}, 1);
  auto second = store.create_simulation({world.id, user.id, 6, std::nullopt, 10}, 2);
  store.create_simulation({other.id, user.id, 5, std::nullopt, 10}, 1);
  auto third = store.create_simulation({world.id, user.id, 7, std::nullopt, 10}, 3);
  store.set_simulation_job(second.id, 21);

  auto page = store.list_simulations(world.id, 0, 2);
  REQUIRE(page.items.size() == 2);
  CHECK(page.items[0].id == first.id);
  CHECK(page.items[1].id == second.id);
  CHECK(page.items[1].ticks == 6);
  CHECK(page.items[1].number == 2);
  CHECK(page.items[1].job_id == std::optional<std::int64_t>(21));
  CHECK(page.items[1].created_at_ms == 2);
  REQUIRE(page.next_after);
  auto rest = store.list_simulations(world.id, *page.next_after, 2);
  REQUIRE(rest.items.size() == 1);
  CHECK(rest.items[0].id == third.id);
  CHECK(rest.items[0].number == 3);
  CHECK_FALSE(rest.next_after);

  std::vector<domain::Event> events = {{1, "meet", {1, 2}, "A meets B"}, {1, "talk", {2, 1}, "B talks to A"}};
  store.append_events(first, events);
  store.append_events(second, std::span(events).first(1));
  store.append_events(first, std::span(events).first(1));
  auto of_first = store.list_events(world.id, 0, 2, first.id);
  REQUIRE(of_first.items.size() == 2);
  CHECK(of_first.items[0].simulation_id == first.id);
  CHECK(of_first.items[1].kind == "talk");
  REQUIRE(of_first.next_after);
  auto of_first_rest = store.list_events(world.id, *of_first.next_after, 2, first.id);
  REQUIRE(of_first_rest.items.size() == 1);
  CHECK(of_first_rest.items[0].kind == "meet");
  CHECK(of_first_rest.items[0].world_id == world.id);
  CHECK_FALSE(of_first_rest.next_after);
  auto of_second = store.list_events(world.id, 0, 10, second.id);
  REQUIRE(of_second.items.size() == 1);
  CHECK(of_second.items[0].simulation_id == second.id);
  CHECK(store.list_events(world.id, 0, 10, std::nullopt).items.size() == 4);
  CHECK(store.list_events(other.id, 0, 10, std::nullopt).items.empty());
  CHECK(store.world_events(world.id) == 4);

  store.finish_simulation(first.id, 3, 99, 50);
  auto finished = store.find_simulation(first.id);
  REQUIRE(finished);
  CHECK(finished->event_count == std::optional<std::int64_t>(3));
  CHECK(finished->webhook_job_id == std::optional<std::int64_t>(99));
  CHECK(finished->completed_at_ms == std::optional<std::int64_t>(50));
  // A later finish without a webhook job keeps the one recorded.
  store.finish_simulation(first.id, 3, std::nullopt, 60);
  CHECK(store.find_simulation(first.id)->webhook_job_id == std::optional<std::int64_t>(99));
}

TEST_CASE_TEMPLATE("Store: a persona or a simulation for a missing world is refused", F, test::StoreFixture,
                   test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto user = store.create_user("alice", "a", 1);
  try {
    store.add_persona(999, persona("A"), store::PersonaOrigin{}, 1);
    FAIL("expected a constraint error");
  } catch (const std::exception& e) {
    CHECK(db::fault_of(e) == db::Fault::constraint);
  }
  CHECK_THROWS(store.create_simulation({999, user.id, 5, std::nullopt, 10}, 1));
  CHECK(counts(store)["personas"] == 0);
  CHECK(counts(store)["simulations"] == 0);
}

TEST_CASE_TEMPLATE("Store: a live idempotency key is saved once, and saves expire old records 100 at a time", F,
                   test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  store::IdempotencyRecord record{"POST", "/v1/worlds", "h1", 201, "{}", 1000};
  store.save_idempotency({1, "key"}, record, 0);
  try {
    store.save_idempotency({1, "key"}, record, 0);
    FAIL("expected a constraint error");
  } catch (const std::exception& e) {
    CHECK(db::fault_of(e) == db::Fault::constraint);
  }
  // The same key without a user is another scope.
  store.save_idempotency({std::nullopt, "key"}, record, 0);
  CHECK(store.find_idempotency({std::nullopt, "key"}, 0));

  for (int i = 0; i < 150; ++i) {
    record.created_at_ms = i;
    store.save_idempotency({2, "old-" + std::to_string(i)}, record, 0);
  }
  CHECK(counts(store)["idempotency_keys"] == 152);
  record.created_at_ms = 1000;
  store.save_idempotency({3, "new"}, record, 500);
  CHECK(counts(store)["idempotency_keys"] == 53);  // the 100 oldest gone
  CHECK_FALSE(store.find_idempotency({2, "old-99"}, 0));
  CHECK(store.find_idempotency({2, "old-100"}, 0));
  store.save_idempotency({3, "newer"}, record, 500);
  CHECK(counts(store)["idempotency_keys"] == 4);
  CHECK(store.find_idempotency({1, "key"}, 500));
}

TEST_CASE_TEMPLATE("Tokens: a user's tokens are listed in id order, counted, and revoked by their owner only", F,
                   test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto& tokens = f.tokens();
  auto alice = store.create_user("alice", "hash-a", 1);
  auto bob = store.create_user("bob", "hash-b", 1);
  auto ci = tokens.create({alice.id, "ci", "hash-ci", 5000}, 10);
  CHECK(ci.id > 0);
  CHECK(ci.user_id == alice.id);
  CHECK(ci.name == "ci");
  CHECK(ci.created_at_ms == 10);
  CHECK(ci.expires_at_ms == std::optional<std::int64_t>(5000));
  CHECK_FALSE(ci.last_used_at_ms);
  auto laptop = tokens.create({alice.id, "laptop", "hash-laptop", std::nullopt}, 20);
  CHECK(laptop.id > ci.id);
  CHECK(tokens.count(alice.id) == 3);
  CHECK(tokens.count(bob.id) == 1);

  auto first = tokens.list(alice.id, 0, 2);
  REQUIRE(first.items.size() == 2);
  CHECK(first.items[0].name == "sign-up");
  CHECK(first.items[1].id == ci.id);
  CHECK(first.items[1].expires_at_ms == std::optional<std::int64_t>(5000));
  CHECK(first.items[1].created_at_ms == 10);
  REQUIRE(first.next_after);
  auto second = tokens.list(alice.id, *first.next_after, 2);
  REQUIRE(second.items.size() == 1);
  CHECK(second.items[0].id == laptop.id);
  CHECK_FALSE(second.items[0].expires_at_ms);
  CHECK_FALSE(second.next_after);

  auto credential = store.find_credential("hash-ci");
  REQUIRE(credential);
  CHECK(credential->user.id == alice.id);
  CHECK(credential->token.id == ci.id);
  CHECK(credential->token.expires_at_ms == std::optional<std::int64_t>(5000));

  CHECK_FALSE(tokens.revoke(bob.id, ci.id));
  CHECK(tokens.revoke(alice.id, ci.id));
  CHECK_FALSE(tokens.revoke(alice.id, ci.id));
  CHECK_FALSE(store.find_credential("hash-ci"));
  CHECK(tokens.count(alice.id) == 2);
  CHECK(store.find_credential("hash-laptop"));

  try {
    tokens.create({bob.id, "copy", "hash-laptop", std::nullopt}, 30);
    FAIL("expected a constraint error");
  } catch (const std::exception& e) {
    CHECK(db::fault_of(e) == db::Fault::constraint);
  }
}

TEST_CASE_TEMPLATE("Tokens: a use is recorded at most once per resolution window, judged on the token as read", F,
                   test::StoreFixture, test::PostgresStoreFixture) {
  F f;
  auto& store = f.store();
  auto& tokens = f.tokens();
  store.create_user("alice", "hash-a", 1);
  auto last_used = [&] { return store.find_credential("hash-a")->token.last_used_at_ms; };
  const auto unused = store.find_credential("hash-a")->token;
  CHECK_FALSE(unused.last_used_at_ms);
  tokens.record_use(unused, 1000);
  CHECK(last_used() == std::optional<std::int64_t>(1000));
  const auto used = store.find_credential("hash-a")->token;
  tokens.record_use(used, 1000 + store::token_use_resolution_ms - 1);
  CHECK(last_used() == std::optional<std::int64_t>(1000));
  tokens.record_use(used, 1000 + store::token_use_resolution_ms);
  CHECK(last_used() == std::optional<std::int64_t>(1000 + store::token_use_resolution_ms));
  // The caller's copy decides, not the row: a copy read before any use writes.
  tokens.record_use(unused, 2000);
  CHECK(last_used() == std::optional<std::int64_t>(2000));
}
