// Readiness: can this process do its job right now? A database ping, the
// schema check and a write check, reported check by check.
#pragma once

#include <atomic>
#include <functional>

#include "config/config.hpp"
#include "storage/storage.hpp"
#include "http/message.hpp"
#include "http/server.hpp"
#include "observability/metrics.hpp"

namespace pw::app {

// 200 when the database answers, every embedded migration is applied, writes
// can go through (SQLite: the WAL is writable and the write lock is free
// within half a second; PostgreSQL: the server is not a standby) and the
// process is not shutting down, else 503. Never throws.
http::Response readiness(const config::DatabaseConfig& db, storage::Storage& storage,
                         const std::atomic<bool>& shutting_down);

http::Response liveness();

// GET /healthz, /readyz and /metrics, as both roles serve them. `alive`
// reports whether the process can still do its work (the worker's threads);
// /healthz and /metrics are answered even while the server sheds load.
struct HealthRoutes {
  const config::DatabaseConfig& db;
  storage::Storage& storage;
  observability::Metrics& metrics;
  const std::atomic<bool>& shutting_down;
  std::function<bool()> alive = [] { return true; };
};
void register_health_routes(http::Server& server, HealthRoutes routes);

}  // namespace pw::app
