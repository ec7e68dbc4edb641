// Sessions on a PostgreSQL server: one connection each, with the store, the
// tokens and the job table on it; writes in READ COMMITTED transactions (the
// store and the job table lock the rows they must, see their SQL).
#include "db/error.hpp"
#include "db/postgres/connection.hpp"
#include "migrations/migration.hpp"
#include "migrations/postgres_migrator.hpp"
#include "queue/postgres_job_queue.hpp"
#include "schedule/postgres_schedule_store.hpp"
#include "storage/drivers.hpp"
#include "store/postgres/admin_tokens.hpp"
#include "store/postgres/store.hpp"

namespace pw::storage {
namespace {

class PostgresSession final : public Session {
 public:
  PostgresSession(const db::postgres::Settings& database, const SessionSettings& settings)
      : m_connection(database, settings.observers.query),
        m_store(m_connection),
        m_tokens(m_connection),
        m_admin_tokens(m_connection),
        m_jobs(m_connection, settings.clock, settings.retry),
        m_schedules(m_connection) {}

  store::Store& store() override { return m_store; }
  store::Tokens& tokens() override { return m_tokens; }
  store::AdminTokens& admin_tokens() override { return m_admin_tokens; }
  queue::JobTable& jobs() override { return m_jobs; }
  schedule::ScheduleStore& schedules() override { return m_schedules; }

  std::unique_ptr<WriteScope> begin_write() override { return std::make_unique<Scope>(m_connection); }

  migrations::Status schema_status() override {
    migrations::PostgresMigrator migrator(m_connection, migrations::embedded(migrations::Dialect::postgres));
    return migrator.status();
  }

  std::optional<std::string> write_problem() override {
    if (m_connection.query("SELECT pg_is_in_recovery()").boolean(0, 0)) {
      return "the server is a standby in recovery: it takes no writes";
    }
    return std::nullopt;
  }

  // A session the server ended (restart, terminated backend, network cut),
  // or one left inside a transaction, never serves again.
  bool reusable() override { return m_connection.healthy() && !m_connection.in_transaction(); }

 private:
  class Scope final : public WriteScope {
   public:
    explicit Scope(db::postgres::Connection& connection) : m_transaction(connection) {}
    void commit() override { m_transaction.commit(); }

   private:
    db::postgres::Transaction m_transaction;
  };

  db::postgres::Connection m_connection;
  store::PostgresStore m_store;
  store::PostgresTokens m_tokens;
  store::PostgresAdminTokens m_admin_tokens;
  queue::PostgresJobQueue m_jobs;
  schedule::PostgresScheduleStore m_schedules;
};

class PostgresStorage final : public Storage {
 public:
  PostgresStorage(const config::DatabaseConfig& config, std::size_t max_sessions, const SessionSettings& settings)
      // Every session busy for this long means the pool is too small for the
      // load or the server is stuck: the caller hears "overloaded" (503).
      : Storage(max_sessions, std::chrono::seconds(5)), m_database(postgres_settings(config)), m_settings(settings) {}

  std::string location() const override { return db::postgres::Connection::redact(m_database.url); }
  bool is_postgres() const override { return true; }

 protected:
  std::unique_ptr<Session> open_session() override {
    return std::make_unique<PostgresSession>(m_database, m_settings);
  }

 private:
  db::postgres::Settings m_database;
  SessionSettings m_settings;
};

}  // namespace

db::postgres::Settings postgres_settings(const config::DatabaseConfig& config) {
  db::postgres::Settings settings;
  settings.url = config.url;
  settings.statement_timeout_ms = config.statement_timeout_ms;
  settings.idle_in_transaction_timeout_ms =
      config.idle_in_transaction_timeout_ms > 0 ? config.idle_in_transaction_timeout_ms : config.statement_timeout_ms;
  return settings;
}

std::unique_ptr<Storage> open_postgres_storage(const config::DatabaseConfig& config, std::size_t max_sessions,
                                               const SessionSettings& settings) {
  return std::make_unique<PostgresStorage>(config, max_sessions, settings);
}

}  // namespace pw::storage
