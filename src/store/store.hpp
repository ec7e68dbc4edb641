// Domain persistence: every SQL statement about users, worlds, personas,
// simulations, events and idempotency records lives in src/store/ (job SQL
// stays in src/queue/). A Store works on one connection, owned by one thread.
//
// No method opens a transaction: the caller wraps a request's or a job's
// writes in one db::WriteTransaction, so they commit or vanish together.
// Methods that touch many rows take a batch size, so the caller can keep
// every transaction short. Database errors propagate as db::Error.
//
// A world marked deleted is gone for every read below (worlds, and the
// simulations found by id); only world_state() and purge_world_step() see it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "db/connection.hpp"
#include "domain/persona.hpp"
#include "domain/simulation.hpp"
#include "store/records.hpp"
#include "store/tokens.hpp"

namespace pw::store {

class Store {
 public:
  explicit Store(db::Connection& connection) : m_connection(connection) {}

  db::Connection& connection() const { return m_connection; }

  // ---- users ----
  // The token whose hash is `token_hash` and its user, expired or not (the
  // caller compares the hashes in constant time and checks the expiry: see
  // api/auth).
  struct Credential {
    User user;
    Token token;
    std::string token_hash;
  };
  std::optional<Credential> find_credential(std::string_view token_hash);
  std::optional<User> find_user(std::int64_t user_id);
  std::optional<User> find_user(std::string_view handle);
  bool handle_exists(std::string_view handle);
  // The user and their first token, named "sign-up".
  User create_user(std::string_view handle, std::string_view token_hash, std::int64_t now_ms);

  // ---- worlds ----
  World create_world(std::int64_t user_id, const NewWorld& world, std::int64_t now_ms);
  // Only the owner's: another user's world is as absent as a missing one.
  std::optional<World> find_world(std::int64_t user_id, std::int64_t world_id);
  // Any user's (for jobs, which act for the world's owner).
  std::optional<World> find_world(std::int64_t world_id);
  Page<World> list_worlds(std::int64_t user_id, std::int64_t after_id, int limit);
  // The user's worlds that are not deleted.
  std::int64_t count_worlds(std::int64_t user_id);
  // Marks the world deleted: one row, however large the world. False when
  // the user has no such world (or it is already deleted).
  bool mark_world_deleted(std::int64_t user_id, std::int64_t world_id, std::int64_t now_ms);
  WorldState world_state(std::int64_t world_id);
  // Deletes at most `batch` rows of a deleted world (events first, then
  // simulations, personas and generations), and the world row once nothing
  // else is left. Does nothing to a live world (rows 0, not finished): the
  // caller checks world_state() first.
  PurgeStep purge_world_step(std::int64_t world_id, int batch);

  // ---- persona generations ----
  // Counts one more persona.generate request and returns its number (1, 2, ...).
  std::int64_t next_generation(std::int64_t world_id);
  // Records the accepted generation and the job that runs it.
  void record_generation(std::int64_t world_id, std::int64_t number, std::int64_t count, std::int64_t job_id,
                         std::int64_t now_ms);
  // Generations not yet run: amount = personas they will create.
  std::vector<PendingWork> pending_generations(std::int64_t world_id);
  void finish_generation(std::int64_t world_id, std::int64_t number, std::int64_t now_ms);

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
  // Simulations not yet completed: amount = events they may still write.
  std::vector<PendingWork> pending_simulations_of_user(std::int64_t user_id);
  std::vector<PendingWork> pending_simulations_of_world(std::int64_t world_id);
  // Events the world's simulations have written.
  std::int64_t world_events(std::int64_t world_id);
  // Appends `events` after the simulation's events_written and counts them:
  // the caller passes the slice of the simulation's events that starts at
  // events_written as read in the same transaction.
  void append_events(const Simulation& simulation, std::span<const domain::Event> events);
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

}  // namespace pw::store
