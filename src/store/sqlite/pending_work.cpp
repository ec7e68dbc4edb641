// What the per-user limits count: worlds, and work accepted but not yet
// done (generations not yet run, simulations not yet completed).
#include <algorithm>

#include "store/sqlite/store.hpp"

#include "db/statement.hpp"

namespace pw::store {
namespace {

std::vector<PendingWork> read_pending(db::Statement& query) {
  std::vector<PendingWork> pending;
  while (query.step()) {
    PendingWork work;
    if (!query.is_null(0)) work.job_id = query.int64(0);
    work.amount = std::max<std::int64_t>(0, query.int64(1));
    pending.push_back(work);
  }
  return pending;
}

PendingTotal read_total(db::Statement& query) {
  query.step();
  return PendingTotal{query.int64(0), query.int64(1)};
}

}  // namespace

// Each joins the pending rows to their jobs by primary key: one statement
// instead of a job lookup per row. The partial indexes hold only rows not
// yet completed or finished, so completed work costs nothing.
PendingTotal SqliteStore::pending_simulation_total_of_user(std::int64_t user_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection,
                      "SELECT COUNT(*), COALESCE(SUM(MAX(0, s.max_events - s.events_written)), 0) "
                      "FROM simulations AS s INDEXED BY simulations_pending_user JOIN jobs AS j ON j.id = s.job_id "
                      "WHERE s.user_id = ? AND s.completed_at IS NULL AND (j.state = 'queued' OR j.state = 'running')");
  query.bind(1, user_id);
  return read_total(query);
}

PendingTotal SqliteStore::pending_simulation_total_of_world(std::int64_t world_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection,
                      "SELECT COUNT(*), COALESCE(SUM(MAX(0, s.max_events - s.events_written)), 0) "
                      "FROM simulations AS s INDEXED BY simulations_pending_world JOIN jobs AS j ON j.id = s.job_id "
                      "WHERE s.world_id = ? AND s.completed_at IS NULL AND (j.state = 'queued' OR j.state = 'running')");
  query.bind(1, world_id);
  return read_total(query);
}

WorldHoldings SqliteStore::world_holdings(std::int64_t world_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT events_written, reserved_events FROM worlds WHERE id = ?");
  query.bind(1, world_id);
  if (!query.step()) return {};
  return WorldHoldings{query.int64(0), query.int64(1)};
}

std::int64_t SqliteStore::pending_simulation_count(std::int64_t user_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT pending_simulations FROM users WHERE id = ?");
  query.bind(1, user_id);
  return query.step() ? query.int64(0) : 0;
}

PendingTotal SqliteStore::pending_generation_total(std::int64_t world_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection,
                      "SELECT COUNT(*), COALESCE(SUM(g.count), 0) "
                      "FROM persona_generations AS g INDEXED BY persona_generations_open JOIN jobs AS j ON j.id = g.job_id "
                      "WHERE g.world_id = ? AND g.finished_at IS NULL AND (j.state = 'queued' OR j.state = 'running')");
  query.bind(1, world_id);
  return read_total(query);
}

std::vector<PendingWork> SqliteStore::pending_simulations_of_user(std::int64_t user_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT job_id, max_events - events_written FROM simulations INDEXED BY "
                          "simulations_pending_user WHERE user_id = ? AND completed_at IS NULL");
  query.bind(1, user_id);
  return read_pending(query);
}

std::vector<PendingWork> SqliteStore::pending_simulations_of_world(std::int64_t world_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT job_id, max_events - events_written FROM simulations INDEXED BY "
                          "simulations_pending_world WHERE world_id = ? AND completed_at IS NULL");
  query.bind(1, world_id);
  return read_pending(query);
}

std::int64_t SqliteStore::world_events(std::int64_t world_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT COALESCE(SUM(events_written), 0) FROM simulations WHERE world_id = ?");
  query.bind(1, world_id);
  query.step();
  return query.int64(0);
}

// Kept by create_world and mark_world_deleted (migration 0009).
std::int64_t SqliteStore::count_worlds(std::int64_t user_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT live_worlds FROM users WHERE id = ?");
  query.bind(1, user_id);
  return query.step() ? query.int64(0) : 0;
}

void SqliteStore::record_generation(std::int64_t world_id, std::int64_t number, std::int64_t count, std::int64_t job_id,
                              std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  db::Statement insert(m_connection, "INSERT INTO persona_generations (world_id, number, count, job_id, created_at) "
                           "VALUES (?, ?, ?, ?, ?)");
  insert.bind(1, world_id);
  insert.bind(2, number);
  insert.bind(3, count);
  insert.bind(4, job_id);
  insert.bind(5, now_ms);
  insert.exec();
}

std::vector<PendingWork> SqliteStore::pending_generations(std::int64_t world_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT job_id, count FROM persona_generations WHERE world_id = ? AND finished_at IS NULL");
  query.bind(1, world_id);
  std::vector<PendingWork> pending;
  while (query.step()) {
    pending.push_back(PendingWork{query.int64(0), query.int64(1)});
  }
  return pending;
}

void SqliteStore::finish_generation(std::int64_t world_id, std::int64_t number, std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  db::Statement update(m_connection, "UPDATE persona_generations SET finished_at = COALESCE(finished_at, ?) "
                           "WHERE world_id = ? AND number = ?");
  update.bind(1, now_ms);
  update.bind(2, world_id);
  update.bind(3, number);
  update.exec();
}

}  // namespace pw::store
