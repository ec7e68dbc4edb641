#include "store/sqlite/store.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <stdexcept>

#include "db/statement.hpp"
#include "store/sqlite/read_page.hpp"

namespace pw::store {
namespace {

constexpr const char* kWorldColumns =
    "w.id, w.user_id, w.name, w.description, w.seed, "
    "(SELECT COUNT(*) FROM personas p WHERE p.world_id = w.id), w.generations, w.simulations, w.created_at";

World read_world(db::Statement& query) {
  World world;
  world.id = query.int64(0);
  world.user_id = query.int64(1);
  world.name = query.text(2);
  world.description = query.text(3);
  world.seed = static_cast<std::uint64_t>(query.int64(4));
  world.persona_count = query.int64(5);
  world.generations = query.int64(6);
  world.simulations = query.int64(7);
  world.created_at_ms = query.int64(8);
  return world;
}

constexpr const char* kPersonaColumns =
    "id, world_id, name, sociability, generosity, aggression, curiosity, loyalty, source, generation, job_id, "
    "created_at";

StoredPersona read_persona(db::Statement& query) {
  StoredPersona persona;
  persona.id = query.int64(0);
  persona.world_id = query.int64(1);
  persona.name = query.text(2);
  persona.traits.sociability = query.int32(3);
  persona.traits.generosity = query.int32(4);
  persona.traits.aggression = query.int32(5);
  persona.traits.curiosity = query.int32(6);
  persona.traits.loyalty = query.int32(7);
  persona.source = query.text(8) == "generated" ? PersonaSource::generated : PersonaSource::manual;
  persona.generation = query.optional_int64(9);
  persona.job_id = query.optional_int64(10);
  persona.created_at_ms = query.int64(11);
  return persona;
}

constexpr const char* kSimulationColumns =
    "id, world_id, user_id, number, ticks, callback_url, persona_bound, job_id, webhook_job_id, "
    "event_count, created_at, completed_at, events_written, max_events";

// Simulations of deleted worlds are gone with their world.
constexpr const char* kLiveWorld =
    " AND EXISTS (SELECT 1 FROM worlds w WHERE w.id = simulations.world_id AND w.deleted_at IS NULL)";

Simulation read_simulation(db::Statement& query) {
  Simulation simulation;
  simulation.id = query.int64(0);
  simulation.world_id = query.int64(1);
  simulation.user_id = query.int64(2);
  simulation.number = query.int64(3);
  simulation.ticks = query.int32(4);
  simulation.callback_url = query.optional_text(5);
  simulation.persona_bound = query.int64(6);
  simulation.job_id = query.optional_int64(7);
  simulation.webhook_job_id = query.optional_int64(8);
  simulation.event_count = query.optional_int64(9);
  simulation.created_at_ms = query.int64(10);
  simulation.completed_at_ms = query.optional_int64(11);
  simulation.events_written = query.int64(12);
  simulation.max_events = query.int64(13);
  return simulation;
}

}  // namespace

std::string_view to_string(PersonaSource source) {
  return source == PersonaSource::generated ? "generated" : "manual";
}

// ---- users ----

std::optional<Store::Credential> SqliteStore::find_credential(std::string_view token_hash) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection,
                      "SELECT u.id, u.handle, u.created_at, t.token_hash, t.id, t.name, t.created_at, "
                      "t.last_used_at, t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id "
                      "WHERE t.token_hash = ?");
  query.bind(1, token_hash);
  if (!query.step()) return std::nullopt;
  Credential credential;
  credential.user.id = query.int64(0);
  credential.user.handle = query.text(1);
  credential.user.created_at_ms = query.int64(2);
  credential.token_hash = query.text(3);
  credential.token.id = query.int64(4);
  credential.token.user_id = credential.user.id;
  credential.token.name = query.text(5);
  credential.token.created_at_ms = query.int64(6);
  credential.token.last_used_at_ms = query.optional_int64(7);
  credential.token.expires_at_ms = query.optional_int64(8);
  return credential;
}

std::optional<User> SqliteStore::find_user(std::string_view handle) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT id, handle, created_at FROM users WHERE handle = ?");
  query.bind(1, handle);
  if (!query.step()) return std::nullopt;
  return User{query.int64(0), query.text(1), query.int64(2)};
}

std::optional<User> SqliteStore::find_user(std::int64_t user_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT id, handle, created_at FROM users WHERE id = ?");
  query.bind(1, user_id);
  if (!query.step()) return std::nullopt;
  return User{query.int64(0), query.text(1), query.int64(2)};
}

bool SqliteStore::handle_exists(std::string_view handle) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT 1 FROM users WHERE handle = ?");
  query.bind(1, handle);
  return query.step();
}

