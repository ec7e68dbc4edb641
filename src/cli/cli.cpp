#include "cli/cli.hpp"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <iostream>
#include <optional>
#include <string_view>
#include <vector>

#include "app/roles.hpp"
#include "config/config.hpp"

namespace pw::cli {
namespace {

// Every setting is a flag with an environment variable beside it; CLI11
// applies flag > env > default, and --help shows all three.
template <typename T>
CLI::Option* setting(CLI::App& app, const std::string& flag, T& value, const std::string& env,
                     const std::string& help) {
  return app.add_option(flag, value, help)->envname(env)->capture_default_str();
}

void add_database(CLI::App& app, config::DatabaseConfig& db) {
  setting(app, "--db", db.path, "DATABASE_PATH", "SQLite database file (WAL mode)");
  setting(app, "--db-synchronous", db.synchronous, "DATABASE_SYNCHRONOUS",
          "SQLite synchronous level: normal (fast, durable across process crashes) or full "
          "(also across power loss)");
  setting(app, "--db-busy-timeout-ms", db.busy_timeout_ms, "DATABASE_BUSY_TIMEOUT_MS",
          "How long a writer waits for the write lock before giving up");
}

void add_logging(CLI::App& app, config::LogConfig& log, std::string& format) {
  setting(app, "--log-level", log.level, "LOG_LEVEL", "debug, info, warn or error");
  setting(app, "--log-format", format, "LOG_FORMAT", "json (one object per line), text (for terminals) or auto (text on a terminal, else json)");
}

void add_retry(CLI::App& app, config::RetryConfig& retry) {
  setting(app, "--backoff-base-ms", retry.backoff_base_ms, "BACKOFF_BASE_MS",
          "Retry backoff base: attempt n waits up to base*2^(n-1), with full jitter");
  setting(app, "--backoff-cap-ms", retry.backoff_cap_ms, "BACKOFF_CAP_MS", "Longest retry backoff");
  setting(app, "--max-attempts", retry.default_max_attempts, "JOB_MAX_ATTEMPTS",
          "Attempts before a job is dead, unless the job sets its own");
}

void add_webhook(CLI::App& app, config::WebhookConfig& webhook) {
  app.add_flag("--allow-private-webhooks", webhook.allow_private,
               "Allow webhook callbacks to loopback, private and link-local addresses")
      ->envname("ALLOW_PRIVATE_WEBHOOKS")
      ->capture_default_str();
  setting(app, "--webhook-timeout-ms", webhook.timeout_ms, "WEBHOOK_TIMEOUT_MS",
          "Timeout of one webhook delivery attempt, end to end (lookup, connect, TLS, response)");
  setting(app, "--webhook-dns-timeout-ms", webhook.dns_timeout_ms, "WEBHOOK_DNS_TIMEOUT_MS",
          "Longest lookup of a callback_url host (at delivery also within the webhook timeout)");
  setting(app, "--webhook-dns-servers", webhook.dns_servers, "WEBHOOK_DNS_SERVERS",
          "Name servers for callback_url hosts, e.g. 10.0.0.2,[fd00::2]:5353 (default: /etc/resolv.conf)");
}

void add_limits(CLI::App& app, domain::Limits& limits) {
  setting(app, "--max-worlds-per-user", limits.worlds_per_user, "MAX_WORLDS_PER_USER",
          "Worlds one user may hold at once; more gets 409 too_many_worlds");
  setting(app, "--max-simulations-per-world", limits.simulations_per_world, "MAX_SIMULATIONS_PER_WORLD",
          "Simulations one world may run; more gets 409 too_many_simulations");
  setting(app, "--max-events-per-world", limits.events_per_world, "MAX_EVENTS_PER_WORLD",
          "Events one world may hold, counting what its pending simulations may still write; "
          "more gets 409 too_many_events");
  setting(app, "--max-simulation-work", limits.simulation_work, "MAX_SIMULATION_WORK",
          "Ticks x personas of one simulation; more gets 422 simulation_too_large");
  setting(app, "--max-pending-simulations", limits.pending_simulations_per_user, "MAX_PENDING_SIMULATIONS",
          "Simulations one user may have waiting or running at once; more gets 429 too_many_pending_simulations");
}

void add_http(CLI::App& app, config::HttpConfig& http) {
  setting(app, "--http-threads", http.threads, "HTTP_THREADS", "Request handler threads");
  setting(app, "--http-max-queued", http.max_queued, "HTTP_MAX_QUEUED",
          "Connections allowed to wait for a handler thread; past this, requests get 503");
  setting(app, "--read-timeout", http.read_timeout_s, "HTTP_READ_TIMEOUT",
          "Seconds to read a request, from its first byte to its last");
  setting(app, "--write-timeout", http.write_timeout_s, "HTTP_WRITE_TIMEOUT", "Seconds to write a response");
  setting(app, "--idle-timeout", http.idle_timeout_s, "HTTP_IDLE_TIMEOUT",
          "Seconds an idle keep-alive connection is kept");
  setting(app, "--http-max-header-bytes", http.max_header_bytes, "HTTP_MAX_HEADER_BYTES",
          "Largest request line plus header section; larger gets 431");
  setting(app, "--http-max-headers", http.max_header_count, "HTTP_MAX_HEADERS",
          "Most header fields in one request; more gets 431");
  setting(app, "--http-max-connections", http.max_connections, "HTTP_MAX_CONNECTIONS",
          "Most connections open at once (past it, the longest-idle one is closed); also bounded by the "
          "open-file limit");
  setting(app, "--http-max-buffered-bytes", http.max_buffered_bytes, "HTTP_MAX_BUFFERED_BYTES",
          "Request bytes held across all connections at once; past it, requests still arriving get 503");
}

// "auto" is text for a person at a terminal and JSON lines wherever the
// output goes to a file, a pipe or a log collector.
config::LogFormat to_format(const std::string& text, bool& ok) {
  ok = text == "json" || text == "text" || text == "auto";
  if (text == "auto") return ::isatty(STDOUT_FILENO) ? config::LogFormat::text : config::LogFormat::json;
  return text == "text" ? config::LogFormat::text : config::LogFormat::json;
}

Parsed refuse(const std::string& problem) {
  std::cerr << "personaworlds: " << problem << "\n";
  return Parsed{{}, 2};
}

// Every option of `app` and of its subcommands, at any depth.
std::vector<const CLI::Option*> all_options(const CLI::App& app) {
  std::vector<const CLI::Option*> out = app.get_options();
  for (const CLI::App* sub : app.get_subcommands({})) {
    auto nested = all_options(*sub);
    out.insert(out.end(), nested.begin(), nested.end());
  }
  return out;
}

bool on_command_line(const std::string& flag, int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == flag || arg.starts_with(flag + "=")) return true;
  }
  return false;
}

