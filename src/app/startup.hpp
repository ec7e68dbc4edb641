// Checks every long-running role makes before it starts.
#pragma once

#include "config/config.hpp"
#include "observability/logger.hpp"

namespace pw::app {

// False (after logging why) when the database holds a migration this binary
// does not know or one whose file changed: running against it could corrupt
// data. A missing database or pending migrations are not fatal: the process
// starts and /readyz reports not ready until `migrate` has run.
bool schema_allows_start(const config::DatabaseConfig& db, const observability::Logger& logger);

}  // namespace pw::app
