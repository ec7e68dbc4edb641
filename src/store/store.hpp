// Domain persistence: what the product stores about users, worlds, personas,
// simulations, events and idempotency records, as one interface with a
// driver each (store/sqlite/, store/postgres/); every SQL statement of the
// domain lives there (job SQL stays in src/queue/). A Store works on one
// connection, owned by one thread.
//
// No method opens a transaction: the caller wraps a request's or a job's
// writes in one write transaction of its session (storage/session.hpp), so
// they commit or vanish together, job enqueues included.
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

#include "domain/persona.hpp"
#include "domain/simulation.hpp"
#include "store/records.hpp"
#include "store/tokens.hpp"

namespace pw::store {

class Store {
 public:
  virtual ~Store() = default;

  // ---- users ----
  // The token whose hash is `token_hash` and its user, expired or not (the
  // caller compares the hashes in constant time and checks the expiry: see
  // api/auth).
  struct Credential {
    User user;
    Token token;
    std::string token_hash;
  };
  virtual std::optional<Credential> find_credential(std::string_view token_hash) = 0;
  virtual std::optional<User> find_user(std::int64_t user_id) = 0;
  virtual std::optional<User> find_user(std::string_view handle) = 0;
  virtual bool handle_exists(std::string_view handle) = 0;
  // The user and their first token, named "sign-up".
  virtual User create_user(std::string_view handle, std::string_view token_hash, std::int64_t now_ms) = 0;

  // ---- worlds ----
  virtual World create_world(std::int64_t user_id, const NewWorld& world, std::int64_t now_ms) = 0;
  // Only the owner's: another user's world is as absent as a missing one.
  virtual std::optional<World> find_world(std::int64_t user_id, std::int64_t world_id) = 0;
  // Any user's (for jobs, which act for the world's owner).
  virtual std::optional<World> find_world(std::int64_t world_id) = 0;
  virtual Page<World> list_worlds(std::int64_t user_id, std::int64_t after_id, int limit) = 0;
  // The user's worlds that are not deleted, as kept on the user's row by
  // create_world and mark_world_deleted (one row read, however many).
  virtual std::int64_t count_worlds(std::int64_t user_id) = 0;
  // Marks the world deleted: one row, however large the world. False when
  // the user has no such world (or it is already deleted).
  virtual bool mark_world_deleted(std::int64_t user_id, std::int64_t world_id, std::int64_t now_ms) = 0;
  virtual WorldState world_state(std::int64_t world_id) = 0;
  // Deletes at most `batch` rows of a deleted world (events first, then
  // simulations, personas and generations), and the world row once nothing
  // else is left. Does nothing to a live world (rows 0, not finished): the
  // caller checks world_state() first.
  virtual PurgeStep purge_world_step(std::int64_t world_id, int batch) = 0;

  // ---- persona generations ----
  // Counts one more persona.generate request and returns its number (1, 2, ...).
  virtual std::int64_t next_generation(std::int64_t world_id) = 0;
  // Records the accepted generation and the job that runs it.
  virtual void record_generation(std::int64_t world_id, std::int64_t number, std::int64_t count, std::int64_t job_id,
                         std::int64_t now_ms) = 0;
  // Generations not yet run: amount = personas they will create.
  virtual std::vector<PendingWork> pending_generations(std::int64_t world_id) = 0;
  // The same, only those whose job is queued or running, added up in one
  // query (what the persona cap counts).
  virtual PendingTotal pending_generation_total(std::int64_t world_id) = 0;
  virtual void finish_generation(std::int64_t world_id, std::int64_t number, std::int64_t now_ms) = 0;
  // Holds the generation's row until the transaction ends: two runs of one
  // persona.generate job (a lapsed lease) then run one after the other, the
  // second seeing the first's personas. SQLite's write lock orders them
  // already; PostgreSQL's READ COMMITTED transactions would not.
  virtual void lock_generation(std::int64_t world_id, std::int64_t number) = 0;