// CLI11 reports a value it cannot convert as "Could not convert: --flag =
// value", naming the flag even when the value came from the environment:
// name the variable the user actually set, and what a valid value looks like.
std::optional<std::string> conversion_problem(const CLI::App& app, const CLI::ConversionError& error, int argc,
                                              const char* const* argv) {
  const std::string message = error.what();
  for (const CLI::Option* option : all_options(app)) {
    const std::string flag = option->get_name();
    const std::string marker = " " + flag + " = ";
    const auto at = message.find(marker);
    if (flag.empty() || at == std::string::npos) continue;
    const std::string value = message.substr(at + marker.size());
    const std::string env = option->get_envname();
    const bool from_env = !env.empty() && !on_command_line(flag, argc, argv);
    const std::string type = option->get_type_name();
    const std::string expected = option->get_expected_max() == 0 ? "true or false"
                                 : type == "INT" || type == "UINT" ? "a whole number"
                                                                   : "a valid value";
    return "invalid " + flag + (env.empty() ? "" : " / " + env) + ": '" + value + "'" +
           (from_env ? " (from the environment variable " + env + ")" : "") + " is not " + expected;
  }
  return std::nullopt;
}

// CLI11 says only "A subcommand is required" for `personaworlds no-such-role`:
// name the word and list the commands there are.
std::optional<std::string> unknown_command(const CLI::App& app, int argc, const char* const* argv) {
  if (argc < 2 || argv[1][0] == '-') return std::nullopt;
  const std::string word = argv[1];
  std::string names;
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name() == word) return std::nullopt;
    names += (names.empty() ? "" : ", ") + sub->get_name();
  }
  return "unknown command '" + word + "'; the commands are " + names + " (see personaworlds --help)";
}

}  // namespace

