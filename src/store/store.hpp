// Domain persistence: every SQL statement about users, worlds, personas,
// simulations, events and idempotency records lives in src/store/ (job SQL
// stays in src/queue/). A Store works on one connection, owned by one thread.
//
// No method opens a transaction: the caller wraps a request's or a job's
// writes in one db::WriteTransaction, so they commit or vanish together.
// SQLite errors propagate as SQLite::Exception.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "db/connection.hpp"
#include "domain/persona.hpp"
#include "domain/simulation.hpp"
#include "store/records.hpp"

namespace pw::store {

class Store {
 public:
  explicit Store(db::Connection& connection) : m_connection(connection) {}

  // ---- users ----
  // The user whose token hash is `token_hash` (the caller still compares the
  // hashes in constant time: see api/auth).
  struct Credential {
    User user;
    std::string token_hash;
  };
  std::optional<Credential> find_credential(std::string_view token_hash);
  std::optional<User> find_user(std::int64_t user_id);
  bool handle_exists(std::string_view handle);
  User create_user(std::string_view handle, std::string_view token_hash, std::int64_t now_ms);

  // ---- worlds ----
  World create_world(std::int64_t user_id, const NewWorld& world, std::int64_t now_ms);
  // Only the owner's: another user's world is as absent as a missing one.
  std::optional<World> find_world(std::int64_t user_id, std::int64_t world_id);
  // Any user's (for jobs, which act for the world's owner).
  std::optional<World> find_world(std::int64_t world_id);
  Page<World> list_worlds(std::int64_t user_id, std::int64_t after_id, int limit);
  // Deletes the world with its personas, simulations and events. False when
  // the user has no such world.
  bool delete_world(std::int64_t user_id, std::int64_t world_id);
  // Counts one more persona.generate request and returns its number (1, 2, ...).
  std::int64_t next_generation(std::int64_t world_id);

  // ---- personas ----
  std::int64_t count_personas(std::int64_t world_id);
  StoredPersona add_persona(std::int64_t world_id, const domain::NewPersona& persona, const PersonaOrigin& origin,
                            std::int64_t now_ms);
  Page<StoredPersona> list_personas(std::int64_t world_id, std::int64_t after_id, int limit);
  // The personas the world's n-th generate request created (0 before its job ran).
  std::int64_t count_generation(std::int64_t world_id, std::int64_t generation);
  // The world's personas with id <= bound, in id order, for a simulation.
  std::vector<domain::Persona> personas_up_to(std::int64_t world_id, std::int64_t bound);

  // ---- simulations ----
  // Numbers the simulation within its world and records the persona bound.
  Simulation create_simulation(const NewSimulation& simulation, std::int64_t now_ms);
  void set_simulation_job(std::int64_t simulation_id, std::int64_t job_id);
  std::optional<Simulation> find_simulation(std::int64_t simulation_id);
  std::optional<Simulation> find_simulation(std::int64_t world_id, std::int64_t simulation_id);
  Page<Simulation> list_simulations(std::int64_t world_id, std::int64_t after_id, int limit);
  // Replaces the simulation's events with `events` (delete, then insert in
  // order), so a rerun of its job leaves exactly one copy.
  void replace_events(const Simulation& simulation, const std::vector<domain::Event>& events);
  void finish_simulation(std::int64_t simulation_id, std::int64_t event_count,
                         std::optional<std::int64_t> webhook_job_id, std::int64_t now_ms);

  // ---- events ----
  // The world's timeline after event id `after_id`, optionally one simulation's.
  Page<StoredEvent> list_events(std::int64_t world_id, std::int64_t after_id, int limit,
                                std::optional<std::int64_t> simulation_id);

  // ---- idempotency ----
  // Records older than `not_before_ms` are expired: not found, and replaced
  // by save_idempotency.
  std::optional<IdempotencyRecord> find_idempotency(const IdempotencyScope& scope, std::int64_t not_before_ms);
  void save_idempotency(const IdempotencyScope& scope, const IdempotencyRecord& record,
                        std::int64_t not_before_ms);

  // Rows per table, for tests and operators: users, worlds, personas,
  // simulations, events, idempotency_keys.
  std::vector<std::pair<std::string, std::int64_t>> table_counts();

 private:
  db::Connection& m_connection;
};

std::string_view to_string(PersonaSource source);

// True for a database error that is about the database, not about the
// statement: busy past the timeout, read-only, I/O error, disk full, missing
// or corrupt file, missing tables. Callers answer "unavailable, retry" rather
// than "internal error". Constraint violations (a bug) are not among them.
bool is_database_unavailable(const std::exception& error);

}  // namespace pw::store