  // ---- personas ----
  virtual std::int64_t count_personas(std::int64_t world_id) = 0;
  virtual StoredPersona add_persona(std::int64_t world_id, const domain::NewPersona& persona, const PersonaOrigin& origin,
                            std::int64_t now_ms) = 0;
  virtual Page<StoredPersona> list_personas(std::int64_t world_id, std::int64_t after_id, int limit) = 0;
  // The personas the world's n-th generate request created (0 before its job ran).
  virtual std::int64_t count_generation(std::int64_t world_id, std::int64_t generation) = 0;
  // The world's personas with id <= bound, in id order, for a simulation.
  virtual std::vector<domain::Persona> personas_up_to(std::int64_t world_id, std::int64_t bound) = 0;

  // ---- simulations ----
  // Numbers the simulation within its world and records the persona bound.
  virtual Simulation create_simulation(const NewSimulation& simulation, std::int64_t now_ms) = 0;
  virtual void set_simulation_job(std::int64_t simulation_id, std::int64_t job_id) = 0;
  virtual std::optional<Simulation> find_simulation(std::int64_t simulation_id) = 0;
  // find_simulation(), holding the row until the transaction ends: two runs
  // of one simulation's job write their batches one after the other, each
  // reading events_written as the other committed it (see lock_generation).
  virtual std::optional<Simulation> lock_simulation(std::int64_t simulation_id) = 0;
  virtual std::optional<Simulation> find_simulation(std::int64_t world_id, std::int64_t simulation_id) = 0;
  virtual Page<Simulation> list_simulations(std::int64_t world_id, std::int64_t after_id, int limit) = 0;
  // Simulations not yet completed: amount = events they may still write.
  virtual std::vector<PendingWork> pending_simulations_of_user(std::int64_t user_id) = 0;
  virtual std::vector<PendingWork> pending_simulations_of_world(std::int64_t world_id) = 0;
  // The same, only those whose job is queued or running, added up in one
  // query: what the limits count, without a job lookup per simulation.
  virtual PendingTotal pending_simulation_total_of_user(std::int64_t user_id) = 0;
  virtual PendingTotal pending_simulation_total_of_world(std::int64_t world_id) = 0;
  // The same figures as world_events() with pending_simulation_total_of_world()
  // and as pending_simulation_total_of_user(), kept on the world's and the
  // user's rows by triggers (migration 0009): one row read each, however
  // many simulations the world ran or the queue holds. What the limits read.
  virtual WorldHoldings world_holdings(std::int64_t world_id) = 0;
  virtual std::int64_t pending_simulation_count(std::int64_t user_id) = 0;
  // Events the world's simulations have written.
  virtual std::int64_t world_events(std::int64_t world_id) = 0;
  // Appends `events` after the simulation's events_written and counts them:
  // the caller passes the slice of the simulation's events that starts at
  // events_written as read in the same transaction.
  virtual void append_events(const Simulation& simulation, std::span<const domain::Event> events) = 0;
  virtual void finish_simulation(std::int64_t simulation_id, std::int64_t event_count,
                         std::optional<std::int64_t> webhook_job_id, std::int64_t now_ms) = 0;

  // ---- events ----
  // The world's timeline after event id `after_id`, optionally one simulation's.
  virtual Page<StoredEvent> list_events(std::int64_t world_id, std::int64_t after_id, int limit,
                                std::optional<std::int64_t> simulation_id) = 0;

  // ---- idempotency ----
  // Records older than `not_before_ms` are expired: not found, and replaced
  // by save_idempotency.
  virtual std::optional<IdempotencyRecord> find_idempotency(const IdempotencyScope& scope, std::int64_t not_before_ms) = 0;
  virtual void save_idempotency(const IdempotencyScope& scope, const IdempotencyRecord& record,
                        std::int64_t not_before_ms) = 0;

  // Rows per table, for tests and operators: users, worlds, personas,
  // simulations, events, idempotency_keys.
  virtual std::vector<std::pair<std::string, std::int64_t>> table_counts() = 0;

};

std::string_view to_string(PersonaSource source);

}  // namespace pw::store
