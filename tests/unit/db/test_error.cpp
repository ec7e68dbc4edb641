#include <doctest/doctest.h>

#include <stdexcept>

#include "db/connection.hpp"
#include "db/error.hpp"
#include "db/statement.hpp"
#include "support/temp_dir.hpp"

using pw::db::Connection;
using pw::db::Fault;

namespace {

// The fault of whatever `work` throws; fails the test when it throws nothing
// or something that is not a db::Error.
template <class Work>
Fault fault_thrown_by(Work&& work) {
  try {
    work();
  } catch (const pw::db::Error& e) {
    return e.fault();
  }
  FAIL("expected a db::Error");
  return Fault::other;
}

struct ErrorFixture {
  ErrorFixture() {
    config.path = dir.file("e.db");
    config.busy_timeout_ms = 50;
    connection.emplace(config);
    connection->exec("CREATE TABLE t (v INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)");
  }
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  std::optional<Connection> connection;
};

}  // namespace

TEST_CASE("db errors: a SQL bug (bad SQL, a missing table) is an internal error, not 'unavailable'") {
  ErrorFixture f;
  auto& c = *f.connection;
  CHECK(fault_thrown_by([&] { pw::db::Statement(c, "SELEC 1"); }) == Fault::other);
  CHECK(fault_thrown_by([&] { pw::db::Statement(c, "SELECT * FROM missing"); }) == Fault::other);
  CHECK(fault_thrown_by([&] { c.exec("DROP TABLE missing"); }) == Fault::other);
  try {
    c.exec("SELECT nothing FROM t");
    FAIL("expected a db::Error");
  } catch (const std::exception& e) {
    CHECK_FALSE(pw::db::is_unavailable(e));
    CHECK(pw::db::fault_of(e) == Fault::other);
  }
}

TEST_CASE("db errors: a constraint is the caller's to answer, not 'unavailable'") {
  ErrorFixture f;
  auto& c = *f.connection;
  c.exec("INSERT INTO t (name) VALUES ('a')");
  pw::db::Statement duplicate(c, "INSERT INTO t (name) VALUES (?1)");
  duplicate.bind(1, "a");
  CHECK(fault_thrown_by([&] { duplicate.exec(); }) == Fault::constraint);
  CHECK(fault_thrown_by([&] { c.exec("INSERT INTO t (name) VALUES (NULL)"); }) == Fault::constraint);
}

TEST_CASE("db errors: a writer held off past the busy timeout is busy, and busy is 'unavailable'") {
  ErrorFixture f;
  Connection holder(f.config);
  pw::db::WriteTransaction held(holder);
  Connection waiter(f.config);
  try {
    pw::db::WriteTransaction waiting(waiter);
    FAIL("expected BUSY");
  } catch (const std::exception& e) {
    CHECK(pw::db::fault_of(e) == Fault::busy);
    CHECK(pw::db::is_unavailable(e));
  }
}

TEST_CASE("db errors: a database that refuses writes is 'unavailable'") {
  ErrorFixture f;
  auto& c = *f.connection;
  c.exec("PRAGMA query_only = 1");
  try {
    c.exec("INSERT INTO t (name) VALUES ('b')");
    FAIL("expected a read-only error");
  } catch (const std::exception& e) {
    CHECK(pw::db::fault_of(e) == Fault::unavailable);
    CHECK(pw::db::is_unavailable(e));
  }
  CHECK_FALSE(pw::db::fault_of(std::runtime_error("not a database error")));
  CHECK_FALSE(pw::db::is_unavailable(std::runtime_error("not a database error")));
}

TEST_CASE("db::write commits what the work did and returns its result, and an exception rolls it all back") {
  ErrorFixture f;
  auto& c = *f.connection;
  auto count = [&] {
    pw::db::Statement q(c, "SELECT count(*) FROM t");
    REQUIRE(q.step());
    return q.int64(0);
  };
  const auto id = pw::db::write(c, [&] {
    c.exec("INSERT INTO t (name) VALUES ('kept')");
    return c.last_insert_rowid();
  });
  CHECK(id == 1);
  CHECK(count() == 1);
  CHECK_THROWS_AS(pw::db::write(c, [&] {
                    c.exec("INSERT INTO t (name) VALUES ('lost')");
                    throw std::runtime_error("the work failed");
                  }),
                  std::runtime_error);
  CHECK(count() == 1);
}

TEST_CASE("db::Statement binds optional values as NULL and reads nullable columns back") {
  ErrorFixture f;
  auto& c = *f.connection;
  c.exec("CREATE TABLE n (i INTEGER, s TEXT)");
  pw::db::Statement insert(c, "INSERT INTO n (i, s) VALUES (?1, ?2)");
  insert.bind(1, std::optional<std::int64_t>{}).bind(2, std::optional<std::string>{});
  insert.exec();
  insert.reset();
  insert.bind(1, std::optional<std::int64_t>{7}).bind(2, std::optional<std::string>{std::string("a\0b", 3)});
  insert.exec();
  pw::db::Statement read(c, "SELECT i, s FROM n ORDER BY rowid");
  REQUIRE(read.step());
  CHECK_FALSE(read.optional_int64(0));
  CHECK_FALSE(read.optional_text(1));
  REQUIRE(read.step());
  CHECK(read.optional_int64(0) == 7);
  CHECK(read.optional_text(1) == std::string("a\0b", 3));
  CHECK_FALSE(read.step());
}
