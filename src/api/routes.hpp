// The /v1 routes of the PersonaWorlds API.
#pragma once

#include <functional>
#include <string_view>

#include "config/config.hpp"
#include "storage/storage.hpp"
#include "http/server.hpp"
#include "observability/logger.hpp"
#include "observability/metrics.hpp"
#include "queue/clock.hpp"

namespace pw::api {

struct Dependencies {
  const config::ApiConfig& config;
  storage::Storage& storage;
  const queue::Clock& clock;
  const observability::Logger& logger;
  observability::Metrics& metrics;  // db_unavailable_total
  // A storage of its own for the console's background count of every job
  // (api/admin_counts.hpp), so it never waits for, or holds, a request's
  // session; it must outlive the server. Nothing: `storage` serves (tests).
  storage::Storage* background_storage = nullptr;
};

// The /v1 routes, and the operator console's (register_admin_routes).
void register_routes(http::Server& server, const Dependencies& deps);

// The route boundary around a handler (routes.cpp): a Refusal becomes its
// JSON error (a 401 with WWW-Authenticate naming `realm`), a database that
// cannot serve becomes 503; anything else goes on to the server's 500.
http::Response guarded(const std::function<http::Response()>& handler, const http::Request& request,
                       const observability::Logger& logger, observability::Metrics& metrics,
                       std::string_view realm = "personaworlds");

// /admin (the page and its assets) and /admin/v1 (admin_routes.cpp), which
// exist only while the console is on: a token file is configured, or an
// admin token is in the database.
void register_admin_routes(http::Server& server, const Dependencies& deps);

}  // namespace pw::api
