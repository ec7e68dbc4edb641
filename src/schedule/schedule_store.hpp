// The schedules table (migrations/*/0010_schedules.sql), one driver each:
// SqliteScheduleStore and PostgresScheduleStore, on a storage::Session's
// connection (Session::schedules()), so a tick's compare-and-set and the job
// it enqueues commit together. No method opens a transaction; database
// errors propagate as db::Error. The unit tests run every case on both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pw::schedule {

enum class ScheduleKind { operator_job, world };

// "operator" or "world": the stored kind and the metric label.
const char* kind_name(ScheduleKind kind);

struct Schedule {
  std::int64_t id = 0;
  ScheduleKind kind = ScheduleKind::operator_job;
  // operator schedules
  std::string name;
  std::string job_type;
  std::string payload = "{}";  // JSON text
  // world schedules
  std::int64_t user_id = 0;
  std::int64_t world_id = 0;
  int ticks = 0;
  // both
  std::string cron;
  std::string time_zone = "UTC";
  std::optional<std::int64_t> next_tick_at_ms;  // nothing: no tick left
  std::int64_t created_at_ms = 0;
};

class ScheduleStore {
 public:
  virtual ~ScheduleStore() = default;

  // Inserts `schedule` (its id and kind-specific fields as given) and
  // returns it with its id. An operator schedule whose name is taken throws
  // db::Error (constraint).
  virtual Schedule create(const Schedule& schedule) = 0;

  virtual std::optional<Schedule> find_operator(const std::string& name) = 0;
  virtual std::vector<Schedule> list_operator() = 0;
  virtual bool remove_operator(const std::string& name) = 0;

  // A world's schedules, in id order (a user holds a few: the cap).
  virtual std::vector<Schedule> list_world(std::int64_t world_id) = 0;
  // Deletes the world's schedule `id`: false when the world has none such.
  virtual bool remove_world(std::int64_t world_id, std::int64_t id) = 0;
  // The user's world schedules. Called in the write transaction that adds
  // one: PostgreSQL locks the user's row, so two concurrent adds are counted
  // one after the other (SQLite's one writer does that by itself).
  virtual std::int64_t count_for_user(std::int64_t user_id) = 0;

  // Schedules whose next tick is at or before now_ms, earliest first.
  virtual std::vector<Schedule> due(std::int64_t now_ms, int limit) = 0;
  // Moves schedule `id` from tick `expected_ms` to `next_ms` (nothing: no
  // tick left). False when its next tick is no longer `expected_ms` (another
  // worker fired it) or it is gone: the caller then enqueues nothing.
  virtual bool advance(std::int64_t id, std::int64_t expected_ms, std::optional<std::int64_t> next_ms) = 0;
};

}  // namespace pw::schedule
