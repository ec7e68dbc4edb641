// `personaworlds api`: the HTTP API's settings.
#include <memory>

#include "cli/command.hpp"

namespace pw::cli {

Command add_api_command(Options& root) {
  auto config = std::make_shared<config::ApiConfig>();
  Options command = root.subcommand("api", "Serve the HTTP API (default :8080) with /healthz, /readyz, /metrics");
  command.settings(config::database_settings(), config::role_api, config->db);
  command.settings(config::log_settings(), config::role_api, config->log);
  command.settings(config::http_settings(), config::role_api, config->http);
  command.settings(config::retry_settings(), config::role_api, config->retry);
  command.settings(config::webhook_settings(), config::role_api, config->webhook);
  command.settings(config::limit_settings(), config::role_api, config->limits);
  command.settings(config::api_settings(), config::role_api, *config);
  return {command, [config] {
            config->db.create_if_missing = false;
            if (auto problem = config::resolve_database_url(config->db)) return refuse(*problem);
            if (auto problem = config::validate(*config)) return refuse(*problem);
            if (auto problem = config::load_admin_token(*config)) return refuse(*problem);
            return Parsed{*config, 0};
          }};
}

}  // namespace pw::cli
