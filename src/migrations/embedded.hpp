// The migrations/*.sql files, compiled into the binary (see cmake/EmbedMigrations.cmake).
#pragma once

#include <string_view>
#include <vector>

namespace pw::migrations {

struct EmbeddedFile {
  std::string_view name;  // e.g. "0001_jobs.sql"
  std::string_view sql;
};

const std::vector<EmbeddedFile>& embedded_files();

}  // namespace pw::migrations
