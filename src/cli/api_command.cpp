// `personaworlds api`: the HTTP API's settings.
#include <memory>

#include "cli/command.hpp"
#include "cli/flags.hpp"

namespace pw::cli {

Command add_api_command(CLI::App& app) {
  auto config = std::make_shared<config::ApiConfig>();
  auto* command = app.add_subcommand("api", "Serve the HTTP API (default :8080) with /healthz, /readyz, /metrics");
  add_settings(*command, config::database_settings(), config::role_api, config->db);
  add_settings(*command, config::log_settings(), config::role_api, config->log);
  add_settings(*command, config::http_settings(), config::role_api, config->http);
  add_settings(*command, config::retry_settings(), config::role_api, config->retry);
  add_settings(*command, config::webhook_settings(), config::role_api, config->webhook);
  add_settings(*command, config::limit_settings(), config::role_api, config->limits);
  add_settings(*command, config::api_settings(), config::role_api, *config);
  return {command, [config] {
            config->db.create_if_missing = false;
            if (auto problem = config::validate(*config)) return refuse(*problem);
            return Parsed{*config, 0};
          }};
}

}  // namespace pw::cli