User SqliteStore::create_user(std::string_view handle, std::string_view token_hash, std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  db::Statement insert(m_connection, "INSERT INTO users (handle, created_at) VALUES (?, ?)");
  insert.bind(1, handle);
  insert.bind(2, now_ms);
  insert.exec();
  User user{m_connection.last_insert_rowid(), std::string(handle), now_ms};
  SqliteTokens(m_connection).create(NewToken{user.id, "sign-up", std::string(token_hash), std::nullopt}, now_ms);
  return user;
}

// ---- worlds ----

World SqliteStore::create_world(std::int64_t user_id, const NewWorld& world, std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  db::Statement insert(m_connection, "INSERT INTO worlds (user_id, name, description, seed, created_at) "
                           "VALUES (?, ?, ?, ?, ?)");
  insert.bind(1, user_id);
  insert.bind(2, world.name);
  insert.bind(3, world.description);
  insert.bind(4, static_cast<std::int64_t>(world.seed));
  insert.bind(5, now_ms);
  insert.exec();
  const auto id = m_connection.last_insert_rowid();
  // count_worlds() reads this: one row, not one per world the user holds.
  db::Statement count(m_connection, "UPDATE users SET live_worlds = live_worlds + 1 WHERE id = ?");
  count.bind(1, user_id);
  count.exec();
  World created;
  created.id = id;
  created.user_id = user_id;
  created.name = world.name;
  created.description = world.description;
  created.seed = world.seed;
  created.created_at_ms = now_ms;
  return created;
}

std::optional<World> SqliteStore::find_world(std::int64_t user_id, std::int64_t world_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, std::string("SELECT ") + kWorldColumns +
                                                  " FROM worlds w WHERE w.id = ? AND w.user_id = ? AND w.deleted_at IS NULL");
  query.bind(1, world_id);
  query.bind(2, user_id);
  if (!query.step()) return std::nullopt;
  return read_world(query);
}

std::optional<World> SqliteStore::find_world(std::int64_t world_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, std::string("SELECT ") + kWorldColumns + " FROM worlds w WHERE w.id = ? AND w.deleted_at IS NULL");
  query.bind(1, world_id);
  if (!query.step()) return std::nullopt;
  return read_world(query);
}

Page<World> SqliteStore::list_worlds(std::int64_t user_id, std::int64_t after_id, int limit) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, std::string("SELECT ") + kWorldColumns +
                              " FROM worlds w WHERE w.user_id = ? AND w.id > ? AND w.deleted_at IS NULL ORDER BY w.id LIMIT ?");
  query.bind(1, user_id);
  query.bind(2, after_id);
  query.bind(3, limit + 1);
  return read_page<World>(query, limit, read_world, [](const World& w) { return w.id; });
}

std::int64_t SqliteStore::next_generation(std::int64_t world_id) {
  auto timer = m_connection.time_query();
  db::Statement update(m_connection, "UPDATE worlds SET generations = generations + 1 WHERE id = ? RETURNING generations");
  update.bind(1, world_id);
  if (!update.step()) throw std::runtime_error("world " + std::to_string(world_id) + " does not exist");
  std::int64_t number = update.int64(0);
  while (update.step()) {
  }
  return number;
}

// ---- personas ----

std::int64_t SqliteStore::count_personas(std::int64_t world_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT COUNT(*) FROM personas WHERE world_id = ?");
  query.bind(1, world_id);
  query.step();
  return query.int64(0);
}

StoredPersona SqliteStore::add_persona(std::int64_t world_id, const domain::NewPersona& persona,
                                 const PersonaOrigin& origin, std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  db::Statement insert(m_connection, "INSERT INTO personas (world_id, name, sociability, generosity, aggression, curiosity, "
                           "loyalty, source, generation, job_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  insert.bind(1, world_id);
  insert.bind(2, persona.name);
  insert.bind(3, persona.traits.sociability);
  insert.bind(4, persona.traits.generosity);
  insert.bind(5, persona.traits.aggression);
  insert.bind(6, persona.traits.curiosity);
  insert.bind(7, persona.traits.loyalty);
  insert.bind(8, to_string(origin.source));
  insert.bind(9, origin.generation);
  insert.bind(10, origin.job_id);
  insert.bind(11, now_ms);
  insert.exec();
  return StoredPersona{m_connection.last_insert_rowid(),
                       world_id,
                       persona.name,
                       persona.traits,
                       origin.source,
                       origin.generation,
                       origin.job_id,
                       now_ms};
}

Page<StoredPersona> SqliteStore::list_personas(std::int64_t world_id, std::int64_t after_id, int limit) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, std::string("SELECT ") + kPersonaColumns +
                                                  " FROM personas WHERE world_id = ? AND id > ? ORDER BY id LIMIT ?");
  query.bind(1, world_id);
  query.bind(2, after_id);
  query.bind(3, limit + 1);
  return read_page<StoredPersona>(query, limit, read_persona, [](const StoredPersona& p) { return p.id; });
}

