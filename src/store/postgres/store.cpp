// Users, worlds, personas and idempotency records on PostgreSQL. Simulations
// and events are in simulations.cpp, the limits' counts in pending_work.cpp,
// deleting worlds in world_purge.cpp.
#include "store/postgres/store.hpp"

#include <array>
#include <stdexcept>

#include "store/postgres/read_page.hpp"

namespace pw::store {
namespace {

// The advisory lock class of Idempotency-Keys (pg_advisory_xact_lock's
// two-int4 form; the job table's uniqueness windows have a class of their own).
constexpr std::int32_t kIdempotencyLockClass = 0x50570049;  // "PW", "I"

}  // namespace

using db::postgres::Params;
using db::postgres::Rows;

namespace {

const std::string kWorldColumns =
    "w.id, w.user_id, w.name, w.description, w.seed, "
    "(SELECT COUNT(*) FROM personas p WHERE p.world_id = w.id), w.generations, w.simulations, w.created_at";

World read_world(const Rows& rows, int row) {
  World world;
  world.id = rows.int64(row, 0);
  world.user_id = rows.int64(row, 1);
  world.name = rows.text(row, 2);
  world.description = rows.text(row, 3);
  world.seed = static_cast<std::uint64_t>(rows.int64(row, 4));
  world.persona_count = rows.int64(row, 5);
  world.generations = rows.int64(row, 6);
  world.simulations = rows.int64(row, 7);
  world.created_at_ms = rows.int64(row, 8);
  return world;
}

const std::string kPersonaColumns =
    "id, world_id, name, sociability, generosity, aggression, curiosity, loyalty, source, generation, job_id, "
    "created_at";

StoredPersona read_persona(const Rows& rows, int row) {
  StoredPersona persona;
  persona.id = rows.int64(row, 0);
  persona.world_id = rows.int64(row, 1);
  persona.name = rows.text(row, 2);
  persona.traits.sociability = rows.int32(row, 3);
  persona.traits.generosity = rows.int32(row, 4);
  persona.traits.aggression = rows.int32(row, 5);
  persona.traits.curiosity = rows.int32(row, 6);
  persona.traits.loyalty = rows.int32(row, 7);
  persona.source = rows.view(row, 8) == "generated" ? PersonaSource::generated : PersonaSource::manual;
  persona.generation = rows.optional_int64(row, 9);
  persona.job_id = rows.optional_int64(row, 10);
  persona.created_at_ms = rows.int64(row, 11);
  return persona;
}

User read_user(const Rows& rows) { return User{rows.int64(0, 0), rows.text(0, 1), rows.int64(0, 2)}; }

}  // namespace

// ---- users ----

std::optional<Store::Credential> PostgresStore::find_credential(std::string_view token_hash) {
  auto rows = m_connection.prepared("store_find_credential",
                                    "SELECT u.id, u.handle, u.created_at, t.token_hash, t.id, t.name, t.created_at, "
                                    "t.last_used_at, t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id "
                                    "WHERE t.token_hash = $1",
                                    Params().add(token_hash));
  if (rows.empty()) return std::nullopt;
  Credential credential;
  credential.user.id = rows.int64(0, 0);
  credential.user.handle = rows.text(0, 1);
  credential.user.created_at_ms = rows.int64(0, 2);
  credential.token_hash = rows.text(0, 3);
  credential.token.id = rows.int64(0, 4);
  credential.token.user_id = credential.user.id;
  credential.token.name = rows.text(0, 5);
  credential.token.created_at_ms = rows.int64(0, 6);
  credential.token.last_used_at_ms = rows.optional_int64(0, 7);
  credential.token.expires_at_ms = rows.optional_int64(0, 8);
  return credential;
}

std::optional<User> PostgresStore::find_user(std::string_view handle) {
  auto rows = m_connection.prepared("store_find_user_by_handle",
                                    "SELECT id, handle, created_at FROM users WHERE handle = $1", Params().add(handle));
  if (rows.empty()) return std::nullopt;
  return read_user(rows);
}

std::optional<User> PostgresStore::find_user(std::int64_t user_id) {
  auto rows = m_connection.prepared("store_find_user_by_id", "SELECT id, handle, created_at FROM users WHERE id = $1",
                                    Params().add(user_id));
  if (rows.empty()) return std::nullopt;
  return read_user(rows);
}

bool PostgresStore::handle_exists(std::string_view handle) {
  return !m_connection.prepared("store_handle_exists", "SELECT 1 FROM users WHERE handle = $1", Params().add(handle))
              .empty();
}

User PostgresStore::create_user(std::string_view handle, std::string_view token_hash, std::int64_t now_ms) {
  auto inserted = m_connection.prepared("store_create_user",
                                        "INSERT INTO users (handle, created_at) VALUES ($1, $2) RETURNING id",
                                        Params().add(handle).add(now_ms));
  User user{inserted.int64(0, 0), std::string(handle), now_ms};
  PostgresTokens(m_connection).create(NewToken{user.id, "sign-up", std::string(token_hash), std::nullopt}, now_ms);
  return user;
}

// ---- worlds ----

World PostgresStore::create_world(std::int64_t user_id, const NewWorld& world, std::int64_t now_ms) {
  auto inserted = m_connection.prepared(
      "store_create_world",
      "INSERT INTO worlds (user_id, name, description, seed, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
      Params()
          .add(user_id)
          .add(world.name)
          .add(world.description)
          .add(static_cast<std::int64_t>(world.seed))
          .add(now_ms));
  // count_worlds() reads this: one row, not one per world the user holds.
  m_connection.prepared("store_count_new_world", "UPDATE users SET live_worlds = live_worlds + 1 WHERE id = $1",
                        Params().add(user_id));
  World created;
  created.id = inserted.int64(0, 0);
  created.user_id = user_id;
  created.name = world.name;
  created.description = world.description;
  created.seed = world.seed;
  created.created_at_ms = now_ms;
  return created;
}

std::optional<World> PostgresStore::find_world(std::int64_t user_id, std::int64_t world_id) {
  static const std::string sql = "SELECT " + kWorldColumns +
                                 " FROM worlds w WHERE w.id = $1 AND w.user_id = $2 AND w.deleted_at IS NULL";
  auto rows = m_connection.prepared("store_find_world_of_user", sql, Params().add(world_id).add(user_id));
  if (rows.empty()) return std::nullopt;
  return read_world(rows, 0);
}

std::optional<World> PostgresStore::find_world(std::int64_t world_id) {
  static const std::string sql = "SELECT " + kWorldColumns + " FROM worlds w WHERE w.id = $1 AND w.deleted_at IS NULL";
  auto rows = m_connection.prepared("store_find_world", sql, Params().add(world_id));
  if (rows.empty()) return std::nullopt;
  return read_world(rows, 0);
}

Page<World> PostgresStore::list_worlds(std::int64_t user_id, std::int64_t after_id, int limit) {
  static const std::string sql =
      "SELECT " + kWorldColumns +
      " FROM worlds w WHERE w.user_id = $1 AND w.id > $2 AND w.deleted_at IS NULL ORDER BY w.id LIMIT $3";
  auto rows = m_connection.prepared("store_list_worlds", sql, Params().add(user_id).add(after_id).add(limit + 1));
  return read_page<World>(rows, limit, read_world, [](const World& w) { return w.id; });
}

std::int64_t PostgresStore::next_generation(std::int64_t world_id) {
  // One statement, not a read then a write: the UPDATE locks the row, and a
  // concurrent caller waits for this transaction, then (READ COMMITTED)
  // increments the value it committed, so no two requests share a number.
  auto rows = m_connection.prepared(
      "store_next_generation", "UPDATE worlds SET generations = generations + 1 WHERE id = $1 RETURNING generations",
      Params().add(world_id));
  if (rows.empty()) throw std::runtime_error("world " + std::to_string(world_id) + " does not exist");
  return rows.int64(0, 0);
}

// ---- personas ----

std::int64_t PostgresStore::count_personas(std::int64_t world_id) {
  return m_connection
      .prepared("store_count_personas", "SELECT COUNT(*) FROM personas WHERE world_id = $1", Params().add(world_id))
      .int64(0, 0);
}

StoredPersona PostgresStore::add_persona(std::int64_t world_id, const domain::NewPersona& persona,
                                         const PersonaOrigin& origin, std::int64_t now_ms) {
  // The world row is share-locked before the persona draws its id, and held
  // to commit: create_simulation's UPDATE of that row waits for every
  // transaction still adding personas, so a simulation's persona bound never
  // lies above the id of a persona that commits after it (on SQLite the
  // write lock orders them). A missing world locks nothing and the INSERT
  // fails on its foreign key, as on SQLite.
  m_connection.prepared("store_lock_world_for_persona", "SELECT 1 FROM worlds WHERE id = $1 FOR SHARE",
                        Params().add(world_id));
  auto inserted = m_connection.prepared(
      "store_add_persona",
      "INSERT INTO personas (world_id, name, sociability, generosity, aggression, curiosity, loyalty, source, "
      "generation, job_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
      Params()
          .add(world_id)
          .add(persona.name)
          .add(persona.traits.sociability)
          .add(persona.traits.generosity)
          .add(persona.traits.aggression)
          .add(persona.traits.curiosity)
          .add(persona.traits.loyalty)
          .add(to_string(origin.source))
          .add(origin.generation)
          .add(origin.job_id)
          .add(now_ms));
  return StoredPersona{inserted.int64(0, 0), world_id,        persona.name, persona.traits,
                       origin.source,         origin.generation, origin.job_id, now_ms};
}

Page<StoredPersona> PostgresStore::list_personas(std::int64_t world_id, std::int64_t after_id, int limit) {
  static const std::string sql =
      "SELECT " + kPersonaColumns + " FROM personas WHERE world_id = $1 AND id > $2 ORDER BY id LIMIT $3";
  auto rows = m_connection.prepared("store_list_personas", sql, Params().add(world_id).add(after_id).add(limit + 1));
  return read_page<StoredPersona>(rows, limit, read_persona, [](const StoredPersona& p) { return p.id; });
}

std::int64_t PostgresStore::count_generation(std::int64_t world_id, std::int64_t generation) {
  return m_connection
      .prepared("store_count_generation", "SELECT COUNT(*) FROM personas WHERE world_id = $1 AND generation = $2",
                Params().add(world_id).add(generation))
      .int64(0, 0);
}

std::vector<domain::Persona> PostgresStore::personas_up_to(std::int64_t world_id, std::int64_t bound) {
  static const std::string sql =
      "SELECT " + kPersonaColumns + " FROM personas WHERE world_id = $1 AND id <= $2 ORDER BY id";
  auto rows = m_connection.prepared("store_personas_up_to", sql, Params().add(world_id).add(bound));
  std::vector<domain::Persona> personas;
  personas.reserve(static_cast<std::size_t>(rows.size()));
  for (int row = 0; row < rows.size(); ++row) {
    auto stored = read_persona(rows, row);
    personas.push_back(domain::Persona{stored.id, std::move(stored.name), stored.traits});
  }
  return personas;
}

// ---- idempotency ----

std::optional<IdempotencyRecord> PostgresStore::find_idempotency(const IdempotencyScope& scope,
                                                                 std::int64_t not_before_ms) {
  // Requests with one key at once: the first holds this lock until it
  // commits its record; the others wait, then find that record and replay
  // it. Without the lock each finds nothing, does the work again and fails
  // on the key's unique index. The read is a statement of its own, after
  // the lock, so it sees the commit it waited for (READ COMMITTED). A hash
  // collision only makes two keys wait for each other.
  m_connection.prepared("store_lock_idempotency",
                        "SELECT pg_advisory_xact_lock($1::integer, hashtext($2::text || chr(31) || $3::text))",
                        Params().add(kIdempotencyLockClass).add(scope.user_id.value_or(0)).add(scope.key));
  auto rows = m_connection.prepared("store_find_idempotency",
                                    "SELECT method, route, request_hash, status, response, created_at "
                                    "FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND created_at >= $3",
                                    Params().add(scope.user_id.value_or(0)).add(scope.key).add(not_before_ms));
  if (rows.empty()) return std::nullopt;
  IdempotencyRecord record;
  record.method = rows.text(0, 0);
  record.route = rows.text(0, 1);
  record.request_hash = rows.text(0, 2);
  record.status = rows.int32(0, 3);
  record.response = rows.text(0, 4);
  record.created_at_ms = rows.int64(0, 5);
  return record;
}

void PostgresStore::save_idempotency(const IdempotencyScope& scope, const IdempotencyRecord& record,
                                     std::int64_t not_before_ms) {
  // Expire a bounded number of old records on each save, so the table stays
  // small without a separate sweeper. SKIP LOCKED: concurrent saves each take
  // other old rows instead of queueing behind one another for the same ones.
  m_connection.prepared("store_expire_idempotency",
                        "DELETE FROM idempotency_keys WHERE id IN (SELECT id FROM idempotency_keys "
                        "WHERE created_at < $1 ORDER BY created_at LIMIT 100 FOR UPDATE SKIP LOCKED)",
                        Params().add(not_before_ms));
  // An expired record under this very key goes in any case, making room for
  // the new one (this DELETE waits for a concurrent one rather than skip it).
  const auto user_id = scope.user_id.value_or(0);
  m_connection.prepared("store_expire_idempotency_key",
                        "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND created_at < $3",
                        Params().add(user_id).add(scope.key).add(not_before_ms));
  m_connection.prepared("store_save_idempotency",
                        "INSERT INTO idempotency_keys (user_id, key, method, route, request_hash, status, response, "
                        "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        Params()
                            .add(user_id)
                            .add(scope.key)
                            .add(record.method)
                            .add(record.route)
                            .add(record.request_hash)
                            .add(record.status)
                            .add(record.response)
                            .add(record.created_at_ms));
}

std::vector<std::pair<std::string, std::int64_t>> PostgresStore::table_counts() {
  static constexpr std::array<const char*, 6> tables{"users",       "worlds", "personas",
                                                     "simulations", "events", "idempotency_keys"};
  std::vector<std::pair<std::string, std::int64_t>> counts;
  for (const char* table : tables) {
    const std::string name(table);
    auto rows = m_connection.prepared("store_table_count_" + name, "SELECT COUNT(*) FROM " + name);
    counts.emplace_back(name, rows.int64(0, 0));
  }
  return counts;
}

}  // namespace pw::store
