// The schedules table on SQLite (schedule/schedule_store.hpp).
#pragma once

#include "db/connection.hpp"
#include "schedule/schedule_store.hpp"

namespace pw::schedule {

class SqliteScheduleStore final : public ScheduleStore {
 public:
  explicit SqliteScheduleStore(db::Connection& connection) : m_connection(connection) {}

  Schedule create(const Schedule& schedule) override;
  std::optional<Schedule> find_operator(const std::string& name) override;
  std::vector<Schedule> list_operator() override;
  bool remove_operator(const std::string& name) override;
  std::vector<Schedule> list_world(std::int64_t world_id) override;
  bool remove_world(std::int64_t world_id, std::int64_t id) override;
  std::int64_t count_for_user(std::int64_t user_id) override;
  std::vector<Schedule> due(std::int64_t now_ms, int limit) override;
  bool advance(std::int64_t id, std::int64_t expected_ms, std::optional<std::int64_t> next_ms) override;

 private:
  db::Connection& m_connection;
};

}  // namespace pw::schedule