std::int64_t SqliteStore::count_generation(std::int64_t world_id, std::int64_t generation) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT COUNT(*) FROM personas WHERE world_id = ? AND generation = ?");
  query.bind(1, world_id);
  query.bind(2, generation);
  query.step();
  return query.int64(0);
}

std::vector<domain::Persona> SqliteStore::personas_up_to(std::int64_t world_id, std::int64_t bound) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, std::string("SELECT ") + kPersonaColumns +
                                                  " FROM personas WHERE world_id = ? AND id <= ? ORDER BY id");
  query.bind(1, world_id);
  query.bind(2, bound);
  std::vector<domain::Persona> personas;
  while (query.step()) {
    auto stored = read_persona(query);
    personas.push_back(domain::Persona{stored.id, std::move(stored.name), stored.traits});
  }
  return personas;
}

// ---- simulations ----

Simulation SqliteStore::create_simulation(const NewSimulation& simulation, std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  std::int64_t number = 0;
  {
    db::Statement update(m_connection, "UPDATE worlds SET simulations = simulations + 1 WHERE id = ? RETURNING simulations");
    update.bind(1, simulation.world_id);
    if (!update.step()) {
      throw std::runtime_error("world " + std::to_string(simulation.world_id) + " does not exist");
    }
    number = update.int64(0);
    while (update.step()) {
    }
  }
  std::int64_t bound = 0;
  {
    db::Statement query(m_connection, "SELECT COALESCE(MAX(id), 0) FROM personas WHERE world_id = ?");
    query.bind(1, simulation.world_id);
    query.step();
    bound = query.int64(0);
  }
  db::Statement insert(m_connection, "INSERT INTO simulations (world_id, user_id, number, ticks, callback_url, persona_bound, "
                           "created_at, max_events) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  insert.bind(1, simulation.world_id);
  insert.bind(2, simulation.user_id);
  insert.bind(3, number);
  insert.bind(4, simulation.ticks);
  insert.bind(5, simulation.callback_url);
  insert.bind(6, bound);
  insert.bind(7, now_ms);
  insert.bind(8, simulation.max_events);
  insert.exec();
  Simulation created;
  created.id = m_connection.last_insert_rowid();
  created.world_id = simulation.world_id;
  created.user_id = simulation.user_id;
  created.number = number;
  created.ticks = simulation.ticks;
  created.callback_url = simulation.callback_url;
  created.persona_bound = bound;
  created.max_events = simulation.max_events;
  created.created_at_ms = now_ms;
  return created;
}

void SqliteStore::set_simulation_job(std::int64_t simulation_id, std::int64_t job_id) {
  auto timer = m_connection.time_query();
  db::Statement update(m_connection, "UPDATE simulations SET job_id = ? WHERE id = ?");
  update.bind(1, job_id);
  update.bind(2, simulation_id);
  update.exec();
}

std::optional<Simulation> SqliteStore::find_simulation(std::int64_t simulation_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, std::string("SELECT ") + kSimulationColumns + " FROM simulations WHERE id = ?" + kLiveWorld);
  query.bind(1, simulation_id);
  if (!query.step()) return std::nullopt;
  return read_simulation(query);
}

std::optional<Simulation> SqliteStore::find_simulation(std::int64_t world_id, std::int64_t simulation_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, std::string("SELECT ") + kSimulationColumns +
                                                  " FROM simulations WHERE id = ? AND world_id = ?" + kLiveWorld);
  query.bind(1, simulation_id);
  query.bind(2, world_id);
  if (!query.step()) return std::nullopt;
  return read_simulation(query);
}

Page<Simulation> SqliteStore::list_simulations(std::int64_t world_id, std::int64_t after_id, int limit) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, std::string("SELECT ") + kSimulationColumns +
                              " FROM simulations WHERE world_id = ? AND id > ? ORDER BY id LIMIT ?");
  query.bind(1, world_id);
  query.bind(2, after_id);
  query.bind(3, limit + 1);
  return read_page<Simulation>(query, limit, read_simulation, [](const Simulation& s) { return s.id; });
}

void SqliteStore::append_events(const Simulation& simulation, std::span<const domain::Event> events) {
  auto timer = m_connection.time_query();
  db::Statement insert(m_connection, "INSERT INTO events (world_id, simulation_id, tick, kind, actors, text) "
                           "VALUES (?, ?, ?, ?, ?, ?)");
  for (const auto& event : events) {
    insert.reset();
    insert.bind(1, simulation.world_id);
    insert.bind(2, simulation.id);
    insert.bind(3, event.tick);
    insert.bind(4, event.kind);
    insert.bind(5, nlohmann::json(event.actors).dump());
    insert.bind(6, event.text);
    insert.exec();
  }
  db::Statement count(m_connection, "UPDATE simulations SET events_written = events_written + ? WHERE id = ?");
  count.bind(1, static_cast<std::int64_t>(events.size()));
  count.bind(2, simulation.id);
  count.exec();
}

