#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include "config/config.hpp"
#include "support/temp_dir.hpp"

using namespace pw::config;

TEST_CASE("config: defaults are valid") {
  pw::test::TempDir dir;
  ApiConfig api;
  api.db.path = dir.file("a.db");
  CHECK_FALSE(validate(api).has_value());
  WorkerConfig worker;
  worker.db.path = dir.file("a.db");
  CHECK_FALSE(validate(worker).has_value());
  CHECK(worker.observability.port == 9091);
  CHECK(api.http.port == 8080);
  CHECK(DatabaseConfig{}.path == "./personaworlds.db");
}

TEST_CASE("config: an out-of-range port is refused naming the setting") {
  pw::test::TempDir dir;
  ApiConfig api;
  api.db.path = dir.file("a.db");
  api.http.port = 99999;
  auto problem = validate(api);
  REQUIRE(problem.has_value());
  CHECK(problem->find("--port / PORT") != std::string::npos);
  CHECK(problem->find("99999") != std::string::npos);

  WorkerConfig worker;
  worker.db.path = dir.file("a.db");
  worker.observability.port = -1;
  REQUIRE(validate(worker).has_value());
  CHECK(validate(worker)->find("WORKER_OBSERVABILITY_PORT") != std::string::npos);
}

TEST_CASE("config: concurrency 0 is refused") {
  pw::test::TempDir dir;
  WorkerConfig worker;
  worker.db.path = dir.file("a.db");
  worker.concurrency = 0;
  REQUIRE(validate(worker).has_value());
  CHECK(validate(worker)->find("WORKER_CONCURRENCY") != std::string::npos);
}

TEST_CASE("config: a database folder that is missing or unwritable is refused") {
  pw::test::TempDir dir;
  MigrateConfig migrate;
  migrate.db.path = dir.file("missing/sub/x.db");
  REQUIRE(validate(migrate).has_value());
  CHECK(validate(migrate)->find("DATABASE_PATH") != std::string::npos);

  if (geteuid() != 0) {  // root can write anywhere; the black-box test covers root with /proc
    std::filesystem::create_directory(dir.file("ro"));
    chmod(dir.file("ro").c_str(), 0500);
    migrate.db.path = dir.file("ro/x.db");
    CHECK(validate(migrate).has_value());
  }
  migrate.db.path = "/proc/x.db";
  REQUIRE(validate(migrate).has_value());
  CHECK(validate(migrate)->find("not writable") != std::string::npos);
}

TEST_CASE("config: log level and synchronous accept only their words") {
  LogConfig log;
  log.level = "verbose";
  CHECK(validate(log).has_value());
  log.level = "warn";
  CHECK_FALSE(validate(log).has_value());
  DatabaseConfig db;
  db.synchronous = "off";
  CHECK(validate(db).has_value());
}

TEST_CASE("config: durations parse with units") {
  CHECK(parse_duration_ms("500ms") == 500);
  CHECK(parse_duration_ms("30s") == 30000);
  CHECK(parse_duration_ms("15m") == 900000);
  CHECK(parse_duration_ms("2h") == 7200000);
  CHECK(parse_duration_ms("7d") == 604800000);
  CHECK_FALSE(parse_duration_ms("7").has_value());
  CHECK_FALSE(parse_duration_ms("d").has_value());
  CHECK_FALSE(parse_duration_ms("-1s").has_value());
  CHECK_FALSE(parse_duration_ms("1w").has_value());
  CHECK_FALSE(parse_duration_ms("999999999999d").has_value());
}

TEST_CASE("config: webhook lookup settings are checked, name servers as address[:port]") {
  pw::test::TempDir dir;
  ApiConfig api;
  api.db.path = dir.file("a.db");
  for (const char* good : {"", "127.0.0.1", "127.0.0.1:5353", "10.0.0.2,10.0.0.3:53", "[::1]", "[fd00::53]:5353"}) {
    CAPTURE(std::string(good));
    api.webhook.dns_servers = good;
    CHECK_FALSE(validate(api).has_value());
  }
  for (const char* bad : {"dns.example", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "::1", "[::1", "[::1]x",
                          "10.0.0.2,", ",10.0.0.2", "10.0.0.2;10.0.0.3", "1.2.3.4:53x"}) {
    CAPTURE(std::string(bad));
    api.webhook.dns_servers = bad;
    auto problem = validate(api);
    REQUIRE(problem.has_value());
    CHECK(problem->find("--webhook-dns-servers / WEBHOOK_DNS_SERVERS") != std::string::npos);
  }
  api.webhook.dns_servers.clear();
  api.webhook.dns_timeout_ms = 0;
  REQUIRE(validate(api).has_value());
  CHECK(validate(api)->find("WEBHOOK_DNS_TIMEOUT_MS") != std::string::npos);
  api.webhook.dns_timeout_ms = 2000;
  api.webhook.max_lookups = 0;
  REQUIRE(validate(api).has_value());
  CHECK(validate(api)->find("WEBHOOK_MAX_LOOKUPS") != std::string::npos);
}
