#include "schedule/postgres_schedule_store.hpp"

namespace pw::schedule {

using db::postgres::Params;
using db::postgres::Rows;

namespace {

const std::string kColumns =
    "id, kind, name, job_type, payload, user_id, world_id, ticks, cron, time_zone, next_tick_at, created_at";

Schedule read_schedule(const Rows& rows, int row) {
  Schedule schedule;
  schedule.id = rows.int64(row, 0);
  schedule.kind = rows.text(row, 1) == "world" ? ScheduleKind::world : ScheduleKind::operator_job;
  schedule.name = rows.optional_text(row, 2).value_or("");
  schedule.job_type = rows.optional_text(row, 3).value_or("");
  schedule.payload = rows.optional_text(row, 4).value_or("{}");
  schedule.user_id = rows.optional_int64(row, 5).value_or(0);
  schedule.world_id = rows.optional_int64(row, 6).value_or(0);
  schedule.ticks = static_cast<int>(rows.optional_int64(row, 7).value_or(0));
  schedule.cron = rows.text(row, 8);
  schedule.time_zone = rows.text(row, 9);
  schedule.next_tick_at_ms = rows.optional_int64(row, 10);
  schedule.created_at_ms = rows.int64(row, 11);
  return schedule;
}

std::vector<Schedule> read_all(const Rows& rows) {
  std::vector<Schedule> out;
  for (int row = 0; row < rows.size(); ++row) out.push_back(read_schedule(rows, row));
  return out;
}

}  // namespace

Schedule PostgresScheduleStore::create(const Schedule& schedule) {
  const bool world = schedule.kind == ScheduleKind::world;
  Params params;
  params.add(kind_name(schedule.kind));
  if (world) {
    params.add_null().add_null().add_null().add(schedule.user_id).add(schedule.world_id).add(schedule.ticks);
  } else {
    params.add(schedule.name).add(schedule.job_type).add(schedule.payload).add_null().add_null().add_null();
  }
  params.add(schedule.cron).add(schedule.time_zone).add(schedule.next_tick_at_ms).add(schedule.created_at_ms);
  auto inserted = m_connection.prepared(
      "schedule_create",
      "INSERT INTO schedules (kind, name, job_type, payload, user_id, world_id, ticks, cron, time_zone, "
      "next_tick_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
      params);
  Schedule created = schedule;
  created.id = inserted.int64(0, 0);
  return created;
}

std::optional<Schedule> PostgresScheduleStore::find_operator(const std::string& name) {
  static const std::string sql = "SELECT " + kColumns + " FROM schedules WHERE kind = 'operator' AND name = $1";
  auto rows = m_connection.prepared("schedule_find_operator", sql, Params().add(name));
  if (rows.empty()) return std::nullopt;
  return read_schedule(rows, 0);
}

std::vector<Schedule> PostgresScheduleStore::list_operator() {
  static const std::string sql = "SELECT " + kColumns + " FROM schedules WHERE kind = 'operator' ORDER BY name";
  return read_all(m_connection.prepared("schedule_list_operator", sql, Params()));
}

bool PostgresScheduleStore::remove_operator(const std::string& name) {
  return m_connection
             .prepared("schedule_remove_operator", "DELETE FROM schedules WHERE kind = 'operator' AND name = $1",
                       Params().add(name))
             .affected() > 0;
}

std::vector<Schedule> PostgresScheduleStore::list_world(std::int64_t world_id) {
  static const std::string sql = "SELECT " + kColumns + " FROM schedules WHERE world_id = $1 ORDER BY id";
  return read_all(m_connection.prepared("schedule_list_world", sql, Params().add(world_id)));
}

bool PostgresScheduleStore::remove_world(std::int64_t world_id, std::int64_t id) {
  return m_connection
             .prepared("schedule_remove_world", "DELETE FROM schedules WHERE id = $1 AND world_id = $2",
                       Params().add(id).add(world_id))
             .affected() > 0;
}

std::int64_t PostgresScheduleStore::count_for_user(std::int64_t user_id) {
  // The user's row lock orders concurrent adds: the second counts after the
  // first commits, so the cap holds under READ COMMITTED.
  m_connection.prepared("schedule_lock_user", "SELECT id FROM users WHERE id = $1 FOR UPDATE", Params().add(user_id));
  return m_connection
      .prepared("schedule_count_for_user", "SELECT COUNT(*) FROM schedules WHERE user_id = $1", Params().add(user_id))
      .int64(0, 0);
}

std::vector<Schedule> PostgresScheduleStore::due(std::int64_t now_ms, int limit) {
  static const std::string sql = "SELECT " + kColumns +
                                 " FROM schedules WHERE next_tick_at IS NOT NULL AND next_tick_at <= $1"
                                 " ORDER BY next_tick_at, id LIMIT $2";
  return read_all(m_connection.prepared("schedule_due", sql, Params().add(now_ms).add(limit)));
}

bool PostgresScheduleStore::advance(std::int64_t id, std::int64_t expected_ms, std::optional<std::int64_t> next_ms) {
  // READ COMMITTED: a second worker's UPDATE waits for the first's commit,
  // then re-reads the row, finds next_tick_at moved on and changes nothing.
  return m_connection
             .prepared("schedule_advance",
                       "UPDATE schedules SET next_tick_at = $1 WHERE id = $2 AND next_tick_at = $3",
                       Params().add(next_ms).add(id).add(expected_ms))
             .affected() > 0;
}

}  // namespace pw::schedule