Parsed parse(int argc, const char* const* argv) {
  CLI::App app{"PersonaWorlds: simulated worlds of personas, run by a durable job queue.", "personaworlds"};
  app.set_version_flag("--version", std::string("personaworlds ") + PW_VERSION);
  app.require_subcommand(1);
  app.get_formatter()->column_width(44);

  // ---- api ----
  config::ApiConfig api;
  std::string api_format = "json";
  auto* api_cmd = app.add_subcommand("api", "Serve the HTTP API (default :8080) with /healthz, /readyz, /metrics");
  add_database(*api_cmd, api.db);
  add_logging(*api_cmd, api.log, api_format);
  setting(*api_cmd, "--host", api.http.host, "HOST", "Address to listen on");
  setting(*api_cmd, "--port", api.http.port, "PORT", "Port to listen on (0 picks a free one)");
  setting(*api_cmd, "--max-body-bytes", api.http.max_body_bytes, "MAX_BODY_BYTES",
          "Largest request body; larger gets 413");
  add_http(*api_cmd, api.http);
  add_retry(*api_cmd, api.retry);
  add_webhook(*api_cmd, api.webhook);
  setting(*api_cmd, "--webhook-max-lookups", api.webhook.max_lookups, "WEBHOOK_MAX_LOOKUPS",
          "Requests that may look up a callback_url host at once; past it, 503 with Retry-After");
  add_limits(*api_cmd, api.limits);
  setting(*api_cmd, "--shutdown-grace", api.shutdown_grace_s, "SHUTDOWN_GRACE",
          "Seconds in-flight requests get to finish on SIGTERM");
  setting(*api_cmd, "--shutdown-delay-ms", api.shutdown_delay_ms, "SHUTDOWN_DELAY_MS",
          "After SIGTERM, how long /readyz answers 503 before the listener closes");

  // ---- worker ----
  config::WorkerConfig worker;
  std::string worker_format = "json";
  auto* worker_cmd = app.add_subcommand("worker", "Run jobs from the job table, with /healthz and /metrics on :9091");
  add_database(*worker_cmd, worker.db);
  add_logging(*worker_cmd, worker.log, worker_format);
  setting(*worker_cmd, "--observability-host", worker.observability.host, "WORKER_OBSERVABILITY_HOST",
          "Address of the health and metrics server");
  setting(*worker_cmd, "--observability-port", worker.observability.port, "WORKER_OBSERVABILITY_PORT",
          "Port of the health and metrics server (0 picks a free one)");
  setting(*worker_cmd, "--concurrency", worker.concurrency, "WORKER_CONCURRENCY",
          "Handler threads, and so the most jobs held at once (default: number of cores)");
  setting(*worker_cmd, "--batch-size", worker.batch_size, "WORKER_BATCH_SIZE",
          "Most jobs claimed in one transaction");
  setting(*worker_cmd, "--lease-ms", worker.lease_ms, "WORKER_LEASE_MS",
          "Lease on a claimed job; renewed while it runs, reclaimed by others once expired");
  setting(*worker_cmd, "--shutdown-grace-ms", worker.shutdown_grace_ms, "WORKER_SHUTDOWN_GRACE_MS",
          "On SIGTERM, how long running jobs get to finish before they are handed back");
  setting(*worker_cmd, "--poll-interval-ms", worker.poll_interval_ms, "WORKER_POLL_INTERVAL_MS",
          "Idle check for new work (a cheap PRAGMA data_version read)");
  setting(*worker_cmd, "--retention-ms", worker.retention_ms, "JOB_RETENTION_MS",
          "Finished jobs older than this are pruned");
  setting(*worker_cmd, "--prune-interval-ms", worker.prune_interval_ms, "JOB_PRUNE_INTERVAL_MS",
          "How often the worker prunes finished jobs");
  setting(*worker_cmd, "--worker-id", worker.worker_id, "WORKER_ID",
          "Name of this worker in leases (default: host:pid:random)");
  add_retry(*worker_cmd, worker.retry);
  add_webhook(*worker_cmd, worker.webhook);

  // ---- migrate ----
  config::MigrateConfig migrate;
  std::string migrate_format = "json";
  auto* migrate_cmd = app.add_subcommand("migrate", "Apply (up, the default) or list (status) schema migrations");
  add_database(*migrate_cmd, migrate.db);
  add_logging(*migrate_cmd, migrate.log, migrate_format);
  auto* migrate_up = migrate_cmd->add_subcommand("up", "Apply pending migrations (default)");
  auto* migrate_status = migrate_cmd->add_subcommand("status", "List applied and pending migrations; exit 1 if any is pending");
  migrate_cmd->require_subcommand(0, 1);
  // `migrate status --db X` and `jobs list --db X`: options of the parent
  // command are accepted after the sub-subcommand too.
  migrate_up->fallthrough();
  migrate_status->fallthrough();

  // ---- jobs ----
  config::JobsConfig jobs;
  std::string jobs_format = "text";
  auto* jobs_cmd = app.add_subcommand("jobs", "Inspect and manage the job table");
  jobs_cmd->require_subcommand(1);
  // --db and --json may follow the action: `jobs list --db X --json`.
  jobs_cmd->fallthrough();
  add_database(*jobs_cmd, jobs.db);
  jobs_cmd->add_flag("--json", jobs.json, "Machine-readable output");
  auto* jobs_list = jobs_cmd->add_subcommand("list", "List jobs, newest first");
  jobs_list->add_option("--state", jobs.state, "queued, running, succeeded, dead or canceled");
  jobs_list->add_option("--type", jobs.type, "Only jobs of this type");
  jobs_list->add_option("--limit", jobs.limit, "Most jobs to list")->capture_default_str();
  auto* jobs_show = jobs_cmd->add_subcommand("show", "Show one job");
  jobs_show->add_option("id", jobs.job_id, "Job id")->required();
  auto* jobs_enqueue = jobs_cmd->add_subcommand("enqueue", "Enqueue jobs");
  jobs_enqueue->add_option("--type", jobs.type, "Job type, e.g. noop")->required();
  jobs_enqueue->add_option("--payload", jobs.payload, "JSON payload")->capture_default_str();
  jobs_enqueue->add_option("--count", jobs.count, "How many (in one transaction)")->capture_default_str();
  jobs_enqueue->add_option("--priority", jobs.priority, "Smaller runs first")->capture_default_str();
  jobs_enqueue->add_option("--trace-id", jobs.trace_id, "Trace id to carry into the worker's logs");
  add_retry(*jobs_enqueue, jobs.retry);
  auto* jobs_retry = jobs_cmd->add_subcommand("retry", "Queue a dead or canceled job again");
  jobs_retry->add_option("id", jobs.job_id, "Job id")->required();
  auto* jobs_cancel = jobs_cmd->add_subcommand("cancel", "Cancel a queued or running job");
  jobs_cancel->add_option("id", jobs.job_id, "Job id")->required();
  auto* jobs_prune = jobs_cmd->add_subcommand("prune", "Delete finished jobs older than a duration");
  jobs_prune->add_option("--older-than", jobs.older_than, "Duration: 30m, 12h, 7d")->capture_default_str();

  for (auto* sub : {jobs_list, jobs_show, jobs_enqueue, jobs_retry, jobs_cancel, jobs_prune}) sub->fallthrough();

  // ---- users ----
  config::UsersConfig users;
  auto* users_cmd = app.add_subcommand("users", "Manage users as the operator");
  users_cmd->require_subcommand(1);
  users_cmd->fallthrough();
  add_database(*users_cmd, users.db);
  auto* users_token = users_cmd->add_subcommand(
      "token", "Print a new bearer token for an existing user (to recover an account)");
  users_token->add_option("handle", users.handle, "The user's handle")->required();
  users_token->add_option("--name", users.token_name, "Name of the token, as GET /v1/tokens lists it")
      ->capture_default_str();
  users_token->add_option("--expires-in-seconds", users.expires_in_s, "Lifetime of the token (0: never expires)")
      ->capture_default_str();
  users_token->fallthrough();

  // ---- probe ----
  config::ProbeConfig probe;
  auto* probe_cmd = app.add_subcommand("probe", "Exit 0 when URL answers 2xx (for container health checks)");
  probe_cmd->add_option("url", probe.url, "http://host:port/path")->required();
  probe_cmd->add_option("--timeout-ms", probe.timeout_ms, "Give up after this long")->capture_default_str();

  if (auto problem = unknown_command(app, argc, argv)) return refuse(*problem);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return Parsed{{}, app.exit(e)};
  } catch (const CLI::CallForAllHelp& e) {
    return Parsed{{}, app.exit(e)};
  } catch (const CLI::CallForVersion& e) {
    return Parsed{{}, app.exit(e)};
  } catch (const CLI::ConversionError& e) {
    if (auto problem = conversion_problem(app, e, argc, argv)) return refuse(*problem);
    app.exit(e);
    return Parsed{{}, 2};
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return Parsed{{}, 2};
  }

  api.db.create_if_missing = false;
  worker.db.create_if_missing = false;
  jobs.db.create_if_missing = false;
  bool format_ok = true;
  if (api_cmd->parsed()) {
    api.log.format = to_format(api_format, format_ok);
    if (!format_ok) return refuse("invalid --log-format / LOG_FORMAT: '" + api_format + "' is not json, text or auto");
    if (auto problem = config::validate(api)) return refuse(*problem);
    return Parsed{api, 0};
  }
  if (worker_cmd->parsed()) {
    worker.log.format = to_format(worker_format, format_ok);
    if (!format_ok) return refuse("invalid --log-format / LOG_FORMAT: '" + worker_format + "' is not json, text or auto");
    if (auto problem = config::validate(worker)) return refuse(*problem);
    return Parsed{worker, 0};
  }
  if (migrate_cmd->parsed()) {
    migrate.log.format = to_format(migrate_format, format_ok);
    if (!format_ok) return refuse("invalid --log-format / LOG_FORMAT: '" + migrate_format + "' is not json, text or auto");
    if (auto problem = config::validate(migrate)) return refuse(*problem);
    return Parsed{MigrateCommand{migrate, migrate_status->parsed()}, 0};
  }
  if (jobs_cmd->parsed()) {
    if (jobs_list->parsed()) jobs.action = config::JobsConfig::Action::list;
    if (jobs_show->parsed()) jobs.action = config::JobsConfig::Action::show;
    if (jobs_enqueue->parsed()) jobs.action = config::JobsConfig::Action::enqueue;
    if (jobs_retry->parsed()) jobs.action = config::JobsConfig::Action::retry;
    if (jobs_cancel->parsed()) jobs.action = config::JobsConfig::Action::cancel;
    if (jobs_prune->parsed()) jobs.action = config::JobsConfig::Action::prune;
    jobs.log.format = to_format(jobs_format, format_ok);
    if (auto problem = config::validate(jobs)) return refuse(*problem);
    return Parsed{jobs, 0};
  }
  if (users_cmd->parsed()) {
    users.db.create_if_missing = false;
    if (auto problem = config::validate(users)) return refuse(*problem);
    return Parsed{users, 0};
  }
  if (probe_cmd->parsed()) return Parsed{probe, 0};
  return Parsed{{}, 2};
}

int run(int argc, char** argv) {
  Parsed parsed = parse(argc, argv);
  return std::visit(
      [&](const auto& command) -> int {
        using T = std::decay_t<decltype(command)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return parsed.exit_code;
        } else if constexpr (std::is_same_v<T, config::ApiConfig>) {
          return app::run_api(command);
        } else if constexpr (std::is_same_v<T, config::WorkerConfig>) {
          return app::run_worker(command);
        } else if constexpr (std::is_same_v<T, MigrateCommand>) {
          return app::run_migrate(command.config, command.status_only);
        } else if constexpr (std::is_same_v<T, config::JobsConfig>) {
          return app::run_jobs(command);
        } else if constexpr (std::is_same_v<T, config::UsersConfig>) {
          return app::run_users(command);
        } else {
          return app::run_probe(command);
        }
      },
      parsed.command);
}

}  // namespace pw::cli
