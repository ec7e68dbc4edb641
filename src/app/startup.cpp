#include "app/startup.hpp"

#include <iostream>

#include "db/connection.hpp"
#include "migrations/migrator.hpp"

namespace pw::app {

bool schema_allows_start(const config::DatabaseConfig& db, const observability::Logger& logger) {
  try {
    db::Connection connection(db);
    migrations::Migrator migrator(connection, migrations::embedded());
    auto status = migrator.status();
    if (!status.problems.empty()) {
      logger.error("schema_refused", {{"error", status.problems.front()}, {"db", db.path}});
      std::cerr << "personaworlds: refusing to start: " << status.problems.front() << "\n";
      return false;
    }
    if (!status.pending.empty()) {
      logger.warn("migrations_pending", {{"next", status.pending.front().name},
                                         {"pending", static_cast<std::int64_t>(status.pending.size())},
                                         {"hint", "run `personaworlds migrate`"}});
    }
  } catch (const std::exception& e) {
    logger.warn("database_unavailable", {{"error", e.what()}, {"db", db.path}});
  }
  return true;
}

}  // namespace pw::app
