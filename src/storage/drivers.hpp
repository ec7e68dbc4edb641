// Each driver's storage, for open_storage() and for tests that want one
// driver in particular.
#pragma once

#include "db/postgres/connection.hpp"
#include "storage/storage.hpp"

namespace pw::storage {

std::unique_ptr<Storage> open_sqlite_storage(const config::DatabaseConfig& config, std::size_t max_sessions,
                                             const SessionSettings& settings);
// How every PostgreSQL connection of a process is opened.
db::postgres::Settings postgres_settings(const config::DatabaseConfig& config);

std::unique_ptr<Storage> open_postgres_storage(const config::DatabaseConfig& config, std::size_t max_sessions,
                                               const SessionSettings& settings);

}  // namespace pw::storage
