// Settings for every role: plain data with defaults, built once by the CLI,
// validated, then passed down by const reference.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "domain/limits.hpp"

namespace pw::config {

enum class LogFormat { json, text };

// Number of cores: the default limit of the CPU-bound job types.
int default_concurrency();

struct LogConfig {
  std::string level = "info";  // debug | info | warn | error
  LogFormat format = LogFormat::json;
};

struct DatabaseConfig {
  // postgresql://... (or postgres://...) selects PostgreSQL; empty: SQLite
  // at `path`. (resolve_database_url() turns sqlite:PATH or a bare path into `path`.)
  std::string url;
  // PostgreSQL: how long a role keeps trying to reach the server at start.
  int connect_wait_s = 30;
  // PostgreSQL: server connections one process opens for requests and job
  // handlers (the worker's claim, lease and listener connections come on top).
  int pool_size = 10;
  // PostgreSQL: the server cancels any statement running longer (0: never).
  int statement_timeout_ms = 30000;
  // PostgreSQL: the server ends a session idle inside a transaction this
  // long, releasing its row locks (0: the statement timeout). The worker
  // sets it below its lease, so a host cut off mid-transaction cannot keep
  // the jobs it locked from being taken over once their leases lapse.
  int idle_in_transaction_timeout_ms = 0;
  std::string path = "./personaworlds.db";
  std::string synchronous = "normal";  // normal | full
  int busy_timeout_ms = 10000;
  // Only `migrate` creates the file; the other roles wait for it (and report
  // not ready), so they never run against an empty, unmigrated database.
  bool create_if_missing = true;
  // Opened for reading only (a source that must not change, `migrate copy`):
  // no journal mode or other setting is written.
  bool read_only = false;
};

struct HttpConfig {
  std::string host = "0.0.0.0";
  int port = 8080;
  int threads = 16;          // request handler pool
  int max_queued = 512;      // accepted connections waiting for a handler
  std::int64_t max_body_bytes = 1 << 20;
  int max_header_bytes = 32768;  // request line + every header field
  int max_header_count = 100;
  int max_connections = 10000;   // open at once; also bounded by the open-file limit
  std::int64_t max_buffered_bytes = 64LL << 20;  // request bytes held across all connections
  int read_timeout_s = 10;       // from a request's first byte to its last
  int write_timeout_s = 10;
  int idle_timeout_s = 5;
  int keep_alive_max = 1000;
};

struct RetryConfig {
  std::int64_t backoff_base_ms = 1000;
  std::int64_t backoff_cap_ms = 10 * 60 * 1000;
  int default_max_attempts = 10;
};

struct WebhookConfig {
  bool allow_private = false;
  // One delivery attempt, end to end: the lookup, connect, TLS, request,
  // status line, headers and body all fit in it.
  int timeout_ms = 10000;
  // A callback host's lookup: the API's hard limit (a request thread waits
  // at most this long); at delivery it is also bounded by timeout_ms.
  int dns_timeout_ms = 2000;
  // Name servers as "address[:port]" (IPv6 in brackets), comma-separated;
  // empty: the system's (/etc/resolv.conf). /etc/hosts is read first either way.
  std::string dns_servers;
  // API request threads that may be looking up a callback host at once;
  // past it, a request gets 503 at once rather than waiting for a thread.
  int max_lookups = 4;
};

struct ApiConfig {
  DatabaseConfig db;
  LogConfig log;
  HttpConfig http;
  RetryConfig retry;
  WebhookConfig webhook;
  domain::Limits limits;  // per-user limits, checked when a request is accepted
  int shutdown_grace_s = 25;
  int shutdown_delay_ms = 1000;
  // The operator console (/admin): a file holding one admin token; empty:
  // only the admin tokens in the database open it.
  std::string admin_token_file;
  // The file's token, read once at start (load_admin_token); not a setting.
  std::string admin_token;
};

struct WorkerConfig {
  DatabaseConfig db;
  LogConfig log;
  HttpConfig observability{.host = "0.0.0.0", .port = 9091, .threads = 4};
  RetryConfig retry;
  WebhookConfig webhook;
  // Jobs running at once (the handler threads), whatever their types; the
  // worker holds up to twice as many (the rest wait for a handler).
  int concurrency = 128;
  // TYPE=N,...: jobs of a type running at once, over the defaults of
  // type_concurrency() (each capped at `concurrency`).
  std::string type_concurrency;
  int batch_size = 256;                // most jobs claimed in one transaction
  std::int64_t lease_ms = 30000;
  std::int64_t shutdown_grace_ms = 25000;
  std::int64_t poll_interval_ms = 1;   // idle check for new commits (PRAGMA data_version)
  std::int64_t retention_ms = 7LL * 24 * 3600 * 1000;  // prune finished jobs older than this
  std::int64_t prune_interval_ms = 60000;
  std::string worker_id;               // empty means: host:pid:random
  // The per-user limits a world schedule's tick is admitted under: the
  // API's settings (the same flags), so a tick counts as a POST would.
  domain::Limits limits;
};

struct MigrateConfig {
  DatabaseConfig db;
  LogConfig log;
};

// `migrate copy`: an SQLite database into a PostgreSQL one.
struct CopyConfig {
  DatabaseConfig from;  // path: the SQLite file, opened read-only
  DatabaseConfig to;    // url: postgresql://...
  int batch_size = 1000;
  bool allow_non_empty = false;
  LogConfig log;
};

// --database-url / DATABASE_URL: sqlite:PATH or a bare path becomes `path`
// (url cleared); a PostgreSQL URL stays. The problem with any other value.
std::optional<std::string> resolve_database_url(DatabaseConfig& config);
inline bool uses_postgres(const DatabaseConfig& config) { return !config.url.empty(); }

// Each returns the first problem as one line naming the setting, or nothing.
std::optional<std::string> validate(const LogConfig& config);
std::optional<std::string> validate(const DatabaseConfig& config);
std::optional<std::string> validate(const ApiConfig& config);
std::optional<std::string> validate(const WorkerConfig& config);
std::optional<std::string> validate(const MigrateConfig& config);

// --type-concurrency's TYPE=N,... (N from 1 to 1024; empty: none), or the problem.
std::optional<std::string> parse_type_concurrency(std::string_view text, std::map<std::string, int, std::less<>>& out);
// Jobs of each type one worker runs at once: the CPU-bound built-in types
// (world.simulate, persona.generate, world.purge) one per core,
// webhook.deliver (waits on receivers) half of `concurrency`, then
// --type-concurrency over these. A type not named runs up to `concurrency`.
std::map<std::string, int, std::less<>> type_concurrency(const WorkerConfig& config);


}  // namespace pw::config

