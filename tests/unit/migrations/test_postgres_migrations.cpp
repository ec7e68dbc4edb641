// The PostgreSQL dialect's migrations against a real server: they apply, they
// are refused on the same problems as on SQLite, and many `migrate` runs at
// once apply each exactly once (the advisory lock).
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "db/postgres/connection.hpp"
#include "migrations/migration.hpp"
#include "migrations/postgres_migrator.hpp"
#include "support/postgres_server.hpp"

using namespace pw::migrations;
using pw::db::postgres::Connection;
using pw::test::PostgresServer;

namespace {

std::vector<Migration> two_migrations(const char* second_sql = "CREATE TABLE b (id bigint PRIMARY KEY);") {
  std::vector<EmbeddedFile> files = {
      {"0001_first.sql", "CREATE TABLE a (id bigint PRIMARY KEY); INSERT INTO a VALUES (1);", Dialect::postgres},
      {"0002_second.sql", second_sql, Dialect::postgres},
  };
  return load(files);
}

}  // namespace

TEST_CASE("migrations: both dialects share one numbering, version for version and name for name") {
  const auto& sqlite = embedded(Dialect::sqlite);
  const auto& postgres = embedded(Dialect::postgres);
  REQUIRE(sqlite.size() == postgres.size());
  for (std::size_t i = 0; i < sqlite.size(); ++i) {
    CHECK(sqlite[i].version == postgres[i].version);
    CHECK(sqlite[i].name == postgres[i].name);
    CHECK(sqlite[i].checksum != postgres[i].checksum);  // each dialect's own SQL
  }
  CHECK(&embedded() == &sqlite);
}

TEST_CASE("PostgreSQL migrations: every embedded migration applies to an empty database, once") {
  Connection connection({PostgresServer::shared().create_database()});
  const auto& known = embedded(Dialect::postgres);
  PostgresMigrator migrator(connection, known);
  CHECK(migrator.status().pending.size() == known.size());
  CHECK_THROWS_AS(migrator.require_up_to_date(), SchemaError);
  CHECK(migrator.apply_pending().size() == known.size());
  CHECK(migrator.status().up_to_date());
  CHECK_NOTHROW(migrator.require_up_to_date());
  CHECK(migrator.apply_pending().empty());

  auto tables = connection.query(
      "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY($1::text[])",
      pw::db::postgres::Params().add_array(std::vector<std::string>{
          "jobs", "users", "worlds", "personas", "simulations", "events", "idempotency_keys", "persona_generations",
          "tokens", "schema_migrations"}));
  CHECK(tables.int64(0, 0) == 10);
  // The hot table's storage settings are in place.
  auto options = connection.query("SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'jobs'");
  CHECK(options.text(0, 0).find("fillfactor=70") != std::string::npos);
  CHECK(options.text(0, 0).find("autovacuum_vacuum_scale_factor=0") != std::string::npos);
  // The fencing column of 0003 and the applied time from the server's clock.
  CHECK(connection.query("SELECT count(*) FROM information_schema.columns WHERE table_name = 'jobs' AND "
                         "column_name = 'claim'")
            .int64(0, 0) == 1);
  auto applied = migrator.status().applied;
  REQUIRE_FALSE(applied.empty());
  CHECK(applied.front().applied_at_ms > 1'700'000'000'000);
}

TEST_CASE("PostgreSQL migrations: six migrate runs at once apply each migration exactly once") {
  auto url = PostgresServer::shared().create_database();
  const auto& known = embedded(Dialect::postgres);
  std::atomic<std::size_t> applied{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> runs;
  for (int i = 0; i < 6; ++i) {
    runs.emplace_back([&] {
      try {
        Connection connection({url});
        applied += PostgresMigrator(connection, known).apply_pending().size();
      } catch (const std::exception& e) {
        ++failures;
        MESSAGE(e.what());
      }
    });
  }
  for (auto& run : runs) run.join();
  CHECK(failures == 0);
  CHECK(applied == known.size());
  Connection connection({url});
  CHECK(connection.query("SELECT count(*) FROM schema_migrations").int64(0, 0) ==
        static_cast<std::int64_t>(known.size()));
}

TEST_CASE("PostgreSQL migrations: a changed or unknown migration is refused, a failing one leaves nothing of itself") {
  auto url = PostgresServer::shared().create_database();
  Connection connection({url});
  auto original = two_migrations();
  PostgresMigrator(connection, original).apply_pending();

  auto changed = two_migrations("CREATE TABLE b (id bigint PRIMARY KEY, extra text);");
  PostgresMigrator edited(connection, changed);
  CHECK_FALSE(edited.status().problems.empty());
  CHECK_THROWS_AS(edited.apply_pending(), SchemaError);
  CHECK_THROWS_WITH_AS(edited.require_up_to_date(), doctest::Contains("was changed after it was applied"),
                       SchemaError);

  std::vector<Migration> older(original.begin(), original.begin() + 1);
  CHECK_THROWS_WITH_AS(PostgresMigrator(connection, older).require_up_to_date(),
                       doctest::Contains("does not know"), SchemaError);

  Connection fresh({PostgresServer::shared().create_database()});
  auto broken = two_migrations("CREATE TABLE half (id bigint); NOT SQL;");
  CHECK_THROWS_AS(PostgresMigrator(fresh, broken).apply_pending(), pw::db::Error);
  auto status = PostgresMigrator(fresh, broken).status();
  CHECK(status.applied.size() == 1);
  CHECK(status.pending.size() == 1);
  CHECK_FALSE(fresh.query("SELECT to_regclass('half') IS NOT NULL").boolean(0, 0));
  // The lock was let go: another run proceeds at once.
  CHECK(PostgresMigrator(fresh, original).apply_pending().size() == 1);
}
