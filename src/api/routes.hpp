// The /v1 routes of the PersonaWorlds API.
#pragma once

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
};

void register_routes(http::Server& server, const Dependencies& deps);

}  // namespace pw::api
