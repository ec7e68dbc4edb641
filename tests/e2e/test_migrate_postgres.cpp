// `personaworlds migrate` on PostgreSQL, as an operator runs it: real
// processes against the test run's PostgreSQL server.
#include <doctest/doctest.h>

#include <future>
#include <string>
#include <vector>

#include "db/postgres/connection.hpp"
#include "migrations/embedded.hpp"
#include "support/postgres_server.hpp"
#include "support/process.hpp"

using pw::test::PostgresServer;

namespace {

constexpr const char* kPassword = "Pg-S3cret-For-Migrate";

// A role with a password, owning a fresh database: the URL goes over TCP,
// password and all, as it would in production.
std::string database_with_password() {
  auto& server = PostgresServer::shared();
  server.run_sql(
      std::string("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pw_migrator') THEN "
                  "CREATE ROLE pw_migrator LOGIN PASSWORD '") +
      kPassword + "'; END IF; END $$");
  std::string url = server.create_database();  // postgresql://pw@/NAME?host=...
  std::string name = url.substr(url.find("@/") + 2);
  name = name.substr(0, name.find('?'));
  server.run_sql("ALTER DATABASE " + name + " OWNER TO pw_migrator");
  server.run_sql("ALTER SCHEMA public OWNER TO pw_migrator", name);
  return server.tcp_url("pw_migrator", kPassword, name);
}

// The PostgreSQL migrations the binary carries: every one must apply.
int postgres_migrations() {
  int count = 0;
  for (const auto& file : pw::migrations::embedded_files()) {
    if (file.dialect == pw::migrations::Dialect::postgres) ++count;
  }
  return count;
}

// What an operator sees: both streams.
std::string seen(const pw::test::RunResult& result) { return result.out + result.err; }

}  // namespace

TEST_CASE("migrate (binary, PostgreSQL): applies every migration once, status lists them, and the password never shows") {
  std::string url = database_with_password();
  auto status_before = pw::test::run(PW_BINARY, {"migrate", "status", "--database-url", url});
  CHECK(status_before.exit_code == 1);
  const std::string all = std::to_string(postgres_migrations());
  REQUIRE(postgres_migrations() >= 7);
  CHECK(seen(status_before).find("0 applied, " + all + " pending") != std::string::npos);

  auto first = pw::test::run(PW_BINARY, {"migrate"}, {{"DATABASE_URL", url}});
  INFO(seen(first));
  CHECK(first.exit_code == 0);
  CHECK(seen(first).find("\"msg\":\"migrations_done\"") != std::string::npos);
  CHECK(seen(first).find("pw_migrator:***@") != std::string::npos);
  CHECK(seen(first).find(kPassword) == std::string::npos);

  auto second = pw::test::run(PW_BINARY, {"migrate", "--database-url", url});
  CHECK(second.exit_code == 0);
  CHECK(seen(second).find("\"msg\":\"migrations_up_to_date\"") != std::string::npos);

  auto status = pw::test::run(PW_BINARY, {"migrate", "status", "--database-url", url});
  CHECK(status.exit_code == 0);
  CHECK(seen(status).find("applied  0001_jobs.sql") != std::string::npos);
  CHECK(seen(status).find(all + " applied, 0 pending") != std::string::npos);
  CHECK(seen(status).find(kPassword) == std::string::npos);
}

TEST_CASE("migrate (binary, PostgreSQL): three migrate processes at once apply each migration exactly once") {
  std::string url = PostgresServer::shared().create_database();
  std::vector<std::future<pw::test::RunResult>> runs;
  for (int i = 0; i < 3; ++i) {
    runs.push_back(std::async(std::launch::async,
                              [&] { return pw::test::run(PW_BINARY, {"migrate", "--database-url", url}); }));
  }
  int applied_lines = 0;
  for (auto& run : runs) {
    auto result = run.get();
    INFO(seen(result));
    CHECK(result.exit_code == 0);
    const std::string text = seen(result);
    for (auto at = text.find("\"msg\":\"migration_applied\""); at != std::string::npos;
         at = text.find("\"msg\":\"migration_applied\"", at + 1)) {
      ++applied_lines;
    }
  }
  CHECK(applied_lines == postgres_migrations());
  pw::db::postgres::Connection connection({url});
  CHECK(connection.query("SELECT count(*) FROM schema_migrations").int64(0, 0) == postgres_migrations());
}

TEST_CASE("migrate (binary, PostgreSQL): a malformed URL exits 2 naming the setting, an unreachable server exits 1 after the wait") {
  auto foreign = pw::test::run(PW_BINARY, {"migrate", "--database-url", "mysql://u:Hunter2Secret@h/db"});
  CHECK(foreign.exit_code == 2);
  CHECK(seen(foreign).find("--database-url / DATABASE_URL") != std::string::npos);
  CHECK(seen(foreign).find("Hunter2Secret") == std::string::npos);

  auto bad_port = pw::test::run(PW_BINARY, {"migrate", "--database-url", "postgresql://u:Hunter2Secret@h:port/db"});
  CHECK(bad_port.exit_code == 2);
  CHECK(seen(bad_port).find("is not a number from 1 to 65535") != std::string::npos);
  CHECK(seen(bad_port).find("Hunter2Secret") == std::string::npos);

  // Nothing listens on port 1: refused at once, tried again until the wait is over.
  auto unreachable = pw::test::run(PW_BINARY, {"migrate", "--database-url", "postgresql://u:Hunter2Secret@127.0.0.1:1/db",
                                               "--database-connect-wait-s", "1"});
  INFO(seen(unreachable));
  CHECK(unreachable.exit_code == 1);
  CHECK(seen(unreachable).find("\"msg\":\"database_unreachable\"") != std::string::npos);
  CHECK(seen(unreachable).find("cannot connect to PostgreSQL at postgresql://u:***@127.0.0.1:1/db") != std::string::npos);
  CHECK(seen(unreachable).find("Hunter2Secret") == std::string::npos);

  // sqlite:PATH is the SQLite driver, as --db is.
  auto sqlite = pw::test::run(PW_BINARY, {"migrate", "--database-url", "sqlite:/nonexistent-folder/x.db"});
  CHECK(sqlite.exit_code == 2);
  CHECK(seen(sqlite).find("--db / DATABASE_PATH") != std::string::npos);
}
