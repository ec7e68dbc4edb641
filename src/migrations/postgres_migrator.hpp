// Applies and checks the PostgreSQL dialect's migrations, recorded in the
// same `schema_migrations` table (version, name, checksum, applied_at) and
// refused on the same problems as on SQLite (see migrator.hpp).
#pragma once

#include <functional>
#include <vector>

#include "db/postgres/connection.hpp"
#include "migrations/migration.hpp"
#include "migrations/migrator.hpp"

namespace pw::migrations {

class PostgresMigrator {
 public:
  PostgresMigrator(db::postgres::Connection& connection, const std::vector<Migration>& known);

  Status status();

  // Applies every pending migration in order, each in its own transaction,
  // under a session advisory lock: `migrate` run on many hosts at once
  // applies each migration exactly once (the others wait, then find nothing
  // left to do). Throws SchemaError when status() has problems. Returns what
  // this call applied.
  std::vector<Migration> apply_pending(const std::function<void(const Migration&)>& on_applied = {});

  void require_up_to_date() { migrations::require_up_to_date(status()); }

  // The advisory lock key every `migrate` takes (pg_advisory_lock).
  static constexpr std::int64_t kLockKey = 0x70776d6967726174;  // "pwmigrat"

 private:
  std::vector<AppliedMigration> read_applied();

  db::postgres::Connection& m_connection;
  const std::vector<Migration>& m_known;
};

}  // namespace pw::migrations
