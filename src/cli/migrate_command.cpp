// `personaworlds migrate [up|status]`: the schema's settings.
#include <memory>

#include "cli/command.hpp"

namespace pw::cli {

Command add_migrate_command(Options& root) {
  auto config = std::make_shared<config::MigrateConfig>();
  Options command = root.subcommand("migrate", "Apply (up, the default) or list (status) schema migrations");
  command.settings(config::database_settings(), config::role_migrate, config->db);
  command.settings(config::log_settings(), config::role_migrate, config->log);
  Options up = command.subcommand("up", "Apply pending migrations (default)");
  Options status = command.subcommand("status", "List applied and pending migrations; exit 1 if any is pending");
  command.require_subcommand(0, 1);
  // `migrate status --db X`: options of the parent command are accepted
  // after the sub-subcommand too.
  up.fallthrough();
  status.fallthrough();
  return {command, [config, status] {
            if (auto problem = config::resolve_database_url(config->db)) return refuse(*problem);
            if (auto problem = config::validate(*config)) return refuse(*problem);
            return Parsed{MigrateCommand{*config, status.parsed()}, 0};
          }};
}

}  // namespace pw::cli
