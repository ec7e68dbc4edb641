#include "schedule/sqlite_schedule_store.hpp"

#include "db/statement.hpp"

namespace pw::schedule {
namespace {

constexpr const char* kColumns =
    "id, kind, name, job_type, payload, user_id, world_id, ticks, cron, time_zone, next_tick_at, created_at";

Schedule read_schedule(const db::Statement& query) {
  Schedule schedule;
  schedule.id = query.int64(0);
  schedule.kind = query.text(1) == "world" ? ScheduleKind::world : ScheduleKind::operator_job;
  schedule.name = query.optional_text(2).value_or("");
  schedule.job_type = query.optional_text(3).value_or("");
  schedule.payload = query.optional_text(4).value_or("{}");
  schedule.user_id = query.optional_int64(5).value_or(0);
  schedule.world_id = query.optional_int64(6).value_or(0);
  schedule.ticks = static_cast<int>(query.optional_int64(7).value_or(0));
  schedule.cron = query.text(8);
  schedule.time_zone = query.text(9);
  schedule.next_tick_at_ms = query.optional_int64(10);
  schedule.created_at_ms = query.int64(11);
  return schedule;
}

std::vector<Schedule> read_all(db::Statement& query) {
  std::vector<Schedule> out;
  while (query.step()) out.push_back(read_schedule(query));
  return out;
}

}  // namespace

Schedule SqliteScheduleStore::create(const Schedule& schedule) {
  auto timer = m_connection.time_query();
  db::Statement insert(m_connection,
                       "INSERT INTO schedules (kind, name, job_type, payload, user_id, world_id, ticks, cron, "
                       "time_zone, next_tick_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  const bool world = schedule.kind == ScheduleKind::world;
  insert.bind(1, kind_name(schedule.kind));
  if (world) {
    insert.bind_null(2).bind_null(3).bind_null(4);
    insert.bind(5, schedule.user_id).bind(6, schedule.world_id).bind(7, schedule.ticks);
  } else {
    insert.bind(2, schedule.name).bind(3, schedule.job_type).bind(4, schedule.payload);
    insert.bind_null(5).bind_null(6).bind_null(7);
  }
  insert.bind(8, schedule.cron);
  insert.bind(9, schedule.time_zone);
  insert.bind(10, schedule.next_tick_at_ms);
  insert.bind(11, schedule.created_at_ms);
  insert.exec();
  Schedule created = schedule;
  created.id = m_connection.last_insert_rowid();
  return created;
}

std::optional<Schedule> SqliteScheduleStore::find_operator(const std::string& name) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection,
                      std::string("SELECT ") + kColumns + " FROM schedules WHERE kind = 'operator' AND name = ?");
  query.bind(1, name);
  if (!query.step()) return std::nullopt;
  return read_schedule(query);
}

std::vector<Schedule> SqliteScheduleStore::list_operator() {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection,
                      std::string("SELECT ") + kColumns + " FROM schedules WHERE kind = 'operator' ORDER BY name");
  return read_all(query);
}

bool SqliteScheduleStore::remove_operator(const std::string& name) {
  auto timer = m_connection.time_query();
  db::Statement remove(m_connection, "DELETE FROM schedules WHERE kind = 'operator' AND name = ?");
  remove.bind(1, name);
  return remove.exec() > 0;
}

std::vector<Schedule> SqliteScheduleStore::list_world(std::int64_t world_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection,
                      std::string("SELECT ") + kColumns + " FROM schedules WHERE world_id = ? ORDER BY id");
  query.bind(1, world_id);
  return read_all(query);
}

bool SqliteScheduleStore::remove_world(std::int64_t world_id, std::int64_t id) {
  auto timer = m_connection.time_query();
  db::Statement remove(m_connection, "DELETE FROM schedules WHERE id = ? AND world_id = ?");
  remove.bind(1, id);
  remove.bind(2, world_id);
  return remove.exec() > 0;
}

std::int64_t SqliteScheduleStore::count_for_user(std::int64_t user_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT COUNT(*) FROM schedules WHERE user_id = ?");
  query.bind(1, user_id);
  query.step();
  return query.int64(0);
}

std::vector<Schedule> SqliteScheduleStore::due(std::int64_t now_ms, int limit) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, std::string("SELECT ") + kColumns +
                                        " FROM schedules WHERE next_tick_at IS NOT NULL AND next_tick_at <= ?"
                                        " ORDER BY next_tick_at, id LIMIT ?");
  query.bind(1, now_ms);
  query.bind(2, limit);
  return read_all(query);
}

bool SqliteScheduleStore::advance(std::int64_t id, std::int64_t expected_ms, std::optional<std::int64_t> next_ms) {
  auto timer = m_connection.time_query();
  db::Statement update(m_connection, "UPDATE schedules SET next_tick_at = ? WHERE id = ? AND next_tick_at = ?");
  update.bind(1, next_ms);
  update.bind(2, id);
  update.bind(3, expected_ms);
  return update.exec() > 0;
}

}  // namespace pw::schedule
