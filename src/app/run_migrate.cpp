#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>
#include <iostream>

#include "app/roles.hpp"
#include "app/postgres_connect.hpp"
#include "db/connection.hpp"
#include "db/postgres/connection.hpp"
#include "migrations/migrator.hpp"
#include "migrations/postgres_migrator.hpp"
#include "observability/log_line.hpp"
#include "observability/logger.hpp"

namespace pw::app {

std::unique_ptr<db::postgres::Connection> connect_waiting(const config::DatabaseConfig& config,
                                                          const observability::Logger& logger) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(config.connect_wait_s);
  std::chrono::milliseconds pause(200);
  for (int attempt = 1;; ++attempt) {
    try {
      return std::make_unique<db::postgres::Connection>(db::postgres::Settings{config.url});
    } catch (const db::Error& error) {
      if (error.fault() != db::Fault::unavailable || std::chrono::steady_clock::now() + pause > deadline) throw;
      logger.warn("database_unreachable", {{"db", db::postgres::Connection::redact(config.url)},
                                           {"attempt", static_cast<std::int64_t>(attempt)},
                                           {"retry_ms", static_cast<std::int64_t>(pause.count())},
                                           {"error", std::string(error.what())}});
      std::this_thread::sleep_for(pause);
      pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::seconds(5));
    }
  }
}

namespace {

void print_status(const migrations::Status& status) {
  for (const auto& applied : status.applied) {
    std::cout << "applied  " << applied.name << "  " << observability::format_rfc3339_ms(applied.applied_at_ms)
              << "\n";
  }
  for (const auto& pending : status.pending) std::cout << "pending  " << pending.name << "\n";
  for (const auto& problem : status.problems) std::cout << "error    " << problem << "\n";
  std::cout << status.applied.size() << " applied, " << status.pending.size() << " pending\n";
}

int run_postgres_migrate(const config::MigrateConfig& config, bool status_only, const observability::Logger& logger) {
  const std::string where = db::postgres::Connection::redact(config.db.url);
  auto connection = connect_waiting(config.db, logger);
  const auto& known = migrations::embedded(migrations::Dialect::postgres);
  migrations::PostgresMigrator migrator(*connection, known);
  if (status_only) {
    auto status = migrator.status();
    print_status(status);
    return status.up_to_date() ? 0 : 1;
  }
  auto applied = migrator.apply_pending([&](const migrations::Migration& m) {
    logger.info("migration_applied", {{"version", m.version}, {"name", m.name}, {"checksum", m.checksum}});
  });
  logger.info(applied.empty() ? "migrations_up_to_date" : "migrations_done",
              {{"applied", static_cast<std::int64_t>(applied.size())},
               {"total", static_cast<std::int64_t>(known.size())},
               {"db", where}});
  return 0;
}

}  // namespace

int run_migrate(const config::MigrateConfig& config, bool status_only) {
  observability::Logger logger("migrate", config.log);
  const std::string where =
      config::uses_postgres(config.db) ? db::postgres::Connection::redact(config.db.url) : config.db.path;
  try {
    if (config::uses_postgres(config.db)) return run_postgres_migrate(config, status_only, logger);
    if (status_only) {
      // A status query creates nothing: no database yet means every
      // migration is pending, and an existing file is opened, never made.
      std::error_code missing;
      migrations::Status status;
      if (std::filesystem::exists(config.db.path, missing)) {
        config::DatabaseConfig existing = config.db;
        existing.create_if_missing = false;
        db::Connection connection(existing);
        status = migrations::Migrator(connection, migrations::embedded()).status();
      } else {
        status.pending = migrations::embedded();
      }
      print_status(status);
      return status.up_to_date() ? 0 : 1;
    }
    db::Connection connection(config.db);
    migrations::Migrator migrator(connection, migrations::embedded());
    auto applied = migrator.apply_pending([&](const migrations::Migration& m) {
      logger.info("migration_applied", {{"version", m.version}, {"name", m.name}, {"checksum", m.checksum}});
    });
    logger.info(applied.empty() ? "migrations_up_to_date" : "migrations_done",
                {{"applied", static_cast<std::int64_t>(applied.size())},
                 {"total", static_cast<std::int64_t>(migrations::embedded().size())},
                 {"db", config.db.path}});
    return 0;
  } catch (const std::exception& e) {
    logger.error("migrate_failed", {{"error", std::string(e.what())}, {"db", where}});
    std::cerr << "personaworlds migrate: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace pw::app
