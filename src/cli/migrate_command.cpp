// `personaworlds migrate [up|status|copy]`: the schema's settings.
#include <filesystem>
#include <memory>

#include "cli/command.hpp"
#include "db/postgres/connection.hpp"

namespace pw::cli {

namespace {

struct CopyArguments {
  std::string from;
  std::string to;
  int batch_size = 1000;
  bool allow_non_empty = false;
};

// The problem with `migrate copy`'s arguments, or nothing (then `copy` is filled).
std::optional<std::string> resolve_copy(const CopyArguments& arguments, const config::MigrateConfig& migrate,
                                        config::CopyConfig& copy) {
  copy.log = migrate.log;
  copy.batch_size = arguments.batch_size;
  copy.allow_non_empty = arguments.allow_non_empty;
  if (arguments.batch_size < 1 || arguments.batch_size > 100000) {
    return "invalid --batch-size: " + std::to_string(arguments.batch_size) + " is not from 1 to 100000";
  }
  copy.from = migrate.db;
  copy.from.url = arguments.from;
  if (config::resolve_database_url(copy.from) || config::uses_postgres(copy.from) || copy.from.path.empty()) {
    return "invalid --from: '" + db::postgres::Connection::redact(arguments.from) +
           "' is not an SQLite database (sqlite:PATH)";
  }
  std::error_code error;
  if (!std::filesystem::is_regular_file(copy.from.path, error)) {
    return "invalid --from: no SQLite database at " + copy.from.path;
  }
  copy.from.read_only = true;
  copy.from.create_if_missing = false;
  // Without --to, the target is --database-url / DATABASE_URL (which keeps a
  // password off the command line).
  copy.to = migrate.db;
  if (!arguments.to.empty()) copy.to.url = arguments.to;
  if (!config::uses_postgres(copy.to)) {
    return "invalid --to: give the PostgreSQL database to copy into (postgresql://...), or set DATABASE_URL";
  }
  if (auto problem = db::postgres::Connection::check_url(copy.to.url)) {
    return "invalid --to: '" + db::postgres::Connection::redact(copy.to.url) + "': " + *problem;
  }
  return std::nullopt;
}

}  // namespace

Command add_migrate_command(Options& root) {
  auto config = std::make_shared<config::MigrateConfig>();
  auto copy = std::make_shared<CopyArguments>();
  Options command = root.subcommand("migrate", "Apply (up, the default) or list (status) schema migrations, or copy an SQLite database into PostgreSQL (copy)");
  command.settings(config::database_settings(), config::role_migrate, config->db);
  command.settings(config::log_settings(), config::role_migrate, config->log);
  Options up = command.subcommand("up", "Apply pending migrations (default)");
  Options status = command.subcommand("status", "List applied and pending migrations; exit 1 if any is pending");
  Options copying = command.subcommand(
      "copy",
      "Copy every table of an SQLite database into a PostgreSQL one (migrated first), then verify counts and "
      "checksums; stop every role first. Safe to run again after an interruption. Exit 2: refused, nothing "
      "written; 1: failed or a table differs");
  copying.argument("--from", copy->from, "The SQLite database to copy: sqlite:PATH (opened read-only)", true);
  copying.argument("--to", copy->to,
                   "The PostgreSQL database: postgresql://... (default: --database-url / DATABASE_URL)");
  copying.argument("--batch-size", copy->batch_size, "Rows per batch (one PostgreSQL transaction each)");
  copying.flag("--allow-non-empty", copy->allow_non_empty,
               "Copy into a database that already holds rows (they are kept; verification then reports each table "
               "that differs)");
  command.require_subcommand(0, 1);
  // `migrate status --db X`: options of the parent command are accepted
  // after the sub-subcommand too.
  up.fallthrough();
  status.fallthrough();
  copying.fallthrough();
  return {command, [config, copy, status, copying] {
            if (auto problem = config::resolve_database_url(config->db)) return refuse(*problem);
            if (copying.parsed()) {
              config::CopyConfig resolved;
              if (auto problem = resolve_copy(*copy, *config, resolved)) return refuse(*problem);
              if (auto problem = config::validate(config->log)) return refuse(*problem);
              return Parsed{MigrateCommand{*config, false, resolved}, 0};
            }
            if (auto problem = config::validate(*config)) return refuse(*problem);
            return Parsed{MigrateCommand{*config, status.parsed(), std::nullopt}, 0};
          }};
}

}  // namespace pw::cli
