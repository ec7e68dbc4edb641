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

}  // namespace

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

std::int64_t PostgresStore::count_worlds(std::int64_t user_id) {
  return m_connection
      .prepared("store_count_worlds", "SELECT COUNT(*) FROM worlds WHERE user_id = $1 AND deleted_at IS NULL",
                Params().add(user_id))
      .int64(0, 0);
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
