#include "store/store.hpp"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <array>
#include <stdexcept>

namespace pw::store {
namespace {

constexpr const char* kWorldColumns =
    "w.id, w.user_id, w.name, w.description, w.seed, "
    "(SELECT COUNT(*) FROM personas p WHERE p.world_id = w.id), w.generations, w.simulations, w.created_at";

World read_world(SQLite::Statement& query) {
  World world;
  world.id = query.getColumn(0).getInt64();
  world.user_id = query.getColumn(1).getInt64();
  world.name = query.getColumn(2).getString();
  world.description = query.getColumn(3).getString();
  world.seed = static_cast<std::uint64_t>(query.getColumn(4).getInt64());
  world.persona_count = query.getColumn(5).getInt64();
  world.generations = query.getColumn(6).getInt64();
  world.simulations = query.getColumn(7).getInt64();
  world.created_at_ms = query.getColumn(8).getInt64();
  return world;
}

std::optional<std::int64_t> optional_int64(const SQLite::Column& column) {
  if (column.isNull()) return std::nullopt;
  return column.getInt64();
}

constexpr const char* kPersonaColumns =
    "id, world_id, name, sociability, generosity, aggression, curiosity, loyalty, source, generation, job_id, "
    "created_at";

StoredPersona read_persona(SQLite::Statement& query) {
  StoredPersona persona;
  persona.id = query.getColumn(0).getInt64();
  persona.world_id = query.getColumn(1).getInt64();
  persona.name = query.getColumn(2).getString();
  persona.traits.sociability = query.getColumn(3).getInt();
  persona.traits.generosity = query.getColumn(4).getInt();
  persona.traits.aggression = query.getColumn(5).getInt();
  persona.traits.curiosity = query.getColumn(6).getInt();
  persona.traits.loyalty = query.getColumn(7).getInt();
  persona.source = query.getColumn(8).getString() == "generated" ? PersonaSource::generated : PersonaSource::manual;
  persona.generation = optional_int64(query.getColumn(9));
  persona.job_id = optional_int64(query.getColumn(10));
  persona.created_at_ms = query.getColumn(11).getInt64();
  return persona;
}

constexpr const char* kSimulationColumns =
    "id, world_id, user_id, number, ticks, callback_url, persona_bound, job_id, webhook_job_id, "
    "event_count, created_at, completed_at, events_written, max_events";

// Simulations of deleted worlds are gone with their world.
constexpr const char* kLiveWorld =
    " AND EXISTS (SELECT 1 FROM worlds w WHERE w.id = simulations.world_id AND w.deleted_at IS NULL)";

Simulation read_simulation(SQLite::Statement& query) {
  Simulation simulation;
  simulation.id = query.getColumn(0).getInt64();
  simulation.world_id = query.getColumn(1).getInt64();
  simulation.user_id = query.getColumn(2).getInt64();
  simulation.number = query.getColumn(3).getInt64();
  simulation.ticks = query.getColumn(4).getInt();
  if (!query.getColumn(5).isNull()) simulation.callback_url = query.getColumn(5).getString();
  simulation.persona_bound = query.getColumn(6).getInt64();
  simulation.job_id = optional_int64(query.getColumn(7));
  simulation.webhook_job_id = optional_int64(query.getColumn(8));
  simulation.event_count = optional_int64(query.getColumn(9));
  simulation.created_at_ms = query.getColumn(10).getInt64();
  simulation.completed_at_ms = optional_int64(query.getColumn(11));
  simulation.events_written = query.getColumn(12).getInt64();
  simulation.max_events = query.getColumn(13).getInt64();
  return simulation;
}

// Binds text by pointer and length, so embedded NULs and any bytes are kept
// exactly (SQLiteCpp's std::string overload does the same; this makes it
// explicit for string_view).
void bind_text(SQLite::Statement& query, int index, std::string_view text) {
  query.bind(index, std::string(text));
}

void bind_optional(SQLite::Statement& query, int index, const std::optional<std::int64_t>& value) {
  if (value) {
    query.bind(index, *value);
  } else {
    query.bind(index);
  }
}

// Runs `query` (already bound, selecting `limit + 1` rows) into a page.
template <class T, class Read, class IdOf>
Page<T> read_page(SQLite::Statement& query, int limit, Read read, IdOf id_of) {
  Page<T> page;
  while (query.executeStep()) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_after = id_of(page.items.back());
      break;
    }
    page.items.push_back(read(query));
  }
  return page;
}

}  // namespace

