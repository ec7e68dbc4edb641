// Checks every long-running role makes before it starts.
#pragma once

#include "config/config.hpp"
#include "observability/logger.hpp"
#include "storage/storage.hpp"

namespace pw::app {

// False (after logging why) when the database holds a migration this binary
// does not know or one whose file changed: running against it could corrupt
// data. A missing database or pending migrations are not fatal: the process
// starts and /readyz reports not ready until `migrate` has run.
bool schema_allows_start(storage::Storage& storage, const observability::Logger& logger);

// One session per request thread, plus the scrapes' and the probes': on
// PostgreSQL at most DATABASE_POOL_SIZE (server connections are the scarce
// resource there, and requests wait briefly for a session instead).
std::size_t request_sessions(const config::DatabaseConfig& db, int request_threads);

}  // namespace pw::app
