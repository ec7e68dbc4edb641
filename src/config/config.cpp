#include "config/config.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <thread>

namespace pw::config {
namespace {

std::optional<std::string> require_range(std::int64_t value, std::int64_t low, std::int64_t high,
                                         const std::string& setting) {
  if (value < low || value > high) {
    return "invalid " + setting + ": " + std::to_string(value) + " is not in " +
           std::to_string(low) + ".." + std::to_string(high);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> validate(const LogConfig& config) {
  if (config.level != "debug" && config.level != "info" && config.level != "warn" &&
      config.level != "error") {
    return "invalid --log-level / LOG_LEVEL: '" + config.level +
           "' is not one of debug, info, warn, error";
  }
  return std::nullopt;
}

std::optional<std::string> validate(const DatabaseConfig& config) {
  if (config.path.empty()) return "invalid --db / DATABASE_PATH: empty path";
  if (config.synchronous != "normal" && config.synchronous != "full") {
    return "invalid --db-synchronous / DATABASE_SYNCHRONOUS: '" + config.synchronous +
           "' is not one of normal, full";
  }
  if (auto e = require_range(config.busy_timeout_ms, 1, 600000,
                             "--db-busy-timeout-ms / DATABASE_BUSY_TIMEOUT_MS")) {
    return e;
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path file(config.path);
  if (fs::is_directory(file, ec)) {
    return "invalid --db / DATABASE_PATH: '" + config.path + "' is a directory";
  }
  fs::path folder = file.has_parent_path() ? file.parent_path() : fs::path(".");
  if (!fs::is_directory(folder, ec)) {
    return "invalid --db / DATABASE_PATH: folder '" + folder.string() + "' does not exist";
  }
  // SQLite writes -wal and -shm files beside the database, so the folder
  // itself must be writable, not only the file.
  // access() says yes to root everywhere, even on /proc; a probe file asks
  // the file system itself.
  fs::path probe = folder / (".personaworlds-write-check-" + std::to_string(::getpid()));
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (::access(folder.c_str(), W_OK | X_OK) != 0 || fd < 0) {
    if (fd >= 0) ::close(fd);
    return "invalid --db / DATABASE_PATH: folder '" + folder.string() + "' is not writable";
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return std::nullopt;
}

std::optional<std::string> validate(const HttpConfig& config, const std::string& port_setting) {
  if (config.host.empty()) return "invalid host: empty";
  if (auto e = require_range(config.port, 0, 65535, port_setting)) return e;
  if (auto e = require_range(config.threads, 1, 1024, "--http-threads / HTTP_THREADS")) return e;
  if (auto e = require_range(config.max_queued, 0, 1000000, "--http-max-queued / HTTP_MAX_QUEUED")) {
    return e;
  }
  if (auto e = require_range(config.max_body_bytes, 1, 1LL << 30,
                             "--max-body-bytes / MAX_BODY_BYTES")) {
    return e;
  }
  if (auto e = require_range(config.max_header_bytes, 1024, 1 << 20,
                             "--http-max-header-bytes / HTTP_MAX_HEADER_BYTES")) {
    return e;
  }
  if (auto e = require_range(config.max_header_count, 8, 10000, "--http-max-headers / HTTP_MAX_HEADERS")) {
    return e;
  }
  if (auto e = require_range(config.max_connections, 16, 1000000,
                             "--http-max-connections / HTTP_MAX_CONNECTIONS")) {
    return e;
  }
  if (auto e = require_range(config.max_buffered_bytes, config.max_body_bytes, 1LL << 40,
                             "--http-max-buffered-bytes / HTTP_MAX_BUFFERED_BYTES (at least --max-body-bytes)")) {
    return e;
  }
  if (auto e = require_range(config.read_timeout_s, 1, 3600, "--read-timeout / HTTP_READ_TIMEOUT")) {
    return e;
  }
  if (auto e = require_range(config.write_timeout_s, 1, 3600,
                             "--write-timeout / HTTP_WRITE_TIMEOUT")) {
    return e;
  }
  return std::nullopt;
}

namespace {
std::optional<std::string> validate(const RetryConfig& config) {
  if (auto e = require_range(config.backoff_base_ms, 1, 86400000,
                             "--backoff-base-ms / BACKOFF_BASE_MS")) {
    return e;
  }
  if (auto e = require_range(config.backoff_cap_ms, config.backoff_base_ms, 7LL * 86400000,
                             "--backoff-cap-ms / BACKOFF_CAP_MS")) {
    return e;
  }
  return require_range(config.default_max_attempts, 1, 1000, "--max-attempts / JOB_MAX_ATTEMPTS");
}
// "127.0.0.1", "127.0.0.1:5353", "[::1]", "[::1]:5353": what c-ares takes.
bool is_name_server(std::string_view entry) {
  std::string address(entry);
  std::string port;
  if (!entry.empty() && entry.front() == '[') {
    const auto close = entry.find(']');
    if (close == std::string_view::npos) return false;
    address = std::string(entry.substr(1, close - 1));
    std::string_view rest = entry.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || rest.size() == 1)) return false;
    if (!rest.empty()) port = std::string(rest.substr(1));
    in6_addr v6{};
    if (::inet_pton(AF_INET6, address.c_str(), &v6) != 1) return false;
  } else {
    const auto colon = entry.find(':');
    if (colon != std::string_view::npos) {
      address = std::string(entry.substr(0, colon));
      port = std::string(entry.substr(colon + 1));
      if (port.empty()) return false;
    }
    in_addr v4{};
    if (::inet_pton(AF_INET, address.c_str(), &v4) != 1) return false;
  }
  if (port.empty()) return true;
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  const int number = std::stoi(port);
  return number >= 1 && number <= 65535;
}

std::optional<std::string> validate(const WebhookConfig& config) {
  if (auto e = require_range(config.timeout_ms, 1, 600000, "--webhook-timeout-ms / WEBHOOK_TIMEOUT_MS")) return e;
  if (auto e = require_range(config.dns_timeout_ms, 1, 60000, "--webhook-dns-timeout-ms / WEBHOOK_DNS_TIMEOUT_MS")) {
    return e;
  }
  if (auto e = require_range(config.max_lookups, 1, 1024, "--webhook-max-lookups / WEBHOOK_MAX_LOOKUPS")) return e;
  std::string_view servers = config.dns_servers;
  while (!servers.empty()) {
    const auto comma = servers.find(',');
    const std::string_view entry = servers.substr(0, comma);
    if (!is_name_server(entry)) {
      return "invalid --webhook-dns-servers / WEBHOOK_DNS_SERVERS: '" + std::string(entry) +
             "' is not an address[:port] (IPv6 in brackets)";
    }
    if (comma == std::string_view::npos) break;
    servers.remove_prefix(comma + 1);
    if (servers.empty()) return "invalid --webhook-dns-servers / WEBHOOK_DNS_SERVERS: trailing comma";
  }
  return std::nullopt;
}
std::optional<std::string> validate(const domain::Limits& limits) {
  if (auto e = require_range(limits.worlds_per_user, 1, 1'000'000, "--max-worlds-per-user / MAX_WORLDS_PER_USER")) {
    return e;
  }
  if (auto e = require_range(limits.simulations_per_world, 1, 1'000'000,
                             "--max-simulations-per-world / MAX_SIMULATIONS_PER_WORLD")) {
    return e;
  }
  if (auto e = require_range(limits.events_per_world, 1, 1'000'000'000,
                             "--max-events-per-world / MAX_EVENTS_PER_WORLD")) {
    return e;
  }
  // No run can do more than the engine's largest (max ticks x max personas).
  if (auto e = require_range(limits.simulation_work, 1,
                             static_cast<std::int64_t>(domain::max_ticks) * domain::max_world_personas,
                             "--max-simulation-work / MAX_SIMULATION_WORK")) {
    return e;
  }
  return require_range(limits.pending_simulations_per_user, 1, 1'000'000,
                       "--max-pending-simulations / MAX_PENDING_SIMULATIONS");
}
}  // namespace

std::optional<std::string> validate(const ApiConfig& config) {
  if (auto e = validate(config.log)) return e;
  if (auto e = validate(config.http, "--port / PORT")) return e;
  if (auto e = validate(config.retry)) return e;
  if (auto e = validate(config.webhook)) return e;
  if (auto e = validate(config.limits)) return e;
  if (auto e = require_range(config.shutdown_grace_s, 0, 3600,
                             "--shutdown-grace / SHUTDOWN_GRACE")) {
    return e;
  }
  if (auto e = require_range(config.shutdown_delay_ms, 0, 600000,
                             "--shutdown-delay-ms / SHUTDOWN_DELAY_MS")) {
    return e;
  }
  return validate(config.db);
}

std::optional<std::string> validate(const WorkerConfig& config) {
  if (auto e = validate(config.log)) return e;
  if (auto e = validate(config.observability,
                        "--observability-port / WORKER_OBSERVABILITY_PORT")) {
    return e;
  }
  if (auto e = validate(config.retry)) return e;
  if (auto e = validate(config.webhook)) return e;
  if (auto e = require_range(config.concurrency, 1, 1024, "--concurrency / WORKER_CONCURRENCY")) {
    return e;
  }
  if (auto e = require_range(config.batch_size, 1, 10000, "--batch-size / WORKER_BATCH_SIZE")) return e;
  if (auto e = require_range(config.lease_ms, 1000, 86400000, "--lease-ms / WORKER_LEASE_MS")) return e;
  if (auto e = require_range(config.shutdown_grace_ms, 0, 3600000,
                             "--shutdown-grace-ms / WORKER_SHUTDOWN_GRACE_MS")) {
    return e;
  }
  if (auto e = require_range(config.poll_interval_ms, 1, 60000,
                             "--poll-interval-ms / WORKER_POLL_INTERVAL_MS")) {
    return e;
  }
  if (auto e = require_range(config.retention_ms, 0, 3650LL * 86400000,
                             "--retention-ms / JOB_RETENTION_MS")) {
    return e;
  }
  if (auto e = require_range(config.prune_interval_ms, 1000, 86400000,
                             "--prune-interval-ms / JOB_PRUNE_INTERVAL_MS")) {
    return e;
  }
  return validate(config.db);
}

std::optional<std::string> validate(const MigrateConfig& config) {
  if (auto e = validate(config.log)) return e;
  return validate(config.db);
}

int default_concurrency() {
  unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 2 : static_cast<int>(cores);
}

}  // namespace pw::config

namespace pw::config {

std::optional<std::int64_t> parse_duration_ms(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) return std::nullopt;
  std::int64_t value = std::stoll(std::string(text.substr(0, digits)));
  std::string_view unit = text.substr(digits);
  std::int64_t scale;
  if (unit == "ms") scale = 1;
  else if (unit == "s") scale = 1000;
  else if (unit == "m") scale = 60'000;
  else if (unit == "h") scale = 3'600'000;
  else if (unit == "d") scale = 86'400'000;
  else return std::nullopt;
  if (value > (INT64_MAX / scale)) return std::nullopt;
  return value * scale;
}

std::optional<std::string> validate(const JobsConfig& config) {
  if (auto e = validate(config.log)) return e;
  if (auto e = require_range(config.limit, 1, 10000, "--limit")) return e;
  if (auto e = require_range(config.count, 1, 1000000, "--count")) return e;
  if (config.action == JobsConfig::Action::enqueue && (!config.type || config.type->empty())) {
    return "invalid --type: jobs enqueue needs a job type";
  }
  if (config.action == JobsConfig::Action::prune && !parse_duration_ms(config.older_than)) {
    return "invalid --older-than: '" + config.older_than + "' is not a duration like 30m, 12h or 7d";
  }
  if (config.state && config.state != "queued" && config.state != "running" &&
      config.state != "succeeded" && config.state != "dead" && config.state != "canceled") {
    return "invalid --state: '" + *config.state + "' is not one of queued, running, succeeded, dead, canceled";
  }
  return validate(config.db);
}

std::optional<std::string> validate(const UsersConfig& config) {
  if (config.handle.empty()) return "invalid HANDLE: empty";
  if (config.token_name.size() > 100) return "invalid --name: longer than 100 bytes";
  if (auto e = require_range(config.expires_in_s, 0, 366LL * 24 * 3600, "--expires-in-seconds")) return e;
  return validate(config.db);
}

}  // namespace pw::config