bool is_database_unavailable(const std::exception& error) {
  const auto* sqlite = dynamic_cast<const SQLite::Exception*>(&error);
  if (sqlite == nullptr) return false;
  switch (sqlite->getErrorCode() & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
    case SQLITE_PROTOCOL:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
    case SQLITE_SCHEMA:
    case SQLITE_NOLFS:
    case SQLITE_INTERRUPT:
    // "no such table": the schema is missing or behind (migrations not run).
    case SQLITE_ERROR:
      return true;
    default:
      return false;  // constraint, misuse, range, mismatch: a bug, not an outage
  }
}

std::string_view to_string(PersonaSource source) {
  return source == PersonaSource::generated ? "generated" : "manual";
}

// ---- users ----

std::optional<Store::Credential> Store::find_credential(std::string_view token_hash) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(),
                          "SELECT id, handle, created_at, token_hash FROM users WHERE token_hash = ?");
  bind_text(query, 1, token_hash);
  if (!query.executeStep()) return std::nullopt;
  Credential credential;
  credential.user.id = query.getColumn(0).getInt64();
  credential.user.handle = query.getColumn(1).getString();
  credential.user.created_at_ms = query.getColumn(2).getInt64();
  credential.token_hash = query.getColumn(3).getString();
  return credential;
}

std::optional<User> Store::find_user(std::int64_t user_id) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(), "SELECT id, handle, created_at FROM users WHERE id = ?");
  query.bind(1, user_id);
  if (!query.executeStep()) return std::nullopt;
  return User{query.getColumn(0).getInt64(), query.getColumn(1).getString(), query.getColumn(2).getInt64()};
}

bool Store::handle_exists(std::string_view handle) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(), "SELECT 1 FROM users WHERE handle = ?");
  bind_text(query, 1, handle);
  return query.executeStep();
}

User Store::create_user(std::string_view handle, std::string_view token_hash, std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  SQLite::Statement insert(m_connection.sql(),
                           "INSERT INTO users (handle, token_hash, created_at) VALUES (?, ?, ?)");
  bind_text(insert, 1, handle);
  bind_text(insert, 2, token_hash);
  insert.bind(3, now_ms);
  insert.exec();
  return User{m_connection.sql().getLastInsertRowid(), std::string(handle), now_ms};
}

// ---- worlds ----

World Store::create_world(std::int64_t user_id, const NewWorld& world, std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  SQLite::Statement insert(m_connection.sql(),
                           "INSERT INTO worlds (user_id, name, description, seed, created_at) "
                           "VALUES (?, ?, ?, ?, ?)");
  insert.bind(1, user_id);
  bind_text(insert, 2, world.name);
  bind_text(insert, 3, world.description);
  insert.bind(4, static_cast<std::int64_t>(world.seed));
  insert.bind(5, now_ms);
  insert.exec();
  World created;
  created.id = m_connection.sql().getLastInsertRowid();
  created.user_id = user_id;
  created.name = world.name;
  created.description = world.description;
  created.seed = world.seed;
  created.created_at_ms = now_ms;
  return created;
}

std::optional<World> Store::find_world(std::int64_t user_id, std::int64_t world_id) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(), std::string("SELECT ") + kWorldColumns +
                                                  " FROM worlds w WHERE w.id = ? AND w.user_id = ? AND w.deleted_at IS NULL");
  query.bind(1, world_id);
  query.bind(2, user_id);
  if (!query.executeStep()) return std::nullopt;
  return read_world(query);
}

std::optional<World> Store::find_world(std::int64_t world_id) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(),
                          std::string("SELECT ") + kWorldColumns + " FROM worlds w WHERE w.id = ? AND w.deleted_at IS NULL");
  query.bind(1, world_id);
  if (!query.executeStep()) return std::nullopt;
  return read_world(query);
}