void SqliteStore::finish_simulation(std::int64_t simulation_id, std::int64_t event_count,
                              std::optional<std::int64_t> webhook_job_id, std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  db::Statement update(m_connection, "UPDATE simulations SET event_count = ?, webhook_job_id = COALESCE(?, webhook_job_id), "
                           "completed_at = ? WHERE id = ?");
  update.bind(1, event_count);
  update.bind(2, webhook_job_id);
  update.bind(3, now_ms);
  update.bind(4, simulation_id);
  update.exec();
}

// ---- events ----

Page<StoredEvent> SqliteStore::list_events(std::int64_t world_id, std::int64_t after_id, int limit,
                                     std::optional<std::int64_t> simulation_id) {
  auto timer = m_connection.time_query();
  std::string sql =
      "SELECT id, world_id, simulation_id, tick, kind, actors, text FROM events WHERE world_id = ? AND id > ?";
  if (simulation_id) sql += " AND simulation_id = ?";
  sql += " ORDER BY id LIMIT ?";
  db::Statement query(m_connection, sql);
  int index = 1;
  query.bind(index++, world_id);
  query.bind(index++, after_id);
  if (simulation_id) query.bind(index++, *simulation_id);
  query.bind(index, limit + 1);
  auto read = [](db::Statement& row) {
    StoredEvent event;
    event.id = row.int64(0);
    event.world_id = row.int64(1);
    event.simulation_id = row.int64(2);
    event.tick = row.int32(3);
    event.kind = row.text(4);
    auto actors = nlohmann::json::parse(row.text(5), nullptr, false);
    if (actors.is_array()) {
      for (const auto& actor : actors) {
        if (actor.is_number_integer()) event.actors.push_back(actor.get<std::int64_t>());
      }
    }
    event.text = row.text(6);
    return event;
  };
  return read_page<StoredEvent>(query, limit, read, [](const StoredEvent& e) { return e.id; });
}

// ---- idempotency ----

std::optional<IdempotencyRecord> SqliteStore::find_idempotency(const IdempotencyScope& scope,
                                                         std::int64_t not_before_ms) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT method, route, request_hash, status, response, created_at FROM idempotency_keys "
                          "WHERE user_id = ? AND key = ? AND created_at >= ?");
  query.bind(1, scope.user_id.value_or(0));
  query.bind(2, scope.key);
  query.bind(3, not_before_ms);
  if (!query.step()) return std::nullopt;
  IdempotencyRecord record;
  record.method = query.text(0);
  record.route = query.text(1);
  record.request_hash = query.text(2);
  record.status = query.int32(3);
  record.response = query.text(4);
  record.created_at_ms = query.int64(5);
  return record;
}

void SqliteStore::save_idempotency(const IdempotencyScope& scope, const IdempotencyRecord& record,
                             std::int64_t not_before_ms) {
  auto timer = m_connection.time_query();
  // Expire a bounded number of old records on each save, so the table stays
  // small without a separate sweeper; an expired record under this very key
  // goes too, making room for the new one.
  {
    db::Statement expire(m_connection, "DELETE FROM idempotency_keys WHERE id IN (SELECT id FROM idempotency_keys "
                             "WHERE created_at < ? ORDER BY created_at LIMIT 100)");
    expire.bind(1, not_before_ms);
    expire.exec();
  }
  {
    db::Statement expire_key(m_connection, "DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? AND created_at < ?");
    expire_key.bind(1, scope.user_id.value_or(0));
    expire_key.bind(2, scope.key);
    expire_key.bind(3, not_before_ms);
    expire_key.exec();
  }
  db::Statement insert(m_connection, "INSERT INTO idempotency_keys (user_id, key, method, route, request_hash, status, "
                           "response, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  insert.bind(1, scope.user_id.value_or(0));
  insert.bind(2, scope.key);
  insert.bind(3, record.method);
  insert.bind(4, record.route);
  insert.bind(5, record.request_hash);
  insert.bind(6, record.status);
  insert.bind(7, record.response);
  insert.bind(8, record.created_at_ms);
  insert.exec();
}

std::vector<std::pair<std::string, std::int64_t>> SqliteStore::table_counts() {
  static constexpr std::array<const char*, 6> tables{"users",       "worlds", "personas",
                                                     "simulations", "events", "idempotency_keys"};
  std::vector<std::pair<std::string, std::int64_t>> counts;
  for (const char* table : tables) {
    db::Statement query(m_connection, std::string("SELECT COUNT(*) FROM ") + table);
    query.step();
    counts.emplace_back(table, query.int64(0));
  }
  return counts;
}

}  // namespace pw::store
