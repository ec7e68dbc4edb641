#include <doctest/doctest.h>

#include <map>
#include <span>

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

TEST_CASE("Store: a user is found by the hash of its token, not by anything else") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
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

TEST_CASE("Store: a world belongs to its user, another user sees nothing") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
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

TEST_CASE("Store: strings are stored verbatim, SQL metacharacters and all") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
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

TEST_CASE("Store: worlds page in id order with a cursor") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
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

TEST_CASE("Store: a deleted world vanishes from every read at once: purging removes its rows in bounded steps") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
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

TEST_CASE("Store: a simulation is numbered within its world and bounded to the personas of its time") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
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

TEST_CASE("Store: events are appended in order and counted as written") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
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

TEST_CASE("Store: pending work is what is accepted and not yet done, with its job") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
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

TEST_CASE("Store: generation numbers count up per world") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
  auto user = store.create_user("alice", "a", 1);
  auto world = store.create_world(user.id, {"Eden", "", 42}, 1);
  auto other = store.create_world(user.id, {"Other", "", 42}, 1);
  CHECK(store.next_generation(world.id) == 1);
  CHECK(store.next_generation(world.id) == 2);
  CHECK(store.next_generation(other.id) == 1);
  CHECK_THROWS(store.next_generation(999));
}

TEST_CASE("Store: generated personas are counted by their world's generation") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
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

TEST_CASE("Store: ids of deleted worlds are never handed out again") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
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

TEST_CASE("Store: idempotency records are scoped per user and expire") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
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

TEST_CASE("Store: a broken rule or a missing table is no outage: neither counts as unavailable") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
  store.create_user("alice", "a", 1);
  try {
    store.create_user("alice", "b", 1);  // UNIQUE(handle)
    FAIL("expected a constraint error");
  } catch (const std::exception& e) {
    CHECK(db::fault_of(e) == db::Fault::constraint);
    CHECK_FALSE(db::is_unavailable(e));
  }
  // SQLITE_ERROR, which a SQL bug raises too: an internal error, not "retry shortly".
  connection.exec("DROP TABLE events");
  try {
    store.list_events(1, 0, 10, std::nullopt);
    FAIL("expected an error");
  } catch (const std::exception& e) {
    CHECK(db::fault_of(e) == db::Fault::other);
    CHECK_FALSE(db::is_unavailable(e));
  }
}
