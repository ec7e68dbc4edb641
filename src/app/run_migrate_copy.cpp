// `personaworlds migrate copy`: wires the source, the target and the
// terminal to migrations::copy_database (migrations/copy.hpp).
#include <filesystem>
#include <iostream>

#include "app/postgres_connect.hpp"
#include "app/roles.hpp"
#include "db/connection.hpp"
#include "db/postgres/connection.hpp"
#include "migrations/copy.hpp"
#include "migrations/postgres_migrator.hpp"
#include "observability/logger.hpp"

namespace pw::app {

int run_migrate_copy(const config::CopyConfig& config) {
  observability::Logger logger("migrate", config.log);
  const std::string to = db::postgres::Connection::redact(config.to.url);
  std::error_code error;
  const std::string from = std::filesystem::absolute(config.from.path, error).lexically_normal().string();
  try {
    auto target = connect_waiting(config.to, logger);
    migrations::check_target_before_migrating(*target, config.allow_non_empty);
    // The target gets this binary's schema first, as `migrate` would give it
    // (under the same advisory lock, so a `migrate` elsewhere does no harm).
    const auto& known = migrations::embedded(migrations::Dialect::postgres);
    migrations::PostgresMigrator(*target, known).apply_pending([&](const migrations::Migration& m) {
      logger.info("migration_applied", {{"version", m.version}, {"name", m.name}, {"checksum", m.checksum}});
    });
    db::Connection source(config.from);
    migrations::CopyOptions options;
    options.batch_size = config.batch_size;
    options.allow_non_empty = config.allow_non_empty;
    options.source_name = from;
    options.target_name = to;
    options.progress = &std::cerr;
    auto report = migrations::copy_database(source, *target, options);
    migrations::print_report(report, std::cout);
    std::cout.flush();
    if (!report.ok()) {
      std::cerr << "personaworlds migrate copy: the target differs from the source (see the table above); "
                   "run the copy again to carry on, or copy into a fresh database\n";
      return 1;
    }
    return 0;
  } catch (const migrations::CopyRefused& refused) {
    std::cerr << "personaworlds migrate copy: refused: " << refused.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    logger.error("migrate_copy_failed", {{"error", std::string(e.what())}, {"from", from}, {"to", to}});
    std::cerr << "personaworlds migrate copy: " << e.what() << " (run the same command again to carry on)\n";
    return 1;
  }
}

}  // namespace pw::app