Page<World> Store::list_worlds(std::int64_t user_id, std::int64_t after_id, int limit) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(),
                          std::string("SELECT ") + kWorldColumns +
                              " FROM worlds w WHERE w.user_id = ? AND w.id > ? AND w.deleted_at IS NULL ORDER BY w.id LIMIT ?");
  query.bind(1, user_id);
  query.bind(2, after_id);
  query.bind(3, limit + 1);
  return read_page<World>(query, limit, read_world, [](const World& w) { return w.id; });
}

std::int64_t Store::next_generation(std::int64_t world_id) {
  auto timer = m_connection.time_query();
  SQLite::Statement update(m_connection.sql(),
                           "UPDATE worlds SET generations = generations + 1 WHERE id = ? RETURNING generations");
  update.bind(1, world_id);
  if (!update.executeStep()) throw std::runtime_error("world " + std::to_string(world_id) + " does not exist");
  std::int64_t number = update.getColumn(0).getInt64();
  while (update.executeStep()) {
  }
  return number;
}

// ---- personas ----

std::int64_t Store::count_personas(std::int64_t world_id) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(), "SELECT COUNT(*) FROM personas WHERE world_id = ?");
  query.bind(1, world_id);
  query.executeStep();
  return query.getColumn(0).getInt64();
}

StoredPersona Store::add_persona(std::int64_t world_id, const domain::NewPersona& persona,
                                 const PersonaOrigin& origin, std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  SQLite::Statement insert(m_connection.sql(),
                           "INSERT INTO personas (world_id, name, sociability, generosity, aggression, curiosity, "
                           "loyalty, source, generation, job_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  insert.bind(1, world_id);
  bind_text(insert, 2, persona.name);
  insert.bind(3, persona.traits.sociability);
  insert.bind(4, persona.traits.generosity);
  insert.bind(5, persona.traits.aggression);
  insert.bind(6, persona.traits.curiosity);
  insert.bind(7, persona.traits.loyalty);
  bind_text(insert, 8, to_string(origin.source));
  bind_optional(insert, 9, origin.generation);
  bind_optional(insert, 10, origin.job_id);
  insert.bind(11, now_ms);
  insert.exec();
  return StoredPersona{m_connection.sql().getLastInsertRowid(),
                       world_id,
                       persona.name,
                       persona.traits,
                       origin.source,
                       origin.generation,
                       origin.job_id,
                       now_ms};
}

Page<StoredPersona> Store::list_personas(std::int64_t world_id, std::int64_t after_id, int limit) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(), std::string("SELECT ") + kPersonaColumns +
                                                  " FROM personas WHERE world_id = ? AND id > ? ORDER BY id LIMIT ?");
  query.bind(1, world_id);
  query.bind(2, after_id);
  query.bind(3, limit + 1);
  return read_page<StoredPersona>(query, limit, read_persona, [](const StoredPersona& p) { return p.id; });
}

std::int64_t Store::count_generation(std::int64_t world_id, std::int64_t generation) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(), "SELECT COUNT(*) FROM personas WHERE world_id = ? AND generation = ?");
  query.bind(1, world_id);
  query.bind(2, generation);
  query.executeStep();
  return query.getColumn(0).getInt64();
}

std::vector<domain::Persona> Store::personas_up_to(std::int64_t world_id, std::int64_t bound) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(), std::string("SELECT ") + kPersonaColumns +
                                                  " FROM personas WHERE world_id = ? AND id <= ? ORDER BY id");
  query.bind(1, world_id);
  query.bind(2, bound);
  std::vector<domain::Persona> personas;
  while (query.executeStep()) {
    auto stored = read_persona(query);
    personas.push_back(domain::Persona{stored.id, std::move(stored.name), stored.traits});
  }
  return personas;
}

// ---- simulations ----

