#include <doctest/doctest.h>

#include <thread>

#include "db/connection.hpp"
#include "db/statement.hpp"
#include "migrations/migration.hpp"
#include "migrations/migrator.hpp"
#include "support/temp_dir.hpp"

using namespace pw::migrations;

namespace {

pw::config::DatabaseConfig db_at(const pw::test::TempDir& dir) {
  pw::config::DatabaseConfig db;
  db.path = dir.file("m.db");
  return db;
}

std::vector<Migration> two_migrations() {
  static const std::vector<EmbeddedFile> files = {
      {"0002_second.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY);"},
      {"0001_first.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY); INSERT INTO a VALUES (1);"},
  };
  return load(files);
}

}  // namespace

TEST_CASE("migrations: file names are NNNN_description.sql") {
  auto ok = parse_file_name("0001_jobs.sql");
  REQUIRE(ok.has_value());
  CHECK(ok->version == 1);
  CHECK(ok->description == "jobs");
  CHECK(parse_file_name("0042_domain_tables.sql")->version == 42);
  CHECK_FALSE(parse_file_name("001_short.sql"));
  CHECK_FALSE(parse_file_name("0001_.sql"));
  CHECK_FALSE(parse_file_name("0001-dash.sql"));
  CHECK_FALSE(parse_file_name("0001_Upper.sql"));
  CHECK_FALSE(parse_file_name("0001_jobs.sql.bak"));
  CHECK_FALSE(parse_file_name("0000_zero.sql"));
  CHECK_FALSE(parse_file_name(".sql"));
  CHECK_FALSE(parse_file_name(""));
}

TEST_CASE("migrations: load orders by version and refuses duplicates and bad names") {
  auto loaded = two_migrations();
  REQUIRE(loaded.size() == 2);
  CHECK(loaded[0].name == "0001_first.sql");
  CHECK(loaded[1].name == "0002_second.sql");
  CHECK(loaded[0].checksum.size() == 64);
  std::vector<EmbeddedFile> duplicate = {{"0001_a.sql", "SELECT 1;"}, {"0001_b.sql", "SELECT 1;"}};
  CHECK_THROWS_AS(load(duplicate), std::invalid_argument);
  std::vector<EmbeddedFile> bad = {{"first.sql", "SELECT 1;"}};
  CHECK_THROWS_AS(load(bad), std::invalid_argument);
}

TEST_CASE("migrations: the embedded set is non-empty and loads") {
  CHECK_FALSE(embedded().empty());
  CHECK(embedded().front().version == 1);
}

TEST_CASE("migrator: applies pending migrations once, in order, in WAL mode") {
  pw::test::TempDir dir;
  pw::db::Connection connection(db_at(dir));
  auto known = two_migrations();
  Migrator migrator(connection, known);
  CHECK(migrator.status().pending.size() == 2);
  CHECK_THROWS_AS(migrator.require_up_to_date(), SchemaError);

  auto applied = migrator.apply_pending();
  CHECK(applied.size() == 2);
  CHECK(migrator.status().up_to_date());
  CHECK_NOTHROW(migrator.require_up_to_date());
  CHECK(migrator.apply_pending().empty());

  pw::db::Statement mode(connection, "PRAGMA journal_mode");
  REQUIRE(mode.step());
  CHECK(mode.text(0) == "wal");
  pw::db::Statement rows(connection, "SELECT count(*) FROM a");
  REQUIRE(rows.step());
  CHECK(rows.int32(0) == 1);  // the INSERT ran exactly once
}

TEST_CASE("migrator: a changed migration file is refused by name") {
  pw::test::TempDir dir;
  pw::db::Connection connection(db_at(dir));
  auto known = two_migrations();
  Migrator(connection, known).apply_pending();
  connection.exec("UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 2");
  Migrator migrator(connection, known);
  auto status = migrator.status();
  REQUIRE(status.problems.size() == 1);
  CHECK(status.problems[0].find("0002_second.sql") != std::string::npos);
  CHECK(status.problems[0].find("changed") != std::string::npos);
  CHECK_THROWS_AS(migrator.apply_pending(), SchemaError);
  CHECK_THROWS_AS(migrator.require_up_to_date(), SchemaError);
}

TEST_CASE("migrator: a migration unknown to this binary (newer schema) is refused") {
  pw::test::TempDir dir;
  pw::db::Connection connection(db_at(dir));
  auto known = two_migrations();
  Migrator(connection, known).apply_pending();
  connection.exec(
      "INSERT INTO schema_migrations VALUES (3, '0003_future.sql', 'abc', 0)");
  Migrator migrator(connection, known);
  auto status = migrator.status();
  REQUIRE(status.problems.size() == 1);
  CHECK(status.problems[0].find("0003_future.sql") != std::string::npos);
  CHECK_THROWS_AS(migrator.apply_pending(), SchemaError);
}

TEST_CASE("migrator: a failing migration rolls back and leaves nothing recorded") {
  pw::test::TempDir dir;
  pw::db::Connection connection(db_at(dir));
  std::vector<EmbeddedFile> files = {{"0001_ok.sql", "CREATE TABLE ok (id INTEGER);"},
                                     {"0002_broken.sql", "CREATE TABLE half (id INTEGER); NOT SQL;"}};
  auto known = load(files);
  Migrator migrator(connection, known);
  CHECK_THROWS(migrator.apply_pending());
  auto status = migrator.status();
  CHECK(status.applied.size() == 1);
  CHECK(status.pending.size() == 1);
  pw::db::Statement half(connection, "SELECT count(*) FROM sqlite_master WHERE name = 'half'");
  REQUIRE(half.step());
  CHECK(half.int32(0) == 0);
}

TEST_CASE("migrator: concurrent runs apply each migration exactly once") {
  pw::test::TempDir dir;
  auto db = db_at(dir);
  auto known = two_migrations();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  std::atomic<int> applied{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      try {
        pw::db::Connection connection(db);
        applied += static_cast<int>(Migrator(connection, known).apply_pending().size());
      } catch (...) {
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(applied == 2);
  pw::db::Connection connection(db);
  pw::db::Statement rows(connection, "SELECT count(*) FROM a");
  REQUIRE(rows.step());
  CHECK(rows.int32(0) == 1);
}
