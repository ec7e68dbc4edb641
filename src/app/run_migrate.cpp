#include <filesystem>
#include <iostream>

#include "app/roles.hpp"
#include "db/connection.hpp"
#include "migrations/migrator.hpp"
#include "observability/log_line.hpp"
#include "observability/logger.hpp"

namespace pw::app {

int run_migrate(const config::MigrateConfig& config, bool status_only) {
  observability::Logger logger("migrate", config.log);
  try {
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
      for (const auto& applied : status.applied) {
        std::cout << "applied  " << applied.name << "  "
                  << observability::format_rfc3339_ms(applied.applied_at_ms) << "\n";
      }
      for (const auto& pending : status.pending) std::cout << "pending  " << pending.name << "\n";
      for (const auto& problem : status.problems) std::cout << "error    " << problem << "\n";
      std::cout << status.applied.size() << " applied, " << status.pending.size() << " pending\n";
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
    logger.error("migrate_failed", {{"error", e.what()}, {"db", config.db.path}});
    std::cerr << "personaworlds migrate: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace pw::app