namespace pw::config {

// `personaworlds jobs ...`: the operator's view of the job table.
struct JobsConfig {
  enum class Action { list, show, enqueue, retry, cancel, prune, pause, resume, rate_limit, controls };
  DatabaseConfig db;
  LogConfig log;
  RetryConfig retry;
  Action action = Action::list;
  bool json = false;
  // `jobs schedule add|list|remove` (operator schedules, src/schedule/):
  // set when the action is one of those, which then wins over `action`.
  enum class ScheduleAction { none, add, list, remove };
  ScheduleAction schedule = ScheduleAction::none;
  std::string schedule_name;
  std::string cron;
  std::string time_zone = "UTC";
  std::optional<std::string> state;
  std::optional<std::string> type;  // list filter, or the type to enqueue
  int limit = 50;
  std::int64_t job_id = 0;
  std::string payload = "{}";
  int count = 1;
  int priority = 0;
  std::optional<std::string> trace_id;
  std::string older_than = "7d";
  std::string rate;  // rate-limit: jobs per second, 0 or "off" to remove
  // enqueue's uniqueness window (queue::Uniqueness): a key, with a duration
  // (as parse_duration_ms reads it) and/or states ("queued,running").
  std::optional<std::string> unique_key;
  std::optional<std::string> unique_for;
  std::optional<std::string> unique_states;
};

// A rate limit as operators name it: jobs per second (at least 0.001, at
// most 1,000,000), or 0 / "off" for none (the inner nothing). Nothing when
// the text is neither.
std::optional<std::optional<double>> parse_rate_limit(std::string_view text);
inline bool valid_rate_limit(std::string_view text) { return parse_rate_limit(text).has_value(); }

// "500ms", "30s", "15m", "12h", "7d" -> milliseconds; nothing on bad input.
std::optional<std::int64_t> parse_duration_ms(std::string_view text);

std::optional<std::string> validate(const JobsConfig& config);

// `personaworlds users token HANDLE`: a new bearer token for an existing
// user, for an operator recovering an account.
struct UsersConfig {
  DatabaseConfig db;
  std::string handle;
  std::string token_name = "operator";
  std::int64_t expires_in_s = 0;  // 0: never expires
};

std::optional<std::string> validate(const UsersConfig& config);

// `personaworlds admin token create|list|revoke`: the operator console's
// tokens, kept in the database.
struct AdminConfig {
  enum class Action { create, list, revoke };
  DatabaseConfig db;
  Action action = Action::list;
  std::string name = "operator";
  std::int64_t token_id = 0;
  bool json = false;
};

std::optional<std::string> validate(const AdminConfig& config);

// Reads config.admin_token_file (when set) into config.admin_token, its
// surrounding whitespace trimmed. The problem, as one line, when the file
// cannot be read or holds nothing: the API must not start then.
std::optional<std::string> load_admin_token(ApiConfig& config);

// `personaworlds probe URL`: exit 0 when URL answers 2xx (container health checks).
struct ProbeConfig {
  std::string url;
  int timeout_ms = 2000;
};

}  // namespace pw::config
