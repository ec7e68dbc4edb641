#include "app/startup.hpp"

#include <iostream>

#include "migrations/migrator.hpp"

namespace pw::app {

bool schema_allows_start(storage::Storage& storage, const observability::Logger& logger) {
  try {
    auto status = storage.with_session([](storage::Session& session) { return session.schema_status(); });
    if (!status.problems.empty()) {
      logger.error("schema_refused", {{"error", status.problems.front()}, {"db", storage.location()}});
      std::cerr << "personaworlds: refusing to start: " << status.problems.front() << "\n";
      return false;
    }
    if (!status.pending.empty()) {
      logger.warn("migrations_pending", {{"next", status.pending.front().name},
                                         {"pending", static_cast<std::int64_t>(status.pending.size())},
                                         {"hint", "run `personaworlds migrate`"}});
    }
  } catch (const std::exception& e) {
    observability::LogFields fields{{"error", e.what()}, {"db", storage.location()}};
    if (storage.is_postgres()) {
      fields.emplace_back("hint",
                          "check --database-url / DATABASE_URL; meanwhile requests get 503 and the connection is "
                          "retried with a growing pause");
    }
    logger.warn("database_unavailable", fields);
  }
  return true;
}

std::size_t request_sessions(const config::DatabaseConfig& db, int request_threads) {
  if (config::uses_postgres(db)) return static_cast<std::size_t>(db.pool_size);
  return static_cast<std::size_t>(request_threads) + 2;
}

}  // namespace pw::app
