// The settings of the store tests. MigratedDatabase is a migrated SQLite
// database in a temporary folder (the API and job handler tests use it too).
// StoreFixture (SQLite) and PostgresStoreFixture (a fresh migrated database
// on the test server) offer the same members: store() and tokens() behind
// the driver-neutral interfaces, write(fn) to run fn in one write
// transaction, and connection for what only a test does to a database. One
// test body then runs on each driver (TEST_CASE_TEMPLATE over both).
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <type_traits>

#include "config/config.hpp"
#include "db/connection.hpp"
#include "db/postgres/connection.hpp"
#include "migrations/migration.hpp"
#include "migrations/migrator.hpp"
#include "migrations/postgres_migrator.hpp"
#include "store/postgres/store.hpp"
#include "store/sqlite/store.hpp"
#include "support/postgres_server.hpp"
#include "support/temp_dir.hpp"

namespace pw::test {

struct MigratedDatabase {
  TempDir dir;
  config::DatabaseConfig config;

  MigratedDatabase() {
    config.path = dir.file("pw.db");
    config.busy_timeout_ms = 2000;
    db::Connection connection(config);
    migrations::Migrator migrator(connection, migrations::embedded());
    migrator.apply_pending();
  }
};

struct StoreFixture {
  MigratedDatabase database;
  db::Connection connection{database.config};

  store::Store& store() { return m_store; }
  store::Tokens& tokens() { return m_tokens; }

  template <class Work>
  decltype(auto) write(Work&& work) {
    return db::write(connection, std::forward<Work>(work));
  }

 private:
  store::SqliteStore m_store{connection};
  store::SqliteTokens m_tokens{connection};
};

struct PostgresStoreFixture {
  std::string url = PostgresServer::shared().create_database();
  db::postgres::Connection connection{{url}};

  PostgresStoreFixture() {
    migrations::PostgresMigrator(connection, migrations::embedded(migrations::Dialect::postgres)).apply_pending();
  }

  store::Store& store() { return m_store; }
  store::Tokens& tokens() { return m_tokens; }

  template <class Work>
  decltype(auto) write(Work&& work) {
    return in_transaction(connection, std::forward<Work>(work));
  }

  // Another session on the same database (another process, in effect).
  std::unique_ptr<db::postgres::Connection> open() const {
    return std::make_unique<db::postgres::Connection>(db::postgres::Settings{url});
  }

  // Runs `work` in one transaction on `session`, committed unless it throws.
  template <class Work>
  static decltype(auto) in_transaction(db::postgres::Connection& session, Work&& work) {
    db::postgres::Transaction transaction(session);
    if constexpr (std::is_void_v<std::invoke_result_t<Work&>>) {
      work();
      transaction.commit();
    } else {
      auto result = work();
      transaction.commit();
      return result;
    }
  }

 private:
  store::PostgresStore m_store{connection};
  store::PostgresTokens m_tokens{connection};
};

}  // namespace pw::test

TYPE_TO_STRING_AS("SQLite", pw::test::StoreFixture);
TYPE_TO_STRING_AS("PostgreSQL", pw::test::PostgresStoreFixture);
