#include <doctest/doctest.h>

#include <cstdlib>
#include <vector>

#include "cli/cli.hpp"
#include "support/temp_dir.hpp"

namespace {

// Sets (or unsets, with nullptr) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : m_name(name) {
    if (const char* old = std::getenv(name)) m_old = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (m_old) {
      setenv(m_name, m_old->c_str(), 1);
    } else {
      unsetenv(m_name);
    }
  }

 private:
  const char* m_name;
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
