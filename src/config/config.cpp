#include "config/config.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "config/settings.hpp"
#include "db/postgres/connection.hpp"

namespace pw::config {
namespace {

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

// Ranges and choices come from the settings tables (settings.cpp); what
// follows here are the rules between settings and about the outside world.

std::optional<std::string> validate_http(const HttpConfig& config, unsigned role) {
  if (config.host.empty()) {
    return role == role_worker ? "invalid --observability-host / WORKER_OBSERVABILITY_HOST: empty"
                               : "invalid --host / HOST: empty";
  }
  if (auto e = check_settings(http_settings(), role, config)) return e;
  if (role == role_api && config.max_buffered_bytes < config.max_body_bytes) {
    return "invalid --http-max-buffered-bytes / HTTP_MAX_BUFFERED_BYTES: " + std::to_string(config.max_buffered_bytes) +
           " is less than --max-body-bytes (" + std::to_string(config.max_body_bytes) + ")";
  }
  return std::nullopt;
}

std::optional<std::string> validate(const RetryConfig& config, unsigned role) {
  if (auto e = check_settings(retry_settings(), role, config)) return e;
  if (config.backoff_cap_ms < config.backoff_base_ms) {
    return "invalid --backoff-cap-ms / BACKOFF_CAP_MS: " + std::to_string(config.backoff_cap_ms) +
           " is less than --backoff-base-ms (" + std::to_string(config.backoff_base_ms) + ")";
  }
  return std::nullopt;
}

std::optional<std::string> validate(const WebhookConfig& config, unsigned role) {
  if (auto e = check_settings(webhook_settings(), role, config)) return e;
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

}  // namespace

std::optional<std::string> validate(const LogConfig& config) {
  return check_settings(log_settings(), role_api | role_worker | role_migrate, config);
}

std::optional<std::string> resolve_database_url(DatabaseConfig& config) {
  const std::string& url = config.url;
  if (url.empty() || url.starts_with("postgresql://") || url.starts_with("postgres://")) return std::nullopt;
  if (url.starts_with("sqlite:")) {
    config.path = url.substr(std::string_view("sqlite:").size());
  } else if (url.find("://") == std::string::npos) {
    config.path = url;
  } else {
    return "invalid --database-url / DATABASE_URL: '" + db::postgres::Connection::redact(url) +
           "' is neither a PostgreSQL URL (postgresql://...) nor an SQLite path (sqlite:PATH)";
  }
  config.url.clear();
  return std::nullopt;
}

std::optional<std::string> validate(const DatabaseConfig& config) {
  if (uses_postgres(config)) {
    if (auto problem = db::postgres::Connection::check_url(config.url)) {
      return "invalid --database-url / DATABASE_URL: '" + db::postgres::Connection::redact(config.url) + "': " +
             *problem;
    }
    return check_settings(database_settings(), role_api | role_worker | role_migrate | role_jobs | role_users,
                          config);
  }
  if (config.path.empty()) return "invalid --db / DATABASE_PATH: empty path";
  if (auto e = check_settings(database_settings(), role_api | role_worker | role_migrate | role_jobs | role_users,
                              config)) {
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

std::optional<std::string> validate(const ApiConfig& config) {
  if (auto e = validate(config.log)) return e;
  if (auto e = validate_http(config.http, role_api)) return e;
  if (auto e = validate(config.retry, role_api)) return e;
  if (auto e = validate(config.webhook, role_api)) return e;
  if (auto e = check_settings(limit_settings(), role_api, config.limits)) return e;
  if (auto e = check_settings(api_settings(), role_api, config)) return e;
  return validate(config.db);
}

std::optional<std::string> validate(const WorkerConfig& config) {
  if (auto e = validate(config.log)) return e;
  if (auto e = validate_http(config.observability, role_worker)) return e;
  if (auto e = validate(config.retry, role_worker)) return e;
  if (auto e = validate(config.webhook, role_worker)) return e;
  if (auto e = check_settings(worker_settings(), role_worker, config)) return e;
  if (auto e = check_settings(limit_settings(), role_worker, config.limits)) return e;
  std::map<std::string, int, std::less<>> limits;
  if (auto e = parse_type_concurrency(config.type_concurrency, limits)) return e;
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

std::optional<std::string> parse_type_concurrency(std::string_view text, std::map<std::string, int, std::less<>>& out) {
  const std::string setting = "--type-concurrency / WORKER_TYPE_CONCURRENCY";
  if (text.empty()) return std::nullopt;
  for (bool more = true; more;) {
    const auto comma = text.find(',');
    more = comma != std::string_view::npos;
    std::string_view item = text.substr(0, comma);
    text = more ? text.substr(comma + 1) : std::string_view{};
    const auto equals = item.find('=');
    std::string_view type = item.substr(0, equals);
    std::string_view count = equals == std::string_view::npos ? std::string_view{} : item.substr(equals + 1);
    if (type.empty() || count.empty() || count.size() > 4 ||
        count.find_first_not_of("0123456789") != std::string_view::npos) {
      return "invalid " + setting + ": '" + std::string(item) + "' is not TYPE=N";
    }
    int value = std::stoi(std::string(count));
    if (auto problem = out_of_range(value, Range{1, 1024}, setting + " " + std::string(type))) return problem;
    out[std::string(type)] = value;
  }
  return std::nullopt;
}

std::map<std::string, int, std::less<>> type_concurrency(const WorkerConfig& config) {
  const int cores = default_concurrency();
  std::map<std::string, int, std::less<>> limits{
      {"world.simulate", cores},
      {"persona.generate", cores},
      // A bulk writer, like simulations: more at once only queue on the write lock.
      {"world.purge", cores},
      // Waits on receivers, not the CPU; half, so a flood of slow receivers
      // leaves the other half of the handlers to everything else.
      {"webhook.deliver", std::max(1, config.concurrency / 2)},
  };
  // Refused by validate() before a worker starts.
  (void)parse_type_concurrency(config.type_concurrency, limits);
  for (auto& [type, limit] : limits) limit = std::min(limit, config.concurrency);
  return limits;
}

}  // namespace pw::config

namespace pw::config {

std::optional<std::optional<double>> parse_rate_limit(std::string_view text) {
  if (text == "off") return std::optional<double>{};
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() || !(value >= 0)) return std::nullopt;
  if (value == 0) return std::optional<double>{};
  // Stored in thousandths of a job per second (migration 0011).
  if (value < 0.001 || value > 1e6) return std::nullopt;
  return std::optional<double>{value};
}

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

namespace {

// enqueue's uniqueness window: all or nothing of it, each part well formed.
std::optional<std::string> validate_uniqueness(const JobsConfig& config) {
  if (!config.unique_key) {
    if (config.unique_for) return "invalid --unique-for: it needs --unique-key";
    if (config.unique_states) return "invalid --unique-states: it needs --unique-key";
    return std::nullopt;
  }
  const std::string& key = *config.unique_key;
  if (key.empty() || key.size() > 200) return "invalid --unique-key: must be 1 to 200 bytes";
  for (unsigned char byte : key) {
    if (byte < 0x20 || byte == 0x7f) return "invalid --unique-key: must not contain control characters";
  }
  if (!config.unique_for && !config.unique_states) {
    return "invalid --unique-key: give --unique-for (a duration) and/or --unique-states (e.g. queued,running)";
  }
  if (config.unique_for) {
    auto ms = parse_duration_ms(*config.unique_for);
    if (!ms || *ms <= 0) {
      return "invalid --unique-for: '" + *config.unique_for +
             "' is not a positive duration like 500ms, 30s, 15m, 12h or 7d";
    }
  }
  if (config.unique_states) {
    std::string_view rest = *config.unique_states;
    for (;;) {
      auto comma = rest.find(',');
      std::string_view state = rest.substr(0, comma);
      if (state != "queued" && state != "running" && state != "succeeded" && state != "dead" && state != "canceled") {
        return "invalid --unique-states: '" + std::string(state) +
               "' is not one of queued, running, succeeded, dead, canceled (a comma-separated list)";
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (config.count != 1) return "invalid --count: --unique-key enqueues at most one job";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> validate(const JobsConfig& config) {
  if (auto e = validate(config.log)) return e;
  if (config.action == JobsConfig::Action::enqueue) {
    if (auto e = validate_uniqueness(config)) return e;
  }
  if (config.action == JobsConfig::Action::enqueue) {
    if (auto e = validate(config.retry, role_enqueue)) return e;
  }
  if (auto e = out_of_range(config.limit, {1, 10000}, "--limit")) return e;
  if (auto e = out_of_range(config.count, {1, 1000000}, "--count")) return e;
  if (config.action == JobsConfig::Action::enqueue && (!config.type || config.type->empty())) {
    return "invalid --type: jobs enqueue needs a job type";
  }
  if ((config.action == JobsConfig::Action::pause || config.action == JobsConfig::Action::resume ||
       config.action == JobsConfig::Action::rate_limit) &&
      (!config.type || config.type->empty() || config.type->size() > 200)) {
    return "invalid TYPE: a job type of 1 to 200 bytes";
  }
  if (config.action == JobsConfig::Action::rate_limit && !valid_rate_limit(config.rate)) {
    return "invalid RATE: '" + config.rate + "' is not a number of jobs per second (0 or off removes the limit)";
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
  if (auto e = out_of_range(config.expires_in_s, {0, 366LL * 24 * 3600}, "--expires-in-seconds")) return e;
  return validate(config.db);
}

std::optional<std::string> validate(const AdminConfig& config) {
  if (config.action == AdminConfig::Action::create) {
    if (config.name.empty() || config.name.size() > 100) return "invalid --name: must be 1 to 100 bytes";
    for (char c : config.name) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte == 0x7f) return "invalid --name: must not contain control characters";
    }
  }
  if (config.action == AdminConfig::Action::revoke && config.token_id <= 0) return "invalid ID: must be a positive id";
  return validate(config.db);
}

std::optional<std::string> load_admin_token(ApiConfig& config) {
  if (config.admin_token_file.empty()) return std::nullopt;
  const std::string setting = "--admin-token-file / ADMIN_TOKEN_FILE";
  std::error_code error;
  if (std::filesystem::is_directory(config.admin_token_file, error)) {
    return "invalid " + setting + ": " + config.admin_token_file + " is a directory";
  }
  std::ifstream file(config.admin_token_file, std::ios::binary);
  if (!file) return "invalid " + setting + ": cannot read " + config.admin_token_file;
  // A token is a line; anything past 4 KiB is not one.
  constexpr std::size_t max_bytes = 4096;
  std::string text(max_bytes + 1, '\0');
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (file.bad()) return "invalid " + setting + ": cannot read " + config.admin_token_file;
  text.resize(static_cast<std::size_t>(file.gcount()));
  if (text.size() > max_bytes) return "invalid " + setting + ": " + config.admin_token_file + " is larger than 4 KiB";
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && is_space(text[begin])) ++begin;
  while (end > begin && is_space(text[end - 1])) --end;
  const std::string token = text.substr(begin, end - begin);
  if (token.empty()) return "invalid " + setting + ": " + config.admin_token_file + " is empty";
  for (char c : token) {
    const auto byte = static_cast<unsigned char>(c);
    // It travels in an Authorization header: one line of visible ASCII.
    if (byte <= 0x20 || byte >= 0x7f) {
      return "invalid " + setting + ": the token in " + config.admin_token_file +
             " must be one word of printable ASCII";
    }
  }
  config.admin_token = token;
  return std::nullopt;
}

}  // namespace pw::config
