// Reaching the PostgreSQL server from a one-shot command (`migrate`,
// `migrate copy`).
#pragma once

#include <memory>

#include "config/config.hpp"
#include "db/postgres/connection.hpp"
#include "observability/logger.hpp"

namespace pw::app {

// A server that is starting (a container beside this one) or restarting is
// waited for, with backoff, for config.connect_wait_s; then its error stands.
std::unique_ptr<db::postgres::Connection> connect_waiting(const config::DatabaseConfig& config,
                                                          const observability::Logger& logger);

}  // namespace pw::app
