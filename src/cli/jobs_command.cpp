// `personaworlds jobs ...`: the operator's view of the job table. Its
// arguments are per action, not settings; only the database (and, for
// enqueue, the retry policy) come from the settings tables.
#include <memory>
#include <utility>
#include <vector>

#include "cli/command.hpp"

namespace pw::cli {

Command add_jobs_command(Options& root) {
  auto jobs = std::make_shared<config::JobsConfig>();
  Options command = root.subcommand("jobs", "Inspect and manage the job table");
  command.require_subcommand(1, 1);
  // --db and --json may follow the action: `jobs list --db X --json`.
  command.fallthrough();
  command.settings(config::database_settings(), config::role_jobs, jobs->db);
  command.flag("--json", jobs->json, "Machine-readable output");

  using Action = config::JobsConfig::Action;
  std::vector<std::pair<Options, Action>> actions;
  Options list = command.subcommand("list", "List jobs, newest first");
  list.argument("--state", jobs->state, "queued, running, succeeded, dead or canceled");
  list.argument("--type", jobs->type, "Only jobs of this type");
  list.argument("--limit", jobs->limit, "Most jobs to list");
  actions.emplace_back(list, Action::list);
  Options show = command.subcommand("show", "Show one job");
  show.argument("id", jobs->job_id, "Job id", true);
  actions.emplace_back(show, Action::show);
  Options enqueue = command.subcommand("enqueue", "Enqueue jobs");
  enqueue.argument("--type", jobs->type, "Job type, e.g. noop", true);
  enqueue.argument("--payload", jobs->payload, "JSON payload");
  enqueue.argument("--count", jobs->count, "How many (in one transaction)");
  enqueue.argument("--priority", jobs->priority, "Smaller runs first");
  enqueue.argument("--trace-id", jobs->trace_id, "Trace id to carry into the worker's logs");
  enqueue.argument("--unique-key", jobs->unique_key,
                   "Enqueue nothing while a job of this type and key is in the window (--unique-for, --unique-states)");
  enqueue.argument("--unique-for", jobs->unique_for, "Window: jobs created less than this long ago (30s, 15m, 12h)");
  enqueue.argument("--unique-states", jobs->unique_states, "Window: jobs in these states, e.g. queued,running");
  enqueue.settings(config::retry_settings(), config::role_enqueue, jobs->retry);
  actions.emplace_back(enqueue, Action::enqueue);
  Options retry = command.subcommand("retry", "Queue a dead or canceled job again");
  retry.argument("id", jobs->job_id, "Job id", true);
  actions.emplace_back(retry, Action::retry);
  Options cancel = command.subcommand("cancel", "Cancel a queued or running job");
  cancel.argument("id", jobs->job_id, "Job id", true);
  actions.emplace_back(cancel, Action::cancel);
  Options prune = command.subcommand("prune", "Delete finished jobs older than a duration");
  prune.argument("--older-than", jobs->older_than, "Duration: 30m, 12h, 7d");
  actions.emplace_back(prune, Action::prune);
  // Queue controls (docs/job-queue.md): stored in the database, obeyed by
  // every worker's next claim.
  Options pause = command.subcommand("pause", "Stop claiming jobs of a type (running ones finish, queued ones wait)");
  pause.argument("type", jobs->type, "Job type, e.g. webhook.deliver", true);
  actions.emplace_back(pause, Action::pause);
  Options resume = command.subcommand("resume", "Claim jobs of a paused type again");
  resume.argument("type", jobs->type, "Job type", true);
  actions.emplace_back(resume, Action::resume);
  Options rate_limit = command.subcommand(
      "rate-limit", "Claim at most RATE jobs of a type per second across all workers (0 or off: no limit)");
  rate_limit.argument("type", jobs->type, "Job type", true);
  rate_limit.argument("rate", jobs->rate, "Jobs per second (e.g. 50 or 0.5), or 0 / off to remove the limit", true);
  actions.emplace_back(rate_limit, Action::rate_limit);
  Options controls = command.subcommand("controls", "List paused and rate-limited job types");
  actions.emplace_back(controls, Action::controls);
  for (auto& [action, _] : actions) action.fallthrough();
  using ScheduleAction = config::JobsConfig::ScheduleAction;
  Options schedule = command.subcommand("schedule", "Operator schedules: a job enqueued on every cron tick");
  schedule.require_subcommand(1, 1);
  schedule.fallthrough();
  std::vector<std::pair<Options, ScheduleAction>> schedule_actions;
  Options add = schedule.subcommand("add", "Add a schedule");
  add.argument("--name", jobs->schedule_name, "Unique name of the schedule", true);
  add.argument("--cron", jobs->cron, "Five fields or an @shortcut, e.g. '*/5 * * * *' or @hourly", true);
  add.argument("--type", jobs->type, "Job type to enqueue on each tick", true);
  add.argument("--payload", jobs->payload, "JSON payload of each job");
  add.argument("--time-zone", jobs->time_zone, "IANA time zone the expression is read in");
  schedule_actions.emplace_back(add, ScheduleAction::add);
  schedule_actions.emplace_back(schedule.subcommand("list", "List the schedules"), ScheduleAction::list);
  Options remove = schedule.subcommand("remove", "Remove a schedule");
  remove.argument("name", jobs->schedule_name, "Schedule name", true);
  schedule_actions.emplace_back(remove, ScheduleAction::remove);
  for (auto& [action, _] : schedule_actions) action.fallthrough();

  return {command, [jobs, actions, schedule_actions] {
            for (const auto& [options, action] : actions) {
              if (options.parsed()) jobs->action = action;
            }
            for (const auto& [options, action] : schedule_actions) {
              if (options.parsed()) jobs->schedule = action;
            }
            jobs->db.create_if_missing = false;
            jobs->log.format = config::LogFormat::text;
            if (auto problem = config::resolve_database_url(jobs->db)) return refuse(*problem);
            if (auto problem = config::validate(*jobs)) return refuse(*problem);
            return Parsed{*jobs, 0};
          }};
}

}  // namespace pw::cli
