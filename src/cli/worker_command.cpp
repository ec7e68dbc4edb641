// `personaworlds worker`: the job runner's settings.
#include <memory>

#include "cli/command.hpp"
#include "cli/flags.hpp"

namespace pw::cli {

Command add_worker_command(CLI::App& app) {
  auto config = std::make_shared<config::WorkerConfig>();
  auto* command = app.add_subcommand("worker", "Run jobs from the job table, with /healthz and /metrics on :9091");
  add_settings(*command, config::database_settings(), config::role_worker, config->db);
  add_settings(*command, config::log_settings(), config::role_worker, config->log);
  add_settings(*command, config::http_settings(), config::role_worker, config->observability);
  add_settings(*command, config::worker_settings(), config::role_worker, *config);
  add_settings(*command, config::retry_settings(), config::role_worker, config->retry);
  add_settings(*command, config::webhook_settings(), config::role_worker, config->webhook);
  return {command, [config] {
            config->db.create_if_missing = false;
            if (auto problem = config::validate(*config)) return refuse(*problem);
            return Parsed{*config, 0};
          }};
}

}  // namespace pw::cli
