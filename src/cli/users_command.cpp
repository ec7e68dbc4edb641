// `personaworlds users token HANDLE`: account recovery for the operator.
#include <memory>

#include "cli/command.hpp"

namespace pw::cli {

Command add_users_command(Options& root) {
  auto users = std::make_shared<config::UsersConfig>();
  Options command = root.subcommand("users", "Manage users as the operator");
  command.require_subcommand(1, 1);
  command.fallthrough();
  command.settings(config::database_settings(), config::role_users, users->db);
  Options token =
      command.subcommand("token", "Print a new bearer token for an existing user (to recover an account)");
  token.argument("handle", users->handle, "The user's handle", true);
  token.argument("--name", users->token_name, "Name of the token, as GET /v1/tokens lists it");
  token.argument("--expires-in-seconds", users->expires_in_s, "Lifetime of the token (0: never expires)");
  token.fallthrough();
  return {command, [users] {
            users->db.create_if_missing = false;
            if (auto problem = config::resolve_database_url(users->db)) return refuse(*problem);
            if (auto problem = config::validate(*users)) return refuse(*problem);
            return Parsed{*users, 0};
          }};
}

}  // namespace pw::cli
