// `personaworlds worker`: the job runner's settings.
#include <algorithm>
#include <cstdint>
#include <memory>

#include "cli/command.hpp"

namespace pw::cli {

Command add_worker_command(Options& root) {
  auto config = std::make_shared<config::WorkerConfig>();
  Options command =
      root.subcommand("worker", "Run jobs from the job table, with /healthz and /metrics on :9091");
  command.settings(config::database_settings(), config::role_worker, config->db);
  command.settings(config::log_settings(), config::role_worker, config->log);
  command.settings(config::http_settings(), config::role_worker, config->observability);
  command.settings(config::worker_settings(), config::role_worker, *config);
  command.settings(config::retry_settings(), config::role_worker, config->retry);
  command.settings(config::webhook_settings(), config::role_worker, config->webhook);
  command.settings(config::limit_settings(), config::role_worker, config->limits);
  return {command, [config] {
            config->db.create_if_missing = false;
            if (auto problem = config::resolve_database_url(config->db)) return refuse(*problem);
            if (auto problem = config::validate(*config)) return refuse(*problem);
            // Half a lease: the locks of a session lost mid-transaction are
            // gone well before its leases lapse and another worker looks.
            config->db.idle_in_transaction_timeout_ms =
                static_cast<int>(std::clamp<std::int64_t>(config->lease_ms / 2, 1000, 60000));
            return Parsed{*config, 0};
          }};
}

}  // namespace pw::cli
