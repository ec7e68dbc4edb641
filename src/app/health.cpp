#include "app/health.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "db/error.hpp"
#include "migrations/migrator.hpp"

namespace pw::app {

http::Response liveness() { return http::Response::json(200, {{"status", "ok"}}); }

void register_health_routes(http::Server& server, HealthRoutes routes) {
  server.route("GET", "/healthz", [alive = routes.alive](const http::Request&) {
    return alive() ? liveness()
                   : http::Response::failure(503, "unhealthy", "a worker thread stopped unexpectedly");
  });
  server.route("GET", "/readyz", [routes](const http::Request&) {
    return readiness(routes.db, routes.storage, routes.shutting_down);
  });
  server.route("GET", "/metrics", [&metrics = routes.metrics](const http::Request&) {
    return http::Response::text(200, metrics.scrape(), observability::Metrics::kContentType);
  });
  server.serve_under_load("/healthz");
  server.serve_under_load("/metrics");
}

namespace {

// How long readiness waits for the write lock. A writer of this system holds
// it for milliseconds; one that waits longer than this is stuck behind
// something else (another process, a long transaction), and so is every write.
constexpr int kWriteLockProbeMs = 500;

// 0 when `path` is writable, else the errno that says why.
int write_error(const std::string& path) { return ::access(path.c_str(), W_OK) == 0 ? 0 : errno; }

// Whether this process can write right now: where writes land (the WAL, or
// the folder that will hold it) is writable, and the write lock is free
// within kWriteLockProbeMs. The main file is reported but not required:
// commits go to the WAL, and only checkpoints write the main file.
nlohmann::json write_check(const config::DatabaseConfig& db) {
  nlohmann::json check = {{"ok", true}};
  const int main_error = write_error(db.path);
  check["main_file_writable"] = main_error == 0;
  if (main_error != 0) {
    check["warning"] = "database file " + db.path + " is not writable (" + std::strerror(main_error) +
                       "): writes still commit to the WAL, but checkpoints cannot copy it back, so it grows";
  }
  // Commits land in the WAL; without one yet, the folder must take a new one.
  std::string landing = db.path + "-wal";
  if (::access(landing.c_str(), F_OK) != 0) {
    landing = std::filesystem::absolute(db.path).parent_path().string();
  }
  if (const int landing_error = write_error(landing); landing_error != 0) {
    check["ok"] = false;
    check["error"] = landing + " is not writable: " + std::strerror(landing_error);
    return check;
  }
  config::DatabaseConfig probe_config = db;
  probe_config.create_if_missing = false;
  probe_config.busy_timeout_ms = std::min(db.busy_timeout_ms, kWriteLockProbeMs);
  try {
    db::Connection probe(probe_config);
    db::WriteTransaction lock(probe);  // rolled back: nothing is written
  } catch (const db::Error& e) {
    check["ok"] = false;
    check["error"] = e.fault() == db::Fault::busy
                         ? "the write lock was not free within " + std::to_string(probe_config.busy_timeout_ms) +
                               " ms: another connection holds it, and writes wait for it (up to " +
                               std::to_string(db.busy_timeout_ms) + " ms) or fail"
                         : std::string("cannot take the write lock: ") + e.what();
  }
  return check;
}

}  // namespace

http::Response readiness(const config::DatabaseConfig& db, storage::Storage& storage,
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
    if (!storage.is_postgres() && !std::filesystem::is_regular_file(db.path, ec)) {
      throw std::runtime_error("database file " + db.path + " is missing or not a regular file");
    }
    auto session = storage.acquire();
    try {
      // Reading the applied migrations proves the database answers.
      auto status = session->schema_status();
      checks["database"] = {{"ok", true}};
      nlohmann::json pending = nlohmann::json::array();
      for (const auto& m : status.pending) pending.push_back(m.name);
      if (status.up_to_date()) {
        checks["migrations"] = {{"ok", true}, {"applied", status.applied.size()}};
      } else {
        ok = false;
        checks["migrations"] = {{"ok", false}, {"pending", pending}, {"problems", status.problems}};
      }
      if (storage.is_postgres()) {
        auto problem = session->write_problem();
        checks["writes"] = problem ? nlohmann::json{{"ok", false}, {"error", *problem}} : nlohmann::json{{"ok", true}};
      }
    } catch (...) {
      session.discard();
      throw;
    }
    // A file that can no longer be written (read-only mount, immutable flag,
    // permissions) still answers the read above, and so does a database
    // whose write lock another process holds: check writing on its own.
    if (!storage.is_postgres()) checks["writes"] = write_check(db);
    if (!checks["writes"]["ok"].get<bool>()) ok = false;
  } catch (const std::exception& e) {
    ok = false;
    checks["database"] = {{"ok", false}, {"error", e.what()}};
  }
  auto response = http::Response::json(ok ? 200 : 503, {{"status", ok ? "ok" : "unavailable"}, {"checks", checks}});
  response.with_header("Cache-Control", "no-store");
  return response;
}

}  // namespace pw::app
