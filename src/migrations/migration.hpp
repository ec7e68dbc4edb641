// A schema migration: parsed from an `NNNN_description.sql` file name and its SQL.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "migrations/embedded.hpp"

namespace pw::migrations {

struct FileName {
  int version;
  std::string description;
};

// Accepts exactly four or more digits, an underscore, a description of
// [a-z0-9_], and ".sql"; anything else is nothing.
std::optional<FileName> parse_file_name(std::string_view name);

struct Migration {
  int version;
  std::string name;  // the file name
  std::string sql;
  std::string checksum;  // SHA-256 of the SQL
};

// Parses, checks and orders a set of files. Throws std::invalid_argument on a
// bad name or a duplicate version: the build must not ship either.
std::vector<Migration> load(const std::vector<EmbeddedFile>& files);

// The migrations compiled into this binary for one database driver. Both
// dialects share one numbering: version N means the same schema on each.
const std::vector<Migration>& embedded(Dialect dialect = Dialect::sqlite);

}  // namespace pw::migrations
