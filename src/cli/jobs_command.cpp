// `personaworlds jobs ...`: the operator's view of the job table. Its
// arguments are per action, not settings; only the database (and, for
// enqueue, the retry policy) come from the settings tables.
#include <memory>

#include "cli/command.hpp"
#include "cli/flags.hpp"

namespace pw::cli {

Command add_jobs_command(CLI::App& app) {
  auto jobs = std::make_shared<config::JobsConfig>();
  auto* command = app.add_subcommand("jobs", "Inspect and manage the job table");
  command->require_subcommand(1);
  // --db and --json may follow the action: `jobs list --db X --json`.
  command->fallthrough();
  add_settings(*command, config::database_settings(), config::role_jobs, jobs->db);
  command->add_flag("--json", jobs->json, "Machine-readable output");

  using Action = config::JobsConfig::Action;
  std::vector<std::pair<CLI::App*, Action>> actions;
  auto* list = command->add_subcommand("list", "List jobs, newest first");
  list->add_option("--state", jobs->state, "queued, running, succeeded, dead or canceled");
  list->add_option("--type", jobs->type, "Only jobs of this type");
  list->add_option("--limit", jobs->limit, "Most jobs to list")->capture_default_str();
  actions.emplace_back(list, Action::list);
  auto* show = command->add_subcommand("show", "Show one job");
  show->add_option("id", jobs->job_id, "Job id")->required();
  actions.emplace_back(show, Action::show);
  auto* enqueue = command->add_subcommand("enqueue", "Enqueue jobs");
  enqueue->add_option("--type", jobs->type, "Job type, e.g. noop")->required();
  enqueue->add_option("--payload", jobs->payload, "JSON payload")->capture_default_str();
  enqueue->add_option("--count", jobs->count, "How many (in one transaction)")->capture_default_str();
  enqueue->add_option("--priority", jobs->priority, "Smaller runs first")->capture_default_str();
  enqueue->add_option("--trace-id", jobs->trace_id, "Trace id to carry into the worker's logs");
  add_settings(*enqueue, config::retry_settings(), config::role_enqueue, jobs->retry);
  actions.emplace_back(enqueue, Action::enqueue);
  auto* retry = command->add_subcommand("retry", "Queue a dead or canceled job again");
  retry->add_option("id", jobs->job_id, "Job id")->required();
  actions.emplace_back(retry, Action::retry);
  auto* cancel = command->add_subcommand("cancel", "Cancel a queued or running job");
  cancel->add_option("id", jobs->job_id, "Job id")->required();
  actions.emplace_back(cancel, Action::cancel);
  auto* prune = command->add_subcommand("prune", "Delete finished jobs older than a duration");
  prune->add_option("--older-than", jobs->older_than, "Duration: 30m, 12h, 7d")->capture_default_str();
  actions.emplace_back(prune, Action::prune);
  for (auto& [action_app, action] : actions) action_app->fallthrough();

  return {command, [jobs, actions] {
            for (const auto& [action_app, action] : actions) {
              if (action_app->parsed()) jobs->action = action;
            }
            jobs->db.create_if_missing = false;
            jobs->log.format = config::LogFormat::text;
            if (auto problem = config::validate(*jobs)) return refuse(*problem);
            return Parsed{*jobs, 0};
          }};
}

}  // namespace pw::cli
