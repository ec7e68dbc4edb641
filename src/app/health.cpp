#include "app/health.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "migrations/migrator.hpp"

namespace pw::app {

http::Response liveness() { return http::Response::json(200, {{"status", "ok"}}); }

void register_health_routes(http::Server& server, HealthRoutes routes) {
  server.route("GET", "/healthz", [alive = routes.alive](const http::Request&) {
    return alive() ? liveness()
                   : http::Response::failure(503, "unhealthy", "a worker thread stopped unexpectedly");
  });
  server.route("GET", "/readyz", [routes](const http::Request&) {
    return readiness(routes.db, routes.pool, routes.shutting_down);
  });
  server.route("GET", "/metrics", [&metrics = routes.metrics](const http::Request&) {
    return http::Response::text(200, metrics.scrape(), observability::Metrics::kContentType);
  });
  server.serve_under_load("/healthz");
  server.serve_under_load("/metrics");
}

http::Response readiness(const config::DatabaseConfig& db, db::ConnectionPool& pool,
                         const std::atomic<bool>& shutting_down) {
  nlohmann::json checks = nlohmann::json::object();
  bool ok = true;
  if (shutting_down) {
    checks["shutdown"] = {{"ok", false}, {"error", "shutting down"}};
    ok = false;
  }
  try {
    // An open connection keeps working on a file that was deleted or replaced
    // under it; check the path too, or readiness would lie.
    std::error_code ec;
    if (!std::filesystem::is_regular_file(db.path, ec)) {
      throw std::runtime_error("database file " + db.path + " is missing or not a regular file");
    }
    // A file that can no longer be written (read-only mount, immutable flag,
    // permissions) still answers the read below, and a connection opened
    // earlier only finds out on its next write: ask the file system.
    for (const std::string& file : {db.path, db.path + "-wal"}) {
      if (::access(file.c_str(), W_OK) != 0 && errno != ENOENT) {
        throw std::runtime_error("database file " + file + " is not writable: " + std::strerror(errno));
      }
    }
    auto connection = pool.acquire();
    try {
      connection->sql().exec("SELECT 1 FROM sqlite_master LIMIT 1");
      checks["database"] = {{"ok", true}};
      migrations::Migrator migrator(*connection, migrations::embedded());
      auto status = migrator.status();
      nlohmann::json pending = nlohmann::json::array();
      for (const auto& m : status.pending) pending.push_back(m.name);
      if (status.up_to_date()) {
        checks["migrations"] = {{"ok", true}, {"applied", status.applied.size()}};
      } else {
        ok = false;
        checks["migrations"] = {{"ok", false}, {"pending", pending}, {"problems", status.problems}};
      }
    } catch (...) {
      connection.discard();
      throw;
    }
  } catch (const std::exception& e) {
    ok = false;
    checks["database"] = {{"ok", false}, {"error", e.what()}};
  }
  auto response = http::Response::json(ok ? 200 : 503, {{"status", ok ? "ok" : "unavailable"}, {"checks", checks}});
  response.with_header("Cache-Control", "no-store");
  return response;
}

}  // namespace pw::app
