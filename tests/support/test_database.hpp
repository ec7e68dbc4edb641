// The database a driver-parameterised suite runs on: SQLite in a temporary
// folder by default, a fresh database on the test PostgreSQL server when
// PW_TEST_DRIVER=postgres (ctest registers such suites once per driver).
// Either way migrated, and described by a config::DatabaseConfig as the
// roles take it, so code under test opens it as it would in production.
#pragma once

#include <cctype>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "db/connection.hpp"
#include "db/postgres/connection.hpp"
#include "db/statement.hpp"
#include "migrations/migration.hpp"
#include "migrations/migrator.hpp"
#include "migrations/postgres_migrator.hpp"
#include "support/postgres_server.hpp"
#include "support/temp_dir.hpp"

namespace pw::test {

inline bool testing_postgres() {
  const char* driver = std::getenv("PW_TEST_DRIVER");
  return driver != nullptr && std::string_view(driver) == "postgres";
}

// For messages that should say which driver failed.
inline const char* driver_name() { return testing_postgres() ? "PostgreSQL" : "SQLite"; }

struct TestDatabase {
  TempDir dir;
  config::DatabaseConfig config;

  explicit TestDatabase(bool migrate = true) {
    config.path = dir.file("pw.db");
    config.busy_timeout_ms = 2000;
    if (testing_postgres()) {
      config.url = PostgresServer::shared().create_database();
      if (!migrate) return;
      db::postgres::Connection connection({config.url});
      migrations::PostgresMigrator(connection, migrations::embedded(migrations::Dialect::postgres)).apply_pending();
      return;
    }
    if (!migrate) return;
    db::Connection connection(config);
    migrations::Migrator(connection, migrations::embedded()).apply_pending();
  }

  // What a role is given on its command line to open this database.
  std::string flag() const { return config.url.empty() ? "--db=" + config.path : "--database-url=" + config.url; }
};

// A test's own look into the database, on either driver: what a test
// counts or reads that the product's interfaces do not show. SQL is written
// once with `?` placeholders (rewritten to $1, $2, ... on PostgreSQL) and
// should stay in the dialects' common ground.
class DatabaseProbe {
 public:
  explicit DatabaseProbe(const config::DatabaseConfig& config) {
    if (config.url.empty()) {
      config::DatabaseConfig existing = config;
      existing.create_if_missing = false;
      m_sqlite = std::make_unique<db::Connection>(existing);
    } else {
      m_postgres = std::make_unique<db::postgres::Connection>(db::postgres::Settings{config.url});
    }
  }

  // Statements that return nothing (a test breaking the schema, say).
  void exec(const std::string& sql) {
    if (m_sqlite) {
      m_sqlite->exec(sql);
    } else {
      m_postgres->exec(sql);
    }
  }

  // The first column of the first row as a number (a COUNT(*), a SUM).
  std::int64_t scalar(const std::string& sql, const std::vector<std::string>& params = {}) {
    auto all = rows(sql, 1, params);
    return all.empty() || all[0][0].empty() ? 0 : std::stoll(all[0][0]);
  }

  // The first `columns` columns of every row, as text ("" for NULL).
  std::vector<std::vector<std::string>> rows(const std::string& sql, int columns,
                                             const std::vector<std::string>& params = {}) {
    std::vector<std::vector<std::string>> out;
    if (m_sqlite) {
      db::Statement query(*m_sqlite, sql);
      for (std::size_t i = 0; i < params.size(); ++i) query.bind(static_cast<int>(i) + 1, params[i]);
      while (query.step()) {
        auto& row = out.emplace_back();
        for (int c = 0; c < columns; ++c) row.push_back(query.optional_text(c).value_or(""));
      }
      return out;
    }
    db::postgres::Params values;
    for (const auto& param : params) values.add(param);
    auto result = m_postgres->query(numbered(sql), values);
    for (int r = 0; r < result.size(); ++r) {
      auto& row = out.emplace_back();
      for (int c = 0; c < columns; ++c) row.push_back(result.optional_text(r, c).value_or(""));
    }
    return out;
  }

 private:
  // `?` becomes the next $n; `?N` (a parameter used twice) becomes $N.
  static std::string numbered(const std::string& sql) {
    std::string out;
    int next = 0;
    bool quoted = false;
    for (std::size_t i = 0; i < sql.size(); ++i) {
      const char c = sql[i];
      if (c == '\'') quoted = !quoted;
      if (c != '?' || quoted) {
        out += c;
      } else if (i + 1 < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
        out += '$';
      } else {
        out += "$" + std::to_string(++next);
      }
    }
    return out;
  }

  std::unique_ptr<db::Connection> m_sqlite;
  std::unique_ptr<db::postgres::Connection> m_postgres;
};

}  // namespace pw::test
