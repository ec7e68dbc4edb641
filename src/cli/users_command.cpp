// `personaworlds users token HANDLE`: account recovery for the operator.
#include <memory>

#include "cli/command.hpp"
#include "cli/flags.hpp"

namespace pw::cli {

Command add_users_command(CLI::App& app) {
  auto users = std::make_shared<config::UsersConfig>();
  auto* command = app.add_subcommand("users", "Manage users as the operator");
  command->require_subcommand(1);
  command->fallthrough();
  add_settings(*command, config::database_settings(), config::role_users, users->db);
  auto* token = command->add_subcommand(
      "token", "Print a new bearer token for an existing user (to recover an account)");
  token->add_option("handle", users->handle, "The user's handle")->required();
  token->add_option("--name", users->token_name, "Name of the token, as GET /v1/tokens lists it")
      ->capture_default_str();
  token->add_option("--expires-in-seconds", users->expires_in_s, "Lifetime of the token (0: never expires)")
      ->capture_default_str();
  token->fallthrough();
  return {command, [users] {
            users->db.create_if_missing = false;
            if (auto problem = config::validate(*users)) return refuse(*problem);
            return Parsed{*users, 0};
          }};
}

}  // namespace pw::cli