Simulation Store::create_simulation(const NewSimulation& simulation, std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  std::int64_t number = 0;
  {
    SQLite::Statement update(m_connection.sql(),
                             "UPDATE worlds SET simulations = simulations + 1 WHERE id = ? RETURNING simulations");
    update.bind(1, simulation.world_id);
    if (!update.executeStep()) {
      throw std::runtime_error("world " + std::to_string(simulation.world_id) + " does not exist");
    }
    number = update.getColumn(0).getInt64();
    while (update.executeStep()) {
    }
  }
  std::int64_t bound = 0;
  {
    SQLite::Statement query(m_connection.sql(), "SELECT COALESCE(MAX(id), 0) FROM personas WHERE world_id = ?");
    query.bind(1, simulation.world_id);
    query.executeStep();
    bound = query.getColumn(0).getInt64();
  }
  SQLite::Statement insert(m_connection.sql(),
                           "INSERT INTO simulations (world_id, user_id, number, ticks, callback_url, persona_bound, "
                           "created_at, max_events) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  insert.bind(1, simulation.world_id);
  insert.bind(2, simulation.user_id);
  insert.bind(3, number);
  insert.bind(4, simulation.ticks);
  if (simulation.callback_url) {
    bind_text(insert, 5, *simulation.callback_url);
  } else {
    insert.bind(5);
  }
  insert.bind(6, bound);
  insert.bind(7, now_ms);
  insert.bind(8, simulation.max_events);
  insert.exec();
  Simulation created;
  created.id = m_connection.sql().getLastInsertRowid();
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

void Store::set_simulation_job(std::int64_t simulation_id, std::int64_t job_id) {
  auto timer = m_connection.time_query();
  SQLite::Statement update(m_connection.sql(), "UPDATE simulations SET job_id = ? WHERE id = ?");
  update.bind(1, job_id);
  update.bind(2, simulation_id);
  update.exec();
}

std::optional<Simulation> Store::find_simulation(std::int64_t simulation_id) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(),
                          std::string("SELECT ") + kSimulationColumns + " FROM simulations WHERE id = ?" + kLiveWorld);
  query.bind(1, simulation_id);
  if (!query.executeStep()) return std::nullopt;
  return read_simulation(query);
}

std::optional<Simulation> Store::find_simulation(std::int64_t world_id, std::int64_t simulation_id) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(), std::string("SELECT ") + kSimulationColumns +
                                                  " FROM simulations WHERE id = ? AND world_id = ?" + kLiveWorld);
  query.bind(1, simulation_id);
  query.bind(2, world_id);
  if (!query.executeStep()) return std::nullopt;
  return read_simulation(query);
}

Page<Simulation> Store::list_simulations(std::int64_t world_id, std::int64_t after_id, int limit) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(),
                          std::string("SELECT ") + kSimulationColumns +
                              " FROM simulations WHERE world_id = ? AND id > ? ORDER BY id LIMIT ?");
  query.bind(1, world_id);
  query.bind(2, after_id);
  query.bind(3, limit + 1);
  return read_page<Simulation>(query, limit, read_simulation, [](const Simulation& s) { return s.id; });
}

void Store::append_events(const Simulation& simulation, std::span<const domain::Event> events) {
  auto timer = m_connection.time_query();
  SQLite::Statement insert(m_connection.sql(),
                           "INSERT INTO events (world_id, simulation_id, tick, kind, actors, text) "
                           "VALUES (?, ?, ?, ?, ?, ?)");
  for (const auto& event : events) {
    insert.reset();
    insert.bind(1, simulation.world_id);
    insert.bind(2, simulation.id);
    insert.bind(3, event.tick);
    bind_text(insert, 4, event.kind);
    insert.bind(5, nlohmann::json(event.actors).dump());
    bind_text(insert, 6, event.text);
    insert.exec();
  }
  SQLite::Statement count(m_connection.sql(),
                          "UPDATE simulations SET events_written = events_written + ? WHERE id = ?");
  count.bind(1, static_cast<std::int64_t>(events.size()));
  count.bind(2, simulation.id);
  count.exec();
}

void Store::finish_simulation(std::int64_t simulation_id, std::int64_t event_count,
                              std::optional<std::int64_t> webhook_job_id, std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  SQLite::Statement update(m_connection.sql(),
                           "UPDATE simulations SET event_count = ?, webhook_job_id = COALESCE(?, webhook_job_id), "
                           "completed_at = ? WHERE id = ?");
  update.bind(1, event_count);
  if (webhook_job_id) {
    update.bind(2, *webhook_job_id);
  } else {
    update.bind(2);
  }
  update.bind(3, now_ms);
  update.bind(4, simulation_id);
  update.exec();
}

// ---- events ----

