#include <doctest/doctest.h>

#include <cstdlib>
#include <vector>

#include "cli/cli.hpp"
#include "config/settings.hpp"
#include "support/temp_dir.hpp"

namespace {

// Sets (or unsets, with nullptr) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : m_name(name) {
    if (const char* old = std::getenv(name)) m_old = old;
    if (value) {
      setenv(m_name.c_str(), value, 1);
    } else {
      unsetenv(m_name.c_str());
    }
  }
  ~ScopedEnv() {
    if (m_old) {
      setenv(m_name.c_str(), m_old->c_str(), 1);
    } else {
      unsetenv(m_name.c_str());
    }
  }

 private:
  std::string m_name;  // a copy: callers may pass a temporary's c_str()
  std::optional<std::string> m_old;
};

pw::cli::Parsed parse(std::vector<const char*> args) {
  args.insert(args.begin(), "personaworlds");
  return pw::cli::parse(static_cast<int>(args.size()), args.data());
}

}  // namespace

TEST_CASE("cli: flag beats environment beats default") {
  pw::test::TempDir dir;
  std::string db = dir.file("x.db");
  ScopedEnv no_db("DATABASE_PATH", db.c_str());
  {
    ScopedEnv port("PORT", nullptr);
    auto parsed = parse({"api"});
    REQUIRE(std::holds_alternative<pw::config::ApiConfig>(parsed.command));
    CHECK(std::get<pw::config::ApiConfig>(parsed.command).http.port == 8080);
    CHECK(std::get<pw::config::ApiConfig>(parsed.command).db.path == db);
  }
  {
    ScopedEnv port("PORT", "9000");
    auto from_env = parse({"api"});
    CHECK(std::get<pw::config::ApiConfig>(from_env.command).http.port == 9000);
    auto from_flag = parse({"api", "--port", "7000"});
    CHECK(std::get<pw::config::ApiConfig>(from_flag.command).http.port == 7000);
  }
  {
    ScopedEnv port("WORKER_OBSERVABILITY_PORT", "9500");
    ScopedEnv concurrency("WORKER_CONCURRENCY", "3");
    auto parsed = parse({"worker", "--concurrency", "5"});
    REQUIRE(std::holds_alternative<pw::config::WorkerConfig>(parsed.command));
    const auto& worker = std::get<pw::config::WorkerConfig>(parsed.command);
    CHECK(worker.observability.port == 9500);
    CHECK(worker.concurrency == 5);
  }
  {
    ScopedEnv format("LOG_FORMAT", "text");
    auto parsed = parse({"migrate", "status"});
    REQUIRE(std::holds_alternative<pw::cli::MigrateCommand>(parsed.command));
    CHECK(std::get<pw::cli::MigrateCommand>(parsed.command).status_only);
    CHECK(std::get<pw::cli::MigrateCommand>(parsed.command).config.log.format == pw::config::LogFormat::text);
  }
}

TEST_CASE("cli: invalid values and usage errors exit 2") {
  pw::test::TempDir dir;
  std::string db = dir.file("x.db");
  ScopedEnv db_env("DATABASE_PATH", db.c_str());
  CHECK(parse({"api", "--port", "99999"}).exit_code == 2);
  CHECK(parse({"api", "--port", "eighty"}).exit_code == 2);
  CHECK(parse({"worker", "--concurrency", "0"}).exit_code == 2);
  CHECK(parse({"api", "--log-format", "xml"}).exit_code == 2);
  CHECK(parse({"api", "--no-such-flag"}).exit_code == 2);
  CHECK(parse({"frobnicate"}).exit_code == 2);
  CHECK(parse({}).exit_code == 2);
  CHECK(parse({"migrate", "--db", "/proc/nope/x.db"}).exit_code == 2);
  {
    ScopedEnv bad("WORKER_CONCURRENCY", "0");
    CHECK(parse({"worker"}).exit_code == 2);
  }
}

TEST_CASE("cli: --help and --version exit 0") {
  CHECK(parse({"--help"}).exit_code == 0);
  CHECK(parse({"--version"}).exit_code == 0);
  CHECK(std::holds_alternative<std::monostate>(parse({"--version"}).command));
}

namespace {

// Every whole-number setting `role` takes, past either end of its range,
// through its flag and through its environment variable: refused (exit 2).
template <class Group>
void refuses_out_of_range(std::span<const pw::config::Setting<Group>> table, unsigned role, const char* role_name) {
  for (const auto& setting : table) {
    if (!(setting.roles & role) || !setting.range) continue;
    const std::string flag(setting.flag);
    for (std::int64_t value : {setting.range->low - 1, setting.range->high + 1}) {
      const std::string text = std::to_string(value);
      CHECK_MESSAGE(parse({role_name, flag.c_str(), text.c_str()}).exit_code == 2, role_name << " " << flag << " " << text);
      ScopedEnv env(std::string(setting.env).c_str(), text.c_str());
      CHECK_MESSAGE(parse({role_name}).exit_code == 2, role_name << " " << setting.env << "=" << text);
    }
  }
}

}  // namespace

TEST_CASE("cli: every whole-number setting of the api and worker is range-checked from its declaration") {
  pw::test::TempDir dir;
  std::string db = dir.file("x.db");
  ScopedEnv db_env("DATABASE_PATH", db.c_str());
  REQUIRE(parse({"api"}).exit_code == 0);
  REQUIRE(parse({"worker"}).exit_code == 0);
  using namespace pw::config;
  refuses_out_of_range(database_settings(), role_api, "api");
  refuses_out_of_range(http_settings(), role_api, "api");
  refuses_out_of_range(api_settings(), role_api, "api");
  refuses_out_of_range(retry_settings(), role_api, "api");
  refuses_out_of_range(webhook_settings(), role_api, "api");
  refuses_out_of_range(limit_settings(), role_api, "api");
  refuses_out_of_range(http_settings(), role_worker, "worker");
  refuses_out_of_range(worker_settings(), role_worker, "worker");
  refuses_out_of_range(retry_settings(), role_worker, "worker");
  refuses_out_of_range(webhook_settings(), role_worker, "worker");
}

TEST_CASE("cli: jobs enqueue takes the retry settings and checks them") {
  pw::test::TempDir dir;
  std::string db = dir.file("x.db");
  ScopedEnv db_env("DATABASE_PATH", db.c_str());
  CHECK(parse({"jobs", "enqueue", "--type", "noop", "--max-attempts", "3"}).exit_code == 0);
  CHECK(parse({"jobs", "enqueue", "--type", "noop", "--max-attempts", "0"}).exit_code == 2);
  CHECK(parse({"jobs", "enqueue", "--type", "noop", "--backoff-base-ms", "5000", "--backoff-cap-ms", "10"}).exit_code ==
        2);
  CHECK(parse({"jobs", "list", "--max-attempts", "3"}).exit_code == 2);
}
