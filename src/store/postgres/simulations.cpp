// Simulations and their events on PostgreSQL.
#include <nlohmann/json.hpp>

#include <stdexcept>

#include "store/postgres/read_page.hpp"
#include "store/postgres/store.hpp"

namespace pw::store {

using db::postgres::Params;
using db::postgres::Rows;

namespace {

const std::string kSimulationColumns =
    "id, world_id, user_id, number, ticks, callback_url, persona_bound, job_id, webhook_job_id, "
    "event_count, created_at, completed_at, events_written, max_events";

// Simulations of deleted worlds are gone with their world.
const std::string kLiveWorld =
    " AND EXISTS (SELECT 1 FROM worlds w WHERE w.id = simulations.world_id AND w.deleted_at IS NULL)";

Simulation read_simulation(const Rows& rows, int row) {
  Simulation simulation;
  simulation.id = rows.int64(row, 0);
  simulation.world_id = rows.int64(row, 1);
  simulation.user_id = rows.int64(row, 2);
  simulation.number = rows.int64(row, 3);
  simulation.ticks = rows.int32(row, 4);
  simulation.callback_url = rows.optional_text(row, 5);
  simulation.persona_bound = rows.int64(row, 6);
  simulation.job_id = rows.optional_int64(row, 7);
  simulation.webhook_job_id = rows.optional_int64(row, 8);
  simulation.event_count = rows.optional_int64(row, 9);
  simulation.created_at_ms = rows.int64(row, 10);
  simulation.completed_at_ms = rows.optional_int64(row, 11);
  simulation.events_written = rows.int64(row, 12);
  simulation.max_events = rows.int64(row, 13);
  return simulation;
}

StoredEvent read_event(const Rows& rows, int row) {
  StoredEvent event;
  event.id = rows.int64(row, 0);
  event.world_id = rows.int64(row, 1);
  event.simulation_id = rows.int64(row, 2);
  event.tick = rows.int32(row, 3);
  event.kind = rows.text(row, 4);
  auto actors = nlohmann::json::parse(rows.view(row, 5), nullptr, false);
  if (actors.is_array()) {
    for (const auto& actor : actors) {
      if (actor.is_number_integer()) event.actors.push_back(actor.get<std::int64_t>());
    }
  }
  event.text = rows.text(row, 6);
  return event;
}

}  // namespace

Simulation PostgresStore::create_simulation(const NewSimulation& simulation, std::int64_t now_ms) {
  // The UPDATE numbers the simulation and locks the world row to commit: a
  // concurrent create in the same world waits, then (READ COMMITTED) counts
  // on from the number this one took, so numbers never repeat. The lock also
  // waits out every transaction adding personas to the world (add_persona
  // share-locks the row first) and keeps new ones out until commit.
  auto counted = m_connection.prepared(
      "store_number_simulation", "UPDATE worlds SET simulations = simulations + 1 WHERE id = $1 RETURNING simulations",
      Params().add(simulation.world_id));
  if (counted.empty()) throw std::runtime_error("world " + std::to_string(simulation.world_id) + " does not exist");
  const std::int64_t number = counted.int64(0, 0);
  // A statement of its own, after the lock: its snapshot holds every persona
  // committed while the UPDATE waited, and no persona with a lower id can
  // commit later, so the bound names exactly the personas that exist now.
  const std::int64_t bound = m_connection
                                 .prepared("store_persona_bound",
                                           "SELECT COALESCE(MAX(id), 0) FROM personas WHERE world_id = $1",
                                           Params().add(simulation.world_id))
                                 .int64(0, 0);
  auto inserted = m_connection.prepared(
      "store_create_simulation",
      "INSERT INTO simulations (world_id, user_id, number, ticks, callback_url, persona_bound, created_at, "
      "max_events) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
      Params()
          .add(simulation.world_id)
          .add(simulation.user_id)
          .add(number)
          .add(simulation.ticks)
          .add(simulation.callback_url)
          .add(bound)
          .add(now_ms)
          .add(simulation.max_events));
  Simulation created;
  created.id = inserted.int64(0, 0);
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

void PostgresStore::set_simulation_job(std::int64_t simulation_id, std::int64_t job_id) {
  m_connection.prepared("store_set_simulation_job", "UPDATE simulations SET job_id = $1 WHERE id = $2",
                        Params().add(job_id).add(simulation_id));
}

std::optional<Simulation> PostgresStore::find_simulation(std::int64_t simulation_id) {
  static const std::string sql = "SELECT " + kSimulationColumns + " FROM simulations WHERE id = $1" + kLiveWorld;
  auto rows = m_connection.prepared("store_find_simulation", sql, Params().add(simulation_id));
  if (rows.empty()) return std::nullopt;
  return read_simulation(rows, 0);
}

std::optional<Simulation> PostgresStore::lock_simulation(std::int64_t simulation_id) {
  // FOR NO KEY UPDATE: a second run waits here, then reads the row as the
  // first one committed it (READ COMMITTED re-reads a row it waited for).
  static const std::string sql =
      "SELECT " + kSimulationColumns + " FROM simulations WHERE id = $1" + kLiveWorld + " FOR NO KEY UPDATE";
  auto rows = m_connection.prepared("store_lock_simulation", sql, Params().add(simulation_id));
  if (rows.empty()) return std::nullopt;
  return read_simulation(rows, 0);
}

std::optional<Simulation> PostgresStore::find_simulation(std::int64_t world_id, std::int64_t simulation_id) {
  static const std::string sql =
      "SELECT " + kSimulationColumns + " FROM simulations WHERE id = $1 AND world_id = $2" + kLiveWorld;
  auto rows = m_connection.prepared("store_find_simulation_in_world", sql, Params().add(simulation_id).add(world_id));
  if (rows.empty()) return std::nullopt;
  return read_simulation(rows, 0);
}

Page<Simulation> PostgresStore::list_simulations(std::int64_t world_id, std::int64_t after_id, int limit) {
  static const std::string sql =
      "SELECT " + kSimulationColumns + " FROM simulations WHERE world_id = $1 AND id > $2 ORDER BY id LIMIT $3";
  auto rows = m_connection.prepared("store_list_simulations", sql, Params().add(world_id).add(after_id).add(limit + 1));
  return read_page<Simulation>(rows, limit, read_simulation, [](const Simulation& s) { return s.id; });
}

void PostgresStore::append_events(const Simulation& simulation, std::span<const domain::Event> events) {
  if (!events.empty()) {
    // The whole batch in one statement, as parallel arrays. The ids follow
    // the simulation's order: identity values are drawn as the sorted rows
    // are inserted.
    std::vector<std::int64_t> ticks;
    std::vector<std::string> kinds;
    std::vector<std::string> actors;
    std::vector<std::string> texts;
    ticks.reserve(events.size());
    kinds.reserve(events.size());
    actors.reserve(events.size());
    texts.reserve(events.size());
    for (const auto& event : events) {
      ticks.push_back(event.tick);
      kinds.push_back(event.kind);
      actors.push_back(nlohmann::json(event.actors).dump());
      texts.push_back(event.text);
    }
    m_connection.prepared(
        "store_append_events",
        "INSERT INTO events (world_id, simulation_id, tick, kind, actors, text) "
        "SELECT $1::bigint, $2::bigint, e.tick, e.kind, e.actors, e.text "
        "FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY "
        "AS e (tick, kind, actors, text, position) ORDER BY e.position",
        Params()
            .add(simulation.world_id)
            .add(simulation.id)
            .add_array(ticks)
            .add_array(kinds)
            .add_array(actors)
            .add_array(texts));
  }
  // An increment under the row lock, so concurrent appends both count.
  m_connection.prepared("store_count_events_written",
                        "UPDATE simulations SET events_written = events_written + $1 WHERE id = $2",
                        Params().add(static_cast<std::int64_t>(events.size())).add(simulation.id));
}

void PostgresStore::finish_simulation(std::int64_t simulation_id, std::int64_t event_count,
                                      std::optional<std::int64_t> webhook_job_id, std::int64_t now_ms) {
  m_connection.prepared("store_finish_simulation",
                        "UPDATE simulations SET event_count = $1, webhook_job_id = COALESCE($2, webhook_job_id), "
                        "completed_at = $3 WHERE id = $4",
                        Params().add(event_count).add(webhook_job_id).add(now_ms).add(simulation_id));
}

// ---- events ----

Page<StoredEvent> PostgresStore::list_events(std::int64_t world_id, std::int64_t after_id, int limit,
                                             std::optional<std::int64_t> simulation_id) {
  // Two statements rather than one with an optional filter: each gets a plan
  // for its own index (events_world, events_simulation).
  auto rows = simulation_id
                  ? m_connection.prepared("store_list_events_of_simulation",
                                          "SELECT id, world_id, simulation_id, tick, kind, actors, text FROM events "
                                          "WHERE world_id = $1 AND id > $2 AND simulation_id = $3 ORDER BY id LIMIT $4",
                                          Params().add(world_id).add(after_id).add(*simulation_id).add(limit + 1))
                  : m_connection.prepared("store_list_events",
                                          "SELECT id, world_id, simulation_id, tick, kind, actors, text FROM events "
                                          "WHERE world_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                                          Params().add(world_id).add(after_id).add(limit + 1));
  return read_page<StoredEvent>(rows, limit, read_event, [](const StoredEvent& e) { return e.id; });
}

}  // namespace pw::store
