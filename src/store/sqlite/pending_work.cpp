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

}  // namespace

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

std::int64_t SqliteStore::count_worlds(std::int64_t user_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT COUNT(*) FROM worlds WHERE user_id = ? AND deleted_at IS NULL");
  query.bind(1, user_id);
  query.step();
  return query.int64(0);
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
