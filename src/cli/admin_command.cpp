// `personaworlds admin token create|list|revoke`: the operator console's
// tokens in the database.
#include <memory>
#include <utility>
#include <vector>

#include "cli/command.hpp"

namespace pw::cli {

Command add_admin_command(Options& root) {
  auto admin = std::make_shared<config::AdminConfig>();
  Options command = root.subcommand("admin", "Manage the operator console's tokens");
  command.require_subcommand(1, 1);
  command.fallthrough();
  // The database settings `users` takes: like it, a command of the operator's.
  command.settings(config::database_settings(), config::role_users, admin->db);
  Options token = command.subcommand("token", "Tokens that open /admin/v1 (stored as their SHA-256 only)");
  token.require_subcommand(1, 1);
  token.fallthrough();

  using Action = config::AdminConfig::Action;
  std::vector<std::pair<Options, Action>> actions;
  Options create = token.subcommand("create", "Make an admin token and print it once on stdout");
  create.argument("--name", admin->name, "Name of the token, as `admin token list` shows it and the audit log names it");
  actions.emplace_back(create, Action::create);
  Options list = token.subcommand("list", "List the admin tokens (never the secrets)");
  list.flag("--json", admin->json, "Machine-readable output");
  actions.emplace_back(list, Action::list);
  Options revoke = token.subcommand("revoke", "Revoke an admin token (refused at once by every API process)");
  revoke.argument("id", admin->token_id, "Token id, as `admin token list` shows it", true);
  actions.emplace_back(revoke, Action::revoke);
  for (auto& [action, _] : actions) action.fallthrough();

  return {command, [admin, actions] {
            for (const auto& [options, action] : actions) {
              if (options.parsed()) admin->action = action;
            }
            admin->db.create_if_missing = false;
            if (auto problem = config::resolve_database_url(admin->db)) return refuse(*problem);
            if (auto problem = config::validate(*admin)) return refuse(*problem);
            return Parsed{*admin, 0};
          }};
}

}  // namespace pw::cli
