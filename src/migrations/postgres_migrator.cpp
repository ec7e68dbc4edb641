#include "migrations/postgres_migrator.hpp"

namespace pw::migrations {

using db::postgres::Params;
using db::postgres::Transaction;

namespace {

// Holds the migration lock for its scope. A session lock, not a transaction
// one: it spans the many transactions of one run. Should the process die,
// the server ends the session and the lock with it.
class AdvisoryLock {
 public:
  AdvisoryLock(db::postgres::Connection& connection, std::int64_t key) : m_connection(connection), m_key(key) {
    m_connection.query("SELECT pg_advisory_lock($1)", Params().add(m_key));
  }
  ~AdvisoryLock() {
    try {
      if (m_connection.healthy()) m_connection.query("SELECT pg_advisory_unlock($1)", Params().add(m_key));
    } catch (...) {
      // The lock ends with the session.
    }
  }
  AdvisoryLock(const AdvisoryLock&) = delete;
  AdvisoryLock& operator=(const AdvisoryLock&) = delete;

 private:
  db::postgres::Connection& m_connection;
  std::int64_t m_key;
};

constexpr const char* kNowMs = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

}  // namespace

PostgresMigrator::PostgresMigrator(db::postgres::Connection& connection, const std::vector<Migration>& known)
    : m_connection(connection), m_known(known) {}

std::vector<AppliedMigration> PostgresMigrator::read_applied() {
  std::vector<AppliedMigration> out;
  auto exists = m_connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists.boolean(0, 0)) return out;
  auto rows = m_connection.query("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version");
  for (int i = 0; i < rows.size(); ++i) {
    out.push_back(AppliedMigration{rows.int32(i, 0), rows.text(i, 1), rows.text(i, 2), rows.int64(i, 3)});
  }
  return out;
}

Status PostgresMigrator::status() { return compare(read_applied(), m_known); }

std::vector<Migration> PostgresMigrator::apply_pending(const std::function<void(const Migration&)>& on_applied) {
  AdvisoryLock lock(m_connection, kLockKey);
  m_connection.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version integer PRIMARY KEY,"
      " name text NOT NULL,"
      " checksum text NOT NULL,"
      " applied_at bigint NOT NULL)");
  Status current = status();
  if (!current.problems.empty()) throw SchemaError(current.problems.front());
  std::vector<Migration> applied;
  for (const auto& migration : current.pending) {
    Transaction transaction(m_connection);
    m_connection.exec(migration.sql);
    m_connection.query(std::string("INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                                   "VALUES ($1, $2, $3, ") + kNowMs + ")",
                       Params().add(migration.version).add(migration.name).add(migration.checksum));
    transaction.commit();
    applied.push_back(migration);
    if (on_applied) on_applied(migration);
  }
  return applied;
}

}  // namespace pw::migrations
