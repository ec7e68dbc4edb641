// Deleting a world without holding the write lock for long: the world is
// marked deleted in one row, then purged a bounded batch at a time.
#include <array>

#include "store/sqlite/store.hpp"

#include "db/statement.hpp"

namespace pw::store {

bool SqliteStore::mark_world_deleted(std::int64_t user_id, std::int64_t world_id, std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  db::Statement update(m_connection, "UPDATE worlds SET deleted_at = ? WHERE id = ? AND user_id = ? AND deleted_at IS NULL");
  update.bind(1, now_ms);
  update.bind(2, world_id);
  update.bind(3, user_id);
  if (update.exec() == 0) return false;
  db::Statement count(m_connection, "UPDATE users SET live_worlds = live_worlds - 1 WHERE id = ?");
  count.bind(1, user_id);
  count.exec();
  return true;
}

WorldState SqliteStore::world_state(std::int64_t world_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT deleted_at IS NULL FROM worlds WHERE id = ?");
  query.bind(1, world_id);
  if (!query.step()) return WorldState::absent;
  return query.int32(0) != 0 ? WorldState::live : WorldState::deleted;
}

PurgeStep SqliteStore::purge_world_step(std::int64_t world_id, int batch) {
  auto timer = m_connection.time_query();
  if (const auto state = world_state(world_id); state != WorldState::deleted) {
    return PurgeStep{0, state == WorldState::absent};
  }
  // Children first, each through its world index, at most `batch` rows a
  // step; the world row last, when its cascades find nothing left to do.
  static constexpr std::array<const char*, 4> children{
      "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE world_id = ?1 LIMIT ?2)",
      "DELETE FROM simulations WHERE id IN (SELECT id FROM simulations WHERE world_id = ?1 LIMIT ?2)",
      "DELETE FROM personas WHERE id IN (SELECT id FROM personas WHERE world_id = ?1 LIMIT ?2)",
      "DELETE FROM persona_generations WHERE rowid IN "
      "(SELECT rowid FROM persona_generations WHERE world_id = ?1 LIMIT ?2)"};
  for (const char* sql : children) {
    db::Statement remove(m_connection, sql);
    remove.bind(1, world_id);
    remove.bind(2, batch);
    if (const int rows = remove.exec(); rows > 0) return PurgeStep{rows, false};
  }
  db::Statement remove(m_connection, "DELETE FROM worlds WHERE id = ? AND deleted_at IS NOT NULL");
  remove.bind(1, world_id);
  return PurgeStep{remove.exec(), true};
}

}  // namespace pw::store