Page<StoredEvent> Store::list_events(std::int64_t world_id, std::int64_t after_id, int limit,
                                     std::optional<std::int64_t> simulation_id) {
  auto timer = m_connection.time_query();
  std::string sql =
      "SELECT id, world_id, simulation_id, tick, kind, actors, text FROM events WHERE world_id = ? AND id > ?";
  if (simulation_id) sql += " AND simulation_id = ?";
  sql += " ORDER BY id LIMIT ?";
  SQLite::Statement query(m_connection.sql(), sql);
  int index = 1;
  query.bind(index++, world_id);
  query.bind(index++, after_id);
  if (simulation_id) query.bind(index++, *simulation_id);
  query.bind(index, limit + 1);
  auto read = [](SQLite::Statement& row) {
    StoredEvent event;
    event.id = row.getColumn(0).getInt64();
    event.world_id = row.getColumn(1).getInt64();
    event.simulation_id = row.getColumn(2).getInt64();
    event.tick = row.getColumn(3).getInt();
    event.kind = row.getColumn(4).getString();
    auto actors = nlohmann::json::parse(row.getColumn(5).getString(), nullptr, false);
    if (actors.is_array()) {
      for (const auto& actor : actors) {
        if (actor.is_number_integer()) event.actors.push_back(actor.get<std::int64_t>());
      }
    }
    event.text = row.getColumn(6).getString();
    return event;
  };
  return read_page<StoredEvent>(query, limit, read, [](const StoredEvent& e) { return e.id; });
}

// ---- idempotency ----

std::optional<IdempotencyRecord> Store::find_idempotency(const IdempotencyScope& scope,
                                                         std::int64_t not_before_ms) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(),
                          "SELECT method, route, request_hash, status, response, created_at FROM idempotency_keys "
                          "WHERE user_id = ? AND key = ? AND created_at >= ?");
  query.bind(1, scope.user_id.value_or(0));
  bind_text(query, 2, scope.key);
  query.bind(3, not_before_ms);
  if (!query.executeStep()) return std::nullopt;
  IdempotencyRecord record;
  record.method = query.getColumn(0).getString();
  record.route = query.getColumn(1).getString();
  record.request_hash = query.getColumn(2).getString();
  record.status = query.getColumn(3).getInt();
  record.response = query.getColumn(4).getString();
  record.created_at_ms = query.getColumn(5).getInt64();
  return record;
}

void Store::save_idempotency(const IdempotencyScope& scope, const IdempotencyRecord& record,
                             std::int64_t not_before_ms) {
  auto timer = m_connection.time_query();
  // Expire a bounded number of old records on each save, so the table stays
  // small without a separate sweeper; an expired record under this very key
  // goes too, making room for the new one.
  {
    SQLite::Statement expire(m_connection.sql(),
                             "DELETE FROM idempotency_keys WHERE id IN (SELECT id FROM idempotency_keys "
                             "WHERE created_at < ? ORDER BY created_at LIMIT 100)");
    expire.bind(1, not_before_ms);
    expire.exec();
  }
  {
    SQLite::Statement expire_key(m_connection.sql(),
                                 "DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? AND created_at < ?");
    expire_key.bind(1, scope.user_id.value_or(0));
    bind_text(expire_key, 2, scope.key);
    expire_key.bind(3, not_before_ms);
    expire_key.exec();
  }
  SQLite::Statement insert(m_connection.sql(),
                           "INSERT INTO idempotency_keys (user_id, key, method, route, request_hash, status, "
                           "response, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  insert.bind(1, scope.user_id.value_or(0));
  bind_text(insert, 2, scope.key);
  bind_text(insert, 3, record.method);
  bind_text(insert, 4, record.route);
  bind_text(insert, 5, record.request_hash);
  insert.bind(6, record.status);
  bind_text(insert, 7, record.response);
  insert.bind(8, record.created_at_ms);
  insert.exec();
}

std::vector<std::pair<std::string, std::int64_t>> Store::table_counts() {
  static constexpr std::array<const char*, 6> tables{"users",       "worlds", "personas",
                                                     "simulations", "events", "idempotency_keys"};
  std::vector<std::pair<std::string, std::int64_t>> counts;
  for (const char* table : tables) {
    SQLite::Statement query(m_connection.sql(), std::string("SELECT COUNT(*) FROM ") + table);
    query.executeStep();
    counts.emplace_back(table, query.getColumn(0).getInt64());
  }
  return counts;
}

}  // namespace pw::store
