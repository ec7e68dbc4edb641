// Deleting a world without one long transaction: the world is marked deleted
// in one row, then purged a bounded batch at a time, each batch its own
// short transaction (few row locks, little WAL and few dead rows at once).
#include <array>

#include "store/postgres/store.hpp"

namespace pw::store {

using db::postgres::Params;

bool PostgresStore::mark_world_deleted(std::int64_t user_id, std::int64_t world_id, std::int64_t now_ms) {
  const bool marked =
      m_connection
          .prepared("store_mark_world_deleted",
                    "UPDATE worlds SET deleted_at = $1 WHERE id = $2 AND user_id = $3 AND deleted_at IS NULL",
                    Params().add(now_ms).add(world_id).add(user_id))
          .affected() > 0;
  if (marked) {
    m_connection.prepared("store_count_deleted_world", "UPDATE users SET live_worlds = live_worlds - 1 WHERE id = $1",
                          Params().add(user_id));
  }
  return marked;
}

WorldState PostgresStore::world_state(std::int64_t world_id) {
  auto rows = m_connection.prepared("store_world_state", "SELECT deleted_at IS NULL FROM worlds WHERE id = $1",
                                    Params().add(world_id));
  if (rows.empty()) return WorldState::absent;
  return rows.boolean(0, 0) ? WorldState::live : WorldState::deleted;
}

PurgeStep PostgresStore::purge_world_step(std::int64_t world_id, int batch) {
  // A world is never undeleted: once seen deleted it stays so (or is gone).
  if (const auto state = world_state(world_id); state != WorldState::deleted) {
    return PurgeStep{0, state == WorldState::absent};
  }
  // Children first, each through its world index, at most `batch` rows a
  // step; the world row last, when its cascades find nothing left to do.
  struct Child {
    const char* name;
    const char* sql;
  };
  static constexpr std::array<Child, 4> children{{
      {"store_purge_events",
       "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE world_id = $1 LIMIT $2)"},
      {"store_purge_simulations",
       "DELETE FROM simulations WHERE id IN (SELECT id FROM simulations WHERE world_id = $1 LIMIT $2)"},
      {"store_purge_personas",
       "DELETE FROM personas WHERE id IN (SELECT id FROM personas WHERE world_id = $1 LIMIT $2)"},
      // No id column: the key is (world_id, number).
      {"store_purge_generations",
       "DELETE FROM persona_generations WHERE world_id = $1 AND number IN "
       "(SELECT number FROM persona_generations WHERE world_id = $1 LIMIT $2)"},
  }};
  for (const auto& child : children) {
    const auto rows = m_connection.prepared(child.name, child.sql, Params().add(world_id).add(batch)).affected();
    if (rows > 0) return PurgeStep{rows, false};
  }
  const auto rows = m_connection
                        .prepared("store_purge_world", "DELETE FROM worlds WHERE id = $1 AND deleted_at IS NOT NULL",
                                  Params().add(world_id))
                        .affected();
  return PurgeStep{rows, true};
}

}  // namespace pw::store
