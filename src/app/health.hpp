// Readiness: can this process do its job right now? A database ping and the
// schema check, reported check by check.
#pragma once

#include <atomic>

#include "config/config.hpp"
#include "db/connection.hpp"
#include "http/message.hpp"

namespace pw::app {

// 200 when the database answers and every embedded migration is applied and
// the process is not shutting down, else 503. Never throws.
http::Response readiness(const config::DatabaseConfig& db, db::ConnectionPool& pool,
                         const std::atomic<bool>& shutting_down);

http::Response liveness();

}  // namespace pw::app
