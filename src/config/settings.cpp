#include "config/settings.hpp"

#include <array>
#include <sstream>
#include <type_traits>

namespace pw::config {
namespace {

constexpr unsigned every_role = role_api | role_worker | role_migrate | role_jobs | role_users;
constexpr unsigned serving_roles = role_api | role_worker | role_migrate;

const auto database = std::to_array<Setting<DatabaseConfig>>({
    {"--database-url", "DATABASE_URL", &DatabaseConfig::url, every_role,
     "postgresql://USER:PASSWORD@HOST:PORT/DB selects PostgreSQL; sqlite:PATH or a path selects SQLite (--db)",
     std::nullopt, "", "none: SQLite at `--db`"},
    {"--database-connect-wait-s", "DATABASE_CONNECT_WAIT_S", &DatabaseConfig::connect_wait_s, role_migrate,
     "PostgreSQL: seconds to keep trying to reach the server at start, with backoff (api and worker keep "
     "trying for as long as they run, answering 503 meanwhile)",
     Range{0, 3600}},
    {"--database-pool-size", "DATABASE_POOL_SIZE", &DatabaseConfig::pool_size, role_api | role_worker,
     "PostgreSQL: connections for requests and job handlers, per process", Range{1, 1000}},
    {"--database-statement-timeout-ms", "DATABASE_STATEMENT_TIMEOUT_MS", &DatabaseConfig::statement_timeout_ms,
     every_role, "PostgreSQL: the server cancels a statement running longer (0: never)", Range{0, 3600000}},
    {"--db", "DATABASE_PATH", &DatabaseConfig::path, every_role, "SQLite database file (WAL mode)"},
    {"--db-synchronous", "DATABASE_SYNCHRONOUS", &DatabaseConfig::synchronous, every_role,
     "SQLite synchronous level: normal (fast, durable across process crashes) or full (also across power loss)",
     std::nullopt, "normal,full"},
    {"--db-busy-timeout-ms", "DATABASE_BUSY_TIMEOUT_MS", &DatabaseConfig::busy_timeout_ms, every_role,
     "How long a writer waits for the write lock before giving up", Range{1, 600000}},
});

const auto log = std::to_array<Setting<LogConfig>>({
    {"--log-level", "LOG_LEVEL", &LogConfig::level, serving_roles, "debug, info, warn or error", std::nullopt,
     "debug,info,warn,error"},
    {"--log-format", "LOG_FORMAT", &LogConfig::format, serving_roles,
     "json (one object per line), text (for terminals) or auto (text on a terminal, else json)", std::nullopt,
     "json,text,auto", "{} (`make run`: `auto`)"},
});

const auto http = std::to_array<Setting<HttpConfig>>({
    {"--host", "HOST", &HttpConfig::host, role_api, "Address to listen on", std::nullopt, {},
     "{} (`make run`: `127.0.0.1`)"},
    {"--port", "PORT", &HttpConfig::port, role_api, "Port to listen on (0 picks a free one)", Range{0, 65535}},
    {"--max-body-bytes", "MAX_BODY_BYTES", &HttpConfig::max_body_bytes, role_api,
     "Largest request body, however it is framed; larger gets 413", Range{1, 1LL << 30}},
    {"--http-threads", "HTTP_THREADS", &HttpConfig::threads, role_api, "Request handler threads", Range{1, 1024}},
    {"--http-max-queued", "HTTP_MAX_QUEUED", &HttpConfig::max_queued, role_api,
     "Connections allowed to wait for a handler thread; past this, requests get 503", Range{0, 1000000}},
    {"--read-timeout", "HTTP_READ_TIMEOUT", &HttpConfig::read_timeout_s, role_api,
     "Seconds to read a request, from its first byte to its last", Range{1, 3600}},
    {"--write-timeout", "HTTP_WRITE_TIMEOUT", &HttpConfig::write_timeout_s, role_api,
     "Seconds to write a response", Range{1, 3600}},
    {"--idle-timeout", "HTTP_IDLE_TIMEOUT", &HttpConfig::idle_timeout_s, role_api,
     "Seconds an idle keep-alive connection is kept", Range{1, 3600}},
    {"--http-max-header-bytes", "HTTP_MAX_HEADER_BYTES", &HttpConfig::max_header_bytes, role_api,
     "Largest request line plus header section; larger gets 431", Range{1024, 1 << 20}},
    {"--http-max-headers", "HTTP_MAX_HEADERS", &HttpConfig::max_header_count, role_api,
     "Most header fields in one request; more gets 431", Range{8, 10000}},
    {"--http-max-connections", "HTTP_MAX_CONNECTIONS", &HttpConfig::max_connections, role_api,
     "Most connections open at once (past it, the longest-idle one is closed); also bounded by the open-file "
     "limit",
     Range{16, 1000000}},
    {"--http-max-buffered-bytes", "HTTP_MAX_BUFFERED_BYTES", &HttpConfig::max_buffered_bytes, role_api,
     "Request bytes held across all connections at once (at least --max-body-bytes); past it, requests still "
     "arriving get 503",
     Range{1, 1LL << 40}},
    {"--observability-host", "WORKER_OBSERVABILITY_HOST", &HttpConfig::host, role_worker,
     "Address of the health and metrics server", std::nullopt, {}, "{} (`make run`: `127.0.0.1`)"},
    {"--observability-port", "WORKER_OBSERVABILITY_PORT", &HttpConfig::port, role_worker,
     "Port of the health and metrics server (0 picks a free one)", Range{0, 65535}},
});

const auto api = std::to_array<Setting<ApiConfig>>({
    {"--shutdown-grace", "SHUTDOWN_GRACE", &ApiConfig::shutdown_grace_s, role_api,
     "Seconds in-flight requests get to finish on SIGTERM", Range{0, 3600}},
    {"--shutdown-delay-ms", "SHUTDOWN_DELAY_MS", &ApiConfig::shutdown_delay_ms, role_api,
     "After SIGTERM, how long /readyz answers 503 before the listener closes", Range{0, 600000}},
    {"--admin-token-file", "ADMIN_TOKEN_FILE", &ApiConfig::admin_token_file, role_api,
     "File holding one operator token for /admin/v1; the console is also on while an admin token exists in the "
     "database (personaworlds admin token create)",
     std::nullopt, {}, "none"},
});

const auto worker = std::to_array<Setting<WorkerConfig>>({
    {"--concurrency", "WORKER_CONCURRENCY", &WorkerConfig::concurrency, role_worker,
     "Jobs running at once, of all types (handler threads); the worker holds up to twice as many, the rest "
     "waiting for a handler",
     Range{1, 1024}},
    {"--type-concurrency", "WORKER_TYPE_CONCURRENCY", &WorkerConfig::type_concurrency, role_worker,
     "Jobs of a type running at once, as TYPE=N,... (each at most --concurrency); claims pass over a type "
     "with that many in hand",
     std::nullopt, {},
     "none: `world.simulate`, `persona.generate`, `world.purge` one per core; `webhook.deliver` half of "
     "`--concurrency`; any other type up to `--concurrency`"},
    {"--batch-size", "WORKER_BATCH_SIZE", &WorkerConfig::batch_size, role_worker,
     "Most jobs claimed in one transaction", Range{1, 10000}},
    {"--lease-ms", "WORKER_LEASE_MS", &WorkerConfig::lease_ms, role_worker,
     "Lease on a claimed job; renewed while it runs, reclaimed by others once expired", Range{1000, 86400000}},
    {"--shutdown-grace-ms", "WORKER_SHUTDOWN_GRACE_MS", &WorkerConfig::shutdown_grace_ms, role_worker,
     "On SIGTERM, how long running jobs get to finish before they are handed back", Range{0, 3600000}},
    {"--poll-interval-ms", "WORKER_POLL_INTERVAL_MS", &WorkerConfig::poll_interval_ms, role_worker,
     "Idle check for new work (a cheap PRAGMA data_version read)", Range{1, 60000}},
    {"--retention-ms", "JOB_RETENTION_MS", &WorkerConfig::retention_ms, role_worker,
     "Finished jobs older than this are pruned", Range{0, 3650LL * 86400000}, {}, "{} (7 days)"},
    {"--prune-interval-ms", "JOB_PRUNE_INTERVAL_MS", &WorkerConfig::prune_interval_ms, role_worker,
     "How often the worker prunes finished jobs", Range{1000, 86400000}},
    {"--worker-id", "WORKER_ID", &WorkerConfig::worker_id, role_worker,
     "Name of this worker in leases (default: host:pid:random)", std::nullopt, {}, "host:pid:random"},
});

const auto retry = std::to_array<Setting<RetryConfig>>({
    {"--backoff-base-ms", "BACKOFF_BASE_MS", &RetryConfig::backoff_base_ms, role_api | role_worker | role_enqueue,
     "Retry backoff base: attempt n waits up to base*2^(n-1), with full jitter", Range{1, 86400000}},
    {"--backoff-cap-ms", "BACKOFF_CAP_MS", &RetryConfig::backoff_cap_ms, role_api | role_worker | role_enqueue,
     "Longest retry backoff (at least --backoff-base-ms)", Range{1, 7LL * 86400000}},
    {"--max-attempts", "JOB_MAX_ATTEMPTS", &RetryConfig::default_max_attempts, role_api | role_worker | role_enqueue,
     "Attempts before a job is dead, unless the job sets its own", Range{1, 1000}},
});

const auto webhook = std::to_array<Setting<WebhookConfig>>({
    {"--allow-private-webhooks", "ALLOW_PRIVATE_WEBHOOKS", &WebhookConfig::allow_private, role_api | role_worker,
     "Allow webhook callbacks to loopback, private and link-local addresses"},
    {"--webhook-timeout-ms", "WEBHOOK_TIMEOUT_MS", &WebhookConfig::timeout_ms, role_api | role_worker,
     "Timeout of one webhook delivery attempt, end to end (lookup, connect, TLS, response)", Range{1, 600000}},
    {"--webhook-dns-timeout-ms", "WEBHOOK_DNS_TIMEOUT_MS", &WebhookConfig::dns_timeout_ms, role_api | role_worker,
     "Longest lookup of a callback_url host (at delivery also within the webhook timeout)", Range{1, 60000}},
    {"--webhook-dns-servers", "WEBHOOK_DNS_SERVERS", &WebhookConfig::dns_servers, role_api | role_worker,
     "Name servers for callback_url hosts, e.g. 10.0.0.2,[fd00::2]:5353 (default: /etc/resolv.conf)",
     std::nullopt, {}, "empty: `/etc/resolv.conf`"},
    {"--webhook-max-lookups", "WEBHOOK_MAX_LOOKUPS", &WebhookConfig::max_lookups, role_api,
     "Requests that may look up a callback_url host at once; past it, 503 with Retry-After", Range{1, 1024}},
});

// No run can do more work than the engine's largest (max ticks x max personas).
constexpr std::int64_t most_simulation_work = static_cast<std::int64_t>(domain::max_ticks) * domain::max_world_personas;

const auto limits = std::to_array<Setting<domain::Limits>>({
    {"--max-worlds-per-user", "MAX_WORLDS_PER_USER", &domain::Limits::worlds_per_user, role_api,
     "Worlds one user may hold at once; more gets 409 too_many_worlds", Range{1, 1'000'000}},
    {"--max-simulations-per-world", "MAX_SIMULATIONS_PER_WORLD", &domain::Limits::simulations_per_world,
     role_api | role_worker,
     "Simulations one world may run; more gets 409 too_many_simulations", Range{1, 1'000'000}},
    {"--max-events-per-world", "MAX_EVENTS_PER_WORLD", &domain::Limits::events_per_world,
     role_api | role_worker,
     "Events one world may hold, counting what its pending simulations may still write; more gets 409 "
     "too_many_events",
     Range{1, 1'000'000'000}},
    {"--max-simulation-work", "MAX_SIMULATION_WORK", &domain::Limits::simulation_work,
     role_api | role_worker,
     "Ticks x personas of one simulation; more gets 422 simulation_too_large", Range{1, most_simulation_work}},
    {"--max-pending-simulations", "MAX_PENDING_SIMULATIONS", &domain::Limits::pending_simulations_per_user,
     role_api | role_worker,
     "Simulations one user may have waiting or running at once; more gets 429 too_many_pending_simulations",
     Range{1, 1'000'000}},
    {"--max-schedules-per-user", "MAX_SCHEDULES_PER_USER", &domain::Limits::schedules_per_user, role_api,
     "Schedules (POST /v1/worlds/{id}/schedules) one user may hold at once; more gets 409 too_many_schedules",
     Range{1, 10'000}},
});

std::string format_name(LogFormat format) { return format == LogFormat::text ? "text" : "json"; }

template <class Group>
std::string shown_value(const Setting<Group>& setting, const Group& defaults) {
  const std::string value = std::visit(
      [&](auto member) -> std::string {
        const auto& field = defaults.*member;
        using T = std::decay_t<decltype(field)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return field;
        } else if constexpr (std::is_same_v<T, bool>) {
          return field ? "true" : "false";
        } else if constexpr (std::is_same_v<T, LogFormat>) {
          return format_name(field);
        } else {
          return std::to_string(field);
        }
      },
      setting.field);
  const std::string quoted = "`" + value + "`";
  const std::string_view shown = setting.shown_default;
  if (shown.empty()) return quoted;
  const auto slot = shown.find("{}");
  if (slot == std::string_view::npos) return std::string(shown);
  return std::string(shown.substr(0, slot)) + quoted + std::string(shown.substr(slot + 2));
}

std::string role_names(unsigned roles) {
  if ((roles & every_role) == every_role) return "all";
  std::string out;
  auto add = [&](unsigned role, const char* name) {
    if (roles & role) out += (out.empty() ? "" : ", ") + std::string(name);
  };
  add(role_api, "api");
  add(role_worker, "worker");
  add(role_migrate, "migrate");
  add(role_jobs, "jobs");
  add(role_users, "users");
  add(role_enqueue, "jobs enqueue");
  return out;
}

// `defaults_of(setting)`: the default-constructed group the setting's
// default is read from (the API's and the worker's HTTP servers differ).
template <class Group, class Defaults>
void render_rows(std::ostringstream& out, std::span<const Setting<Group>> table, Defaults defaults_of) {
  for (const auto& setting : table) {
    out << "| `" << setting.flag << "` | `" << setting.env << "` | " << shown_value(setting, defaults_of(setting))
        << " | "
        << role_names(setting.roles) << " | " << setting.help << " |\n";
  }
}

}  // namespace

bool is_one_of(std::string_view choices, std::string_view word) {
  while (true) {
    const auto comma = choices.find(',');
    if (choices.substr(0, comma) == word) return true;
    if (comma == std::string_view::npos) return false;
    choices.remove_prefix(comma + 1);
  }
}

std::string choice_list(std::string_view choices) {
  std::string out;
  for (char c : choices) out += c == ',' ? std::string(", ") : std::string(1, c);
  return out;
}

std::span<const Setting<DatabaseConfig>> database_settings() { return database; }
std::span<const Setting<LogConfig>> log_settings() { return log; }
std::span<const Setting<HttpConfig>> http_settings() { return http; }
std::span<const Setting<RetryConfig>> retry_settings() { return retry; }
std::span<const Setting<WebhookConfig>> webhook_settings() { return webhook; }
std::span<const Setting<domain::Limits>> limit_settings() { return limits; }
std::span<const Setting<ApiConfig>> api_settings() { return api; }
std::span<const Setting<WorkerConfig>> worker_settings() { return worker; }

std::optional<std::string> out_of_range(std::int64_t value, Range range, std::string_view setting) {
  if (value >= range.low && value <= range.high) return std::nullopt;
  return "invalid " + std::string(setting) + ": " + std::to_string(value) + " is not in " + std::to_string(range.low) +
         ".." + std::to_string(range.high);
}

template <class Group>
std::optional<std::string> check_settings(std::span<const Setting<Group>> table, unsigned role, const Group& group) {
  for (const auto& setting : table) {
    if (!(setting.roles & role)) continue;
    std::optional<std::string> problem = std::visit(
        [&](auto member) -> std::optional<std::string> {
          const auto& value = group.*member;
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, int> || std::is_same_v<T, std::int64_t>) {
            if (setting.range) {
              if (auto problem = out_of_range(value, *setting.range, setting_name(setting))) return problem;
            }
          } else if constexpr (std::is_same_v<T, std::string>) {
            if (!setting.choices.empty() && !is_one_of(setting.choices, value)) {
              return "invalid " + setting_name(setting) + ": '" + value + "' is not one of " +
                     choice_list(setting.choices);
            }
          }
          return std::nullopt;
        },
        setting.field);
    if (problem) return problem;
  }
  return std::nullopt;
}

template std::optional<std::string> check_settings(std::span<const Setting<DatabaseConfig>>, unsigned,
                                                   const DatabaseConfig&);
template std::optional<std::string> check_settings(std::span<const Setting<LogConfig>>, unsigned, const LogConfig&);
template std::optional<std::string> check_settings(std::span<const Setting<HttpConfig>>, unsigned, const HttpConfig&);
template std::optional<std::string> check_settings(std::span<const Setting<RetryConfig>>, unsigned,
                                                   const RetryConfig&);
template std::optional<std::string> check_settings(std::span<const Setting<WebhookConfig>>, unsigned,
                                                   const WebhookConfig&);
template std::optional<std::string> check_settings(std::span<const Setting<domain::Limits>>, unsigned,
                                                   const domain::Limits&);
template std::optional<std::string> check_settings(std::span<const Setting<ApiConfig>>, unsigned, const ApiConfig&);
template std::optional<std::string> check_settings(std::span<const Setting<WorkerConfig>>, unsigned,
                                                   const WorkerConfig&);

std::string settings_markdown() {
  std::ostringstream out;
  out << "| flag | environment | default | roles | what it sets |\n";
  out << "| --- | --- | --- | --- | --- |\n";
  const ApiConfig api_defaults;
  const WorkerConfig worker_defaults;
  render_rows(out, database_settings(), [&](const auto&) { return api_defaults.db; });
  render_rows(out, log_settings(), [&](const auto&) { return api_defaults.log; });
  render_rows(out, http_settings(), [&](const Setting<HttpConfig>& setting) {
    return setting.roles & role_worker ? worker_defaults.observability : api_defaults.http;
  });
  render_rows(out, api_settings(), [&](const auto&) { return api_defaults; });
  render_rows(out, worker_settings(), [&](const auto&) { return worker_defaults; });
  render_rows(out, retry_settings(), [&](const auto&) { return api_defaults.retry; });
  render_rows(out, webhook_settings(), [&](const auto&) { return api_defaults.webhook; });
  render_rows(out, limit_settings(), [&](const auto&) { return api_defaults.limits; });
  return out.str();
}

}  // namespace pw::config
