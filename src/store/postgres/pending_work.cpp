// What the per-user limits count: worlds, and work accepted but not yet
// done (generations not yet run, simulations not yet completed).
#include <algorithm>

#include "store/postgres/store.hpp"

namespace pw::store {

using db::postgres::Params;
using db::postgres::Rows;

namespace {

std::vector<PendingWork> read_pending(const Rows& rows) {
  std::vector<PendingWork> pending;
  pending.reserve(static_cast<std::size_t>(rows.size()));
  for (int row = 0; row < rows.size(); ++row) {
    pending.push_back(PendingWork{rows.optional_int64(row, 0), std::max<std::int64_t>(0, rows.int64(row, 1))});
  }
  return pending;
}

PendingTotal read_total(const Rows& rows) { return PendingTotal{rows.int64(0, 0), rows.int64(0, 1)}; }

}  // namespace

// Each joins the pending rows to their jobs by primary key: one statement
// instead of a job lookup per row. SUM over bigint is numeric in
// PostgreSQL: cast back.
PendingTotal PostgresStore::pending_simulation_total_of_user(std::int64_t user_id) {
  return read_total(m_connection.prepared(
      "store_pending_simulation_total_of_user",
      "SELECT COUNT(*), COALESCE(SUM(GREATEST(0, s.max_events - s.events_written)), 0)::bigint "
      "FROM simulations AS s JOIN jobs AS j ON j.id = s.job_id "
      "WHERE s.user_id = $1 AND s.completed_at IS NULL AND j.state IN ('queued', 'running')",
      Params().add(user_id)));
}

PendingTotal PostgresStore::pending_simulation_total_of_world(std::int64_t world_id) {
  return read_total(m_connection.prepared(
      "store_pending_simulation_total_of_world",
      "SELECT COUNT(*), COALESCE(SUM(GREATEST(0, s.max_events - s.events_written)), 0)::bigint "
      "FROM simulations AS s JOIN jobs AS j ON j.id = s.job_id "
      "WHERE s.world_id = $1 AND s.completed_at IS NULL AND j.state IN ('queued', 'running')",
      Params().add(world_id)));
}

WorldHoldings PostgresStore::world_holdings(std::int64_t world_id) {
  auto rows = m_connection.prepared("store_world_holdings",
                                    "SELECT events_written, reserved_events FROM worlds WHERE id = $1",
                                    Params().add(world_id));
  if (rows.size() == 0) return {};
  return WorldHoldings{rows.int64(0, 0), rows.int64(0, 1)};
}

std::int64_t PostgresStore::pending_simulation_count(std::int64_t user_id) {
  auto rows = m_connection.prepared("store_pending_simulation_count",
                                    "SELECT pending_simulations FROM users WHERE id = $1", Params().add(user_id));
  return rows.size() == 0 ? 0 : rows.int64(0, 0);
}

PendingTotal PostgresStore::pending_generation_total(std::int64_t world_id) {
  // Read to admit personas, before they are counted: the world's row lock
  // orders concurrent additions to one world, so the second counts once the
  // first has committed and the cap holds. (add_persona's share lock alone
  // lets two additions count the same 999 and both go in.)
  m_connection.prepared("store_lock_world_for_admission", "SELECT 1 FROM worlds WHERE id = $1 FOR NO KEY UPDATE",
                        Params().add(world_id));
  return read_total(m_connection.prepared(
      "store_pending_generation_total",
      "SELECT COUNT(*), COALESCE(SUM(g.count), 0)::bigint "
      "FROM persona_generations AS g JOIN jobs AS j ON j.id = g.job_id "
      "WHERE g.world_id = $1 AND g.finished_at IS NULL AND j.state IN ('queued', 'running')",
      Params().add(world_id)));
}

// In id order, as SQLite reads them through the same partial indexes
// (simulations_pending_user, simulations_pending_world).
std::vector<PendingWork> PostgresStore::pending_simulations_of_user(std::int64_t user_id) {
  return read_pending(m_connection.prepared("store_pending_simulations_of_user",
                                            "SELECT job_id, max_events - events_written FROM simulations "
                                            "WHERE user_id = $1 AND completed_at IS NULL ORDER BY id",
                                            Params().add(user_id)));
}

std::vector<PendingWork> PostgresStore::pending_simulations_of_world(std::int64_t world_id) {
  return read_pending(m_connection.prepared("store_pending_simulations_of_world",
                                            "SELECT job_id, max_events - events_written FROM simulations "
                                            "WHERE world_id = $1 AND completed_at IS NULL ORDER BY id",
                                            Params().add(world_id)));
}

std::int64_t PostgresStore::world_events(std::int64_t world_id) {
  return m_connection
      .prepared("store_world_events", "SELECT COALESCE(SUM(events_written), 0) FROM simulations WHERE world_id = $1",
                Params().add(world_id))
      .int64(0, 0);
}

// Kept by create_world and mark_world_deleted (migration 0009).
std::int64_t PostgresStore::count_worlds(std::int64_t user_id) {
  // The row lock orders concurrent creates of one user: the second reads
  // the count once the first has committed (READ COMMITTED reads a row it
  // waited for as committed), so the cap holds. Unlocked, two could both
  // read 99 of 100 and both create.
  auto rows = m_connection.prepared("store_count_worlds",
                                    "SELECT live_worlds FROM users WHERE id = $1 FOR NO KEY UPDATE",
                                    Params().add(user_id));
  return rows.size() == 0 ? 0 : rows.int64(0, 0);
}

void PostgresStore::record_generation(std::int64_t world_id, std::int64_t number, std::int64_t count,
                                      std::int64_t job_id, std::int64_t now_ms) {
  m_connection.prepared("store_record_generation",
                        "INSERT INTO persona_generations (world_id, number, count, job_id, created_at) "
                        "VALUES ($1, $2, $3, $4, $5)",
                        Params().add(world_id).add(number).add(count).add(job_id).add(now_ms));
}

// In request order, as SQLite reads them (in insertion order, which is
// number order).
std::vector<PendingWork> PostgresStore::pending_generations(std::int64_t world_id) {
  return read_pending(m_connection.prepared(
      "store_pending_generations",
      "SELECT job_id, count FROM persona_generations WHERE world_id = $1 AND finished_at IS NULL ORDER BY number",
      Params().add(world_id)));
}

void PostgresStore::lock_generation(std::int64_t world_id, std::int64_t number) {
  m_connection.prepared("store_lock_generation",
                        "SELECT 1 FROM persona_generations WHERE world_id = $1 AND number = $2 FOR NO KEY UPDATE",
                        Params().add(world_id).add(number));
}

void PostgresStore::finish_generation(std::int64_t world_id, std::int64_t number, std::int64_t now_ms) {
  m_connection.prepared("store_finish_generation",
                        "UPDATE persona_generations SET finished_at = COALESCE(finished_at, $1) "
                        "WHERE world_id = $2 AND number = $3",
                        Params().add(now_ms).add(world_id).add(number));
}

}  // namespace pw::store
