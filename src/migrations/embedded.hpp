// The migrations/<dialect>/*.sql files, compiled into the binary (see
// cmake/EmbedMigrations.cmake).
#pragma once

#include <string_view>
#include <vector>

namespace pw::migrations {

// Each database driver has its own SQL for the same numbered migrations.
enum class Dialect { sqlite, postgres };

struct EmbeddedFile {
  std::string_view name;  // e.g. "0001_jobs.sql"
  std::string_view sql;
  Dialect dialect = Dialect::sqlite;
};

// Every dialect's files, each dialect's in name order.
const std::vector<EmbeddedFile>& embedded_files();

}  // namespace pw::migrations
