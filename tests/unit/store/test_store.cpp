#include <doctest/doctest.h>

#include <map>

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
  CHECK_FALSE(store.delete_world(bob.id, world.id));
  CHECK(store.find_world(world.id));
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

TEST_CASE("Store: deleting a world removes its personas, simulations and events") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
  auto user = store.create_user("alice", "a", 1);
  auto world = store.create_world(user.id, {"Eden", "", 42}, 1);
  auto other = store.create_world(user.id, {"Other", "", 42}, 1);
  store.add_persona(world.id, persona("A"), store::PersonaOrigin{}, 1);
  store.add_persona(world.id, persona("B"), store::PersonaOrigin{}, 1);
  store.add_persona(other.id, persona("C"), store::PersonaOrigin{}, 1);
  auto simulation = store.create_simulation({world.id, user.id, 5, std::nullopt}, 1);
  store.replace_events(simulation, {{1, "meet", {1, 2}, "A meets B"}});
  CHECK(counts(store)["events"] == 1);
  CHECK(store.delete_world(user.id, world.id));
  auto after = counts(store);
  CHECK(after["worlds"] == 1);
  CHECK(after["personas"] == 1);
  CHECK(after["simulations"] == 0);
  CHECK(after["events"] == 0);
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

TEST_CASE("Store: replacing a simulation's events twice leaves one copy") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
  auto user = store.create_user("alice", "a", 1);
  auto world = store.create_world(user.id, {"Eden", "", 42}, 1);
  auto simulation = store.create_simulation({world.id, user.id, 5, std::nullopt}, 1);
  std::vector<domain::Event> events = {{1, "meet", {1, 2}, "A meets B"}, {2, "talk", {2, 1}, "B talks to A"}};
  store.replace_events(simulation, events);
  store.replace_events(simulation, events);
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
  REQUIRE(store.delete_world(user.id, world.id));
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

TEST_CASE("Store: a database error about the database counts as unavailable, a constraint does not") {
  test::MigratedDatabase database;
  db::Connection connection(database.config);
  store::Store store(connection);
  store.create_user("alice", "a", 1);
  try {
    store.create_user("alice", "b", 1);  // UNIQUE(handle)
    FAIL("expected a constraint error");
  } catch (const std::exception& e) {
    CHECK_FALSE(store::is_database_unavailable(e));
  }
  connection.sql().exec("DROP TABLE events");
  try {
    store.list_events(1, 0, 10, std::nullopt);
    FAIL("expected an error");
  } catch (const std::exception& e) {
    CHECK(store::is_database_unavailable(e));
  }
  CHECK_FALSE(store::is_database_unavailable(std::runtime_error("not a database error")));
}
