// Applies and checks schema migrations against one database, recording each in
// `schema_migrations` (version, name, checksum, applied_at).
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "db/connection.hpp"
#include "migrations/migration.hpp"

namespace pw::migrations {

struct AppliedMigration {
  int version;
  std::string name;
  std::string checksum;
  std::int64_t applied_at_ms;
};

struct Status {
  std::vector<AppliedMigration> applied;
  std::vector<Migration> pending;
  // Refusals: an applied migration whose file changed, or one this binary
  // does not know (the database is newer than the binary).
  std::vector<std::string> problems;

  bool up_to_date() const { return pending.empty() && problems.empty(); }
};

// Thrown when the schema is in a state no role may run against.
class SchemaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the database has applied, against what this binary knows.
Status compare(std::vector<AppliedMigration> applied, const std::vector<Migration>& known);
// Throws SchemaError naming the first problem or pending migration.
void require_up_to_date(const Status& status);

// On SQLite.
class Migrator {
 public:
  Migrator(db::Connection& connection, const std::vector<Migration>& known);

  Status status();

  // Applies every pending migration in order, each in its own BEGIN IMMEDIATE
  // transaction. Safe to run from several processes at once: each migration is
  // re-checked under the write lock, so it is applied exactly once.
  // Throws SchemaError when status() has problems. Returns what this call applied.
  std::vector<Migration> apply_pending(const std::function<void(const Migration&)>& on_applied = {});

  // Throws SchemaError naming the first problem or pending migration.
  void require_up_to_date();

 private:
  void ensure_table();
  std::vector<AppliedMigration> read_applied();

  db::Connection& m_connection;
  const std::vector<Migration>& m_known;
};

}  // namespace pw::migrations
