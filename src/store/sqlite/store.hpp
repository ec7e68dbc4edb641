// The domain store and the tokens on SQLite: SQL in SQLite's dialect through
// db::Statement on one db::Connection.
#pragma once

#include "db/connection.hpp"
#include "store/store.hpp"
#include "store/tokens.hpp"

namespace pw::store {

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(db::Connection& connection) : m_connection(connection) {}

  std::optional<Credential> find_credential(std::string_view token_hash) override;
  std::optional<User> find_user(std::int64_t user_id) override;
  std::optional<User> find_user(std::string_view handle) override;
  bool handle_exists(std::string_view handle) override;
  User create_user(std::string_view handle, std::string_view token_hash, std::int64_t now_ms) override;
  World create_world(std::int64_t user_id, const NewWorld& world, std::int64_t now_ms) override;
  std::optional<World> find_world(std::int64_t user_id, std::int64_t world_id) override;
  std::optional<World> find_world(std::int64_t world_id) override;
  Page<World> list_worlds(std::int64_t user_id, std::int64_t after_id, int limit) override;
  std::int64_t count_worlds(std::int64_t user_id) override;
  bool mark_world_deleted(std::int64_t user_id, std::int64_t world_id, std::int64_t now_ms) override;
  WorldState world_state(std::int64_t world_id) override;
  PurgeStep purge_world_step(std::int64_t world_id, int batch) override;
  std::int64_t next_generation(std::int64_t world_id) override;
  void record_generation(std::int64_t world_id, std::int64_t number, std::int64_t count, std::int64_t job_id,
                         std::int64_t now_ms) override;
  std::vector<PendingWork> pending_generations(std::int64_t world_id) override;
  PendingTotal pending_generation_total(std::int64_t world_id) override;
  void finish_generation(std::int64_t world_id, std::int64_t number, std::int64_t now_ms) override;
  // The write transaction holds the database's one write lock already.
  void lock_generation(std::int64_t, std::int64_t) override {}
  std::int64_t count_personas(std::int64_t world_id) override;
  StoredPersona add_persona(std::int64_t world_id, const domain::NewPersona& persona, const PersonaOrigin& origin,
                            std::int64_t now_ms) override;
  Page<StoredPersona> list_personas(std::int64_t world_id, std::int64_t after_id, int limit) override;
  std::int64_t count_generation(std::int64_t world_id, std::int64_t generation) override;
  std::vector<domain::Persona> personas_up_to(std::int64_t world_id, std::int64_t bound) override;
  Simulation create_simulation(const NewSimulation& simulation, std::int64_t now_ms) override;
  void set_simulation_job(std::int64_t simulation_id, std::int64_t job_id) override;
  std::optional<Simulation> find_simulation(std::int64_t simulation_id) override;
  std::optional<Simulation> lock_simulation(std::int64_t simulation_id) override { return find_simulation(simulation_id); }
  std::optional<Simulation> find_simulation(std::int64_t world_id, std::int64_t simulation_id) override;
  Page<Simulation> list_simulations(std::int64_t world_id, std::int64_t after_id, int limit) override;
  std::vector<PendingWork> pending_simulations_of_user(std::int64_t user_id) override;
  std::vector<PendingWork> pending_simulations_of_world(std::int64_t world_id) override;
  PendingTotal pending_simulation_total_of_user(std::int64_t user_id) override;
  PendingTotal pending_simulation_total_of_world(std::int64_t world_id) override;
  WorldHoldings world_holdings(std::int64_t world_id) override;
  std::int64_t pending_simulation_count(std::int64_t user_id) override;
  std::int64_t world_events(std::int64_t world_id) override;
  void append_events(const Simulation& simulation, std::span<const domain::Event> events) override;
  void finish_simulation(std::int64_t simulation_id, std::int64_t event_count,
                         std::optional<std::int64_t> webhook_job_id, std::int64_t now_ms) override;
  Page<StoredEvent> list_events(std::int64_t world_id, std::int64_t after_id, int limit,
                                std::optional<std::int64_t> simulation_id) override;
  std::optional<IdempotencyRecord> find_idempotency(const IdempotencyScope& scope, std::int64_t not_before_ms) override;
  void save_idempotency(const IdempotencyScope& scope, const IdempotencyRecord& record,
                        std::int64_t not_before_ms) override;
  std::vector<std::pair<std::string, std::int64_t>> table_counts() override;

 private:
  db::Connection& m_connection;
};

class SqliteTokens final : public Tokens {
 public:
  explicit SqliteTokens(db::Connection& connection) : m_connection(connection) {}

  Token create(const NewToken& token, std::int64_t now_ms) override;
  Page<Token> list(std::int64_t user_id, std::int64_t after_id, int limit) override;
  std::int64_t count(std::int64_t user_id) override;
  bool revoke(std::int64_t user_id, std::int64_t token_id) override;
  void record_use(const Token& token, std::int64_t now_ms) override;

 private:
  db::Connection& m_connection;
};

}  // namespace pw::store
