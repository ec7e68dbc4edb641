// A migrated database in a temporary folder, for tests of the store, the API
// handlers and the job handlers.
#pragma once

#include "config/config.hpp"
#include "db/connection.hpp"
#include "migrations/migrator.hpp"
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

}  // namespace pw::test
