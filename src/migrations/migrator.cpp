#include "migrations/migrator.hpp"

#include <chrono>
#include <map>

#include "db/statement.hpp"

namespace pw::migrations {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Migrator::Migrator(db::Connection& connection, const std::vector<Migration>& known)
    : m_connection(connection), m_known(known) {}

void Migrator::ensure_table() {
  if (m_connection.table_exists("schema_migrations")) return;
  db::write(m_connection, [&] {
    m_connection.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL,"
        " checksum TEXT NOT NULL,"
        " applied_at INTEGER NOT NULL)");
  });
}

std::vector<AppliedMigration> Migrator::read_applied() {
  std::vector<AppliedMigration> out;
  if (!m_connection.table_exists("schema_migrations")) return out;
  db::Statement query(m_connection,
                      "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version");
  while (query.step()) {
    out.push_back(AppliedMigration{query.int32(0), query.text(1), query.text(2), query.int64(3)});
  }
  return out;
}

Status compare(std::vector<AppliedMigration> applied, const std::vector<Migration>& known) {
  Status status;
  status.applied = std::move(applied);
  std::map<int, const AppliedMigration*> applied_by_version;
  for (const auto& a : status.applied) applied_by_version[a.version] = &a;
  std::map<int, const Migration*> known_by_version;
  for (const auto& m : known) known_by_version[m.version] = &m;

  for (const auto& a : status.applied) {
    auto found = known_by_version.find(a.version);
    if (found == known_by_version.end()) {
      status.problems.push_back("database has migration " + a.name +
                                " that this binary does not know (the schema is newer than the binary)");
    } else if (found->second->checksum != a.checksum) {
      status.problems.push_back("migration " + a.name +
                                " was changed after it was applied (checksum " + a.checksum +
                                " in the database, " + found->second->checksum + " in the binary)");
    }
  }
  for (const auto& m : known) {
    if (!applied_by_version.contains(m.version)) status.pending.push_back(m);
  }
  return status;
}

void require_up_to_date(const Status& status) {
  if (!status.problems.empty()) throw SchemaError(status.problems.front());
  if (!status.pending.empty()) {
    throw SchemaError("migration " + status.pending.front().name +
                      " is not applied; run `personaworlds migrate` first");
  }
}

Status Migrator::status() { return compare(read_applied(), m_known); }

std::vector<Migration> Migrator::apply_pending(const std::function<void(const Migration&)>& on_applied) {
  ensure_table();
  if (auto current = status(); !current.problems.empty()) {
    throw SchemaError(current.problems.front());
  }
  std::vector<Migration> applied;
  for (const auto& migration : m_known) {
    const bool applied_here = db::write(m_connection, [&] {
      // Another process may have applied it while we waited for the lock.
      db::Statement check(m_connection, "SELECT checksum FROM schema_migrations WHERE version = ?");
      check.bind(1, migration.version);
      if (check.step()) return false;
      m_connection.exec(migration.sql);
      db::Statement record(m_connection,
                           "INSERT INTO schema_migrations(version, name, checksum, applied_at) VALUES (?,?,?,?)");
      record.bind(1, migration.version);
      record.bind(2, migration.name);
      record.bind(3, migration.checksum);
      record.bind(4, now_ms());
      record.exec();
      return true;
    });
    if (!applied_here) continue;
    applied.push_back(migration);
    if (on_applied) on_applied(migration);
  }
  return applied;
}

void Migrator::require_up_to_date() { migrations::require_up_to_date(status()); }

}  // namespace pw::migrations
