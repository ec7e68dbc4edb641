// The PostgreSQL client layer against a real server (tests/support/postgres.sh):
// values, arrays, errors by SQLSTATE, secrets kept out of messages,
// transactions, notifications, and a server that goes away.
#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "db/error.hpp"
#include "db/postgres/connection.hpp"
#include "db/postgres/error.hpp"
#include "support/db_errors.hpp"
#include "support/postgres_server.hpp"

using pw::db::Fault;
using pw::db::postgres::Connection;
using pw::db::postgres::Params;
using pw::db::postgres::Transaction;
using pw::test::PostgresServer;
using pw::test::error_from;
using namespace std::chrono_literals;

namespace {

struct Database {
  std::string url = PostgresServer::shared().create_database();
  Connection connection{{url}};
};

}  // namespace

TEST_CASE("PostgreSQL connection: parameters and values round-trip as text, NULLs included") {
  Database db;
  Params params;
  params.add(std::int64_t{-9223372036854775807LL}).add(42).add(true).add(0.1).add("it's \"quoted\" ünïcode");
  params.add_null().add(std::optional<std::string>{});
  auto rows = db.connection.query(
      "SELECT $1::bigint, $2::int, $3::boolean, $4::float8, $5::text, $6::text, $7::text, NULL::bigint", params);
  REQUIRE(rows.size() == 1);
  CHECK(rows.int64(0, 0) == -9223372036854775807LL);
  CHECK(rows.int32(0, 1) == 42);
  CHECK(rows.boolean(0, 2));
  CHECK(rows.real(0, 3) == 0.1);
  CHECK(rows.text(0, 4) == "it's \"quoted\" ünïcode");
  CHECK(rows.is_null(0, 5));
  CHECK_FALSE(rows.optional_text(0, 6).has_value());
  CHECK_FALSE(rows.optional_int64(0, 7).has_value());
  // Reading a NULL or a column that is not there is our bug, said plainly.
  auto error = error_from([&] { (void)rows.int64(0, 5); });
  CHECK(error->fault() == Fault::other);
  CHECK(error_from([&] { (void)rows.text(0, 99); })->fault() == Fault::other);
  CHECK(error_from([&] { (void)rows.int64(0, 4); })->fault() == Fault::other);
}

TEST_CASE("PostgreSQL connection: array parameters feed ANY and unnest, with quotes, braces, commas and NULL elements") {
  Database db;
  db.connection.exec("CREATE TABLE t (id bigint PRIMARY KEY, name text)");
  std::vector<std::optional<std::string>> names = {"plain", "a \"quoted\" one", "back\\slash", "{braces},commas",
                                                   "", "NULL", std::nullopt};
  std::vector<std::int64_t> ids = {1, 2, 3, 4, 5, 6, 7};
  auto inserted = db.connection.query("INSERT INTO t SELECT * FROM unnest($1::bigint[], $2::text[])",
                                      Params().add_array(ids).add_array(names));
  CHECK(inserted.affected() == 7);
  auto rows = db.connection.query("SELECT id, name FROM t ORDER BY id");
  REQUIRE(rows.size() == 7);
  for (int i = 0; i < 7; ++i) {
    CHECK(rows.int64(i, 0) == ids[static_cast<std::size_t>(i)]);
    CHECK(rows.optional_text(i, 1) == names[static_cast<std::size_t>(i)]);
  }
  auto some = db.connection.query("SELECT count(*) FROM t WHERE id = ANY($1::bigint[])",
                                  Params().add_array(std::vector<std::int64_t>{2, 4, 99}));
  CHECK(some.int64(0, 0) == 2);
  auto none = db.connection.query("SELECT count(*) FROM t WHERE id = ANY($1::bigint[])",
                                  Params().add_array(std::vector<std::int64_t>{}));
  CHECK(none.int64(0, 0) == 0);
}

TEST_CASE("PostgreSQL connection: a prepared statement is parsed once and reused with new parameters") {
  Database db;
  for (int i = 0; i < 3; ++i) {
    auto rows = db.connection.prepared("double_it", "SELECT $1::int * 2", Params().add(i));
    CHECK(rows.int32(0, 0) == i * 2);
  }
  auto count = db.connection.query("SELECT count(*) FROM pg_prepared_statements WHERE name = 'double_it'");
  CHECK(count.int64(0, 0) == 1);
}

TEST_CASE("PostgreSQL errors: each SQLSTATE maps to the fault the error policy names") {
  using pw::db::postgres::classify_sqlstate;
  CHECK(classify_sqlstate("40001").fault == Fault::busy);
  CHECK(classify_sqlstate("40P01").fault == Fault::busy);
  CHECK(classify_sqlstate("55P03").fault == Fault::busy);
  CHECK(classify_sqlstate("08006").fault == Fault::unavailable);
  CHECK(std::string(classify_sqlstate("08006").reason) == "connection");
  CHECK(std::string(classify_sqlstate("").reason) == "connection");
  CHECK(std::string(classify_sqlstate("57P01").reason) == "connection");
  CHECK(std::string(classify_sqlstate("53300").reason) == "overloaded");
  CHECK(std::string(classify_sqlstate("53100").reason) == "full");
  CHECK(std::string(classify_sqlstate("25006").reason) == "readonly");
  CHECK(classify_sqlstate("57014").fault == Fault::unavailable);
  CHECK(classify_sqlstate("58030").fault == Fault::unavailable);
  CHECK(classify_sqlstate("23505").fault == Fault::constraint);
  CHECK(classify_sqlstate("23503").fault == Fault::constraint);
  CHECK(classify_sqlstate("42601").fault == Fault::other);
  CHECK(classify_sqlstate("42P01").fault == Fault::other);
  CHECK(classify_sqlstate("22P02").fault == Fault::other);
}

TEST_CASE("PostgreSQL errors: real failures on a real server arrive classified") {
  Database db;
  db.connection.exec("CREATE TABLE t (id bigint PRIMARY KEY)");
  db.connection.query("INSERT INTO t VALUES (1)");
  auto duplicate = error_from([&] { db.connection.query("INSERT INTO t VALUES (1)"); });
  CHECK(duplicate->fault() == Fault::constraint);
  CHECK(std::string(duplicate->what()).find("23505") != std::string::npos);
  CHECK(error_from([&] { db.connection.exec("SELEC 1"); })->fault() == Fault::other);
  CHECK(error_from([&] { db.connection.query("SELECT * FROM missing"); })->fault() == Fault::other);
  auto serialization =
      error_from([&] { db.connection.exec("DO $$ BEGIN RAISE EXCEPTION 'lost' USING ERRCODE = '40001'; END $$"); });
  CHECK(serialization->fault() == Fault::busy);
  CHECK(pw::db::is_unavailable(*serialization));

  Connection limited({db.url, 5, "personaworlds", 50});
  auto timeout = error_from([&] { limited.exec("SELECT pg_sleep(5)"); });
  CHECK(timeout->fault() == Fault::unavailable);
  CHECK(limited.healthy());  // a cancelled statement leaves the session usable
  CHECK(limited.query("SELECT 1").int32(0, 0) == 1);
}

TEST_CASE("PostgreSQL connection: a wrong password is unavailable and no message or redacted URL holds a password") {
  auto& server = PostgresServer::shared();
  server.run_sql(
      "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pw_login') THEN "
      "CREATE ROLE pw_login LOGIN PASSWORD 'right-horse-battery'; END IF; END $$");
  const std::string wrong = "Wr0ng-S3cret-Value";
  std::string url = server.tcp_url("pw_login", wrong);
  auto error = error_from([&] { Connection connection({url}); });
  CHECK(error->fault() == Fault::unavailable);
  std::string message = error->what();
  CHECK(message.find(wrong) == std::string::npos);
  CHECK(message.find("pw_login:***@") != std::string::npos);
  CHECK(message.find("password authentication failed") != std::string::npos);

  Connection right({server.tcp_url("pw_login", "right-horse-battery")});
  CHECK(right.query("SELECT current_user").text(0, 0) == "pw_login");
}

TEST_CASE("PostgreSQL connection: an unreachable server is unavailable (connection) within the connect timeout") {
  auto started = std::chrono::steady_clock::now();
  // Port 1 on the loopback: nothing listens there, the refusal is immediate.
  auto error = error_from([] { Connection connection({"postgresql://pw:secret@127.0.0.1:1/postgres", 2}); });
  CHECK(error->fault() == Fault::unavailable);
  CHECK(std::string(pw::db::unavailable_reason(*error)) == "connection");
  CHECK(std::string(error->what()).find("secret") == std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started < 10s);
}

TEST_CASE("PostgreSQL URL: redaction masks every password form and check_url names what is wrong") {
  CHECK(Connection::redact("postgresql://user:pa%40ss@db.example:5432/app") ==
        "postgresql://user:***@db.example:5432/app");
  CHECK(Connection::redact("postgres://user@db/app?sslmode=require&password=hunter2&x=1") ==
        "postgres://user@db/app?sslmode=require&password=***&x=1");
  CHECK(Connection::redact("postgresql://db/app?password=a&password=b") == "postgresql://db/app?password=***&password=***");
  CHECK(Connection::redact("postgresql://user@host/app") == "postgresql://user@host/app");
  CHECK(Connection::redact("postgresql:///app?host=/tmp/x") == "postgresql:///app?host=/tmp/x");

  CHECK_FALSE(Connection::check_url("postgresql://user:pw@localhost:5432/app").has_value());
  CHECK_FALSE(Connection::check_url("postgres:///app?host=/run/postgresql").has_value());
  CHECK(Connection::check_url("mysql://localhost/app").has_value());
  CHECK(Connection::check_url("postgresql://localhost/app?nosuchoption=1").has_value());
  CHECK(Connection::check_url("postgresql://localhost:notaport/app").has_value());
  CHECK(Connection::check_url("postgresql://localhost:70000/app").has_value());
  CHECK_FALSE(Connection::check_url("postgresql://a:5432,b:5433/app").has_value());
  auto bad = Connection::check_url("postgresql://user:SeCrEt@localhost:notaport/app?sslmode=bogus&password=SeCrEt");
  if (bad) CHECK(bad->find("SeCrEt") == std::string::npos);
}

TEST_CASE("PostgreSQL transaction: rolls back unless committed, and a commit after a failed statement throws") {
  Database db;
  db.connection.exec("CREATE TABLE t (id bigint PRIMARY KEY)");
  {
    Transaction transaction(db.connection);
    db.connection.query("INSERT INTO t VALUES (1)");
  }
  CHECK(db.connection.query("SELECT count(*) FROM t").int64(0, 0) == 0);
  {
    Transaction transaction(db.connection);
    db.connection.query("INSERT INTO t VALUES (2)");
    transaction.commit();
  }
  CHECK(db.connection.query("SELECT count(*) FROM t").int64(0, 0) == 1);
  {
    Transaction transaction(db.connection);
    db.connection.query("INSERT INTO t VALUES (3)");
    CHECK_THROWS(db.connection.query("INSERT INTO t VALUES (2)"));
    CHECK(db.connection.transaction_failed());
    CHECK_THROWS_AS(transaction.commit(), pw::db::Error);
  }
  CHECK_FALSE(db.connection.in_transaction());
  CHECK(db.connection.query("SELECT count(*) FROM t").int64(0, 0) == 1);
}

TEST_CASE("PostgreSQL session: one left idle inside a transaction past its timeout is ended, its locks freed") {
  Database db;
  db.connection.exec("CREATE TABLE t (id bigint PRIMARY KEY)");
  db.connection.exec("INSERT INTO t VALUES (1)");
  pw::db::postgres::Settings settings{db.url};
  settings.idle_in_transaction_timeout_ms = 200;
  Connection lost(settings);
  CHECK(lost.query("SHOW idle_in_transaction_session_timeout").text(0, 0) == "200ms");

  // A client cut off between two statements: its row lock stays until the
  // server gives up on the session.
  std::optional<Transaction> stalled(std::in_place, lost);
  lost.query("SELECT id FROM t WHERE id = 1 FOR UPDATE");
  std::this_thread::sleep_for(600ms);
  {
    Transaction other(db.connection);
    CHECK(db.connection.query("SELECT id FROM t WHERE id = 1 FOR UPDATE NOWAIT").int64(0, 0) == 1);
    other.commit();
  }
  CHECK(error_from([&] { lost.query("SELECT 1"); })->fault() == Fault::unavailable);
  stalled.reset();
  // The next transaction opens the session again.
  Transaction again(lost);
  CHECK(lost.query("SELECT count(*) FROM t").int64(0, 0) == 1);
}

TEST_CASE("PostgreSQL notifications: a committed NOTIFY arrives, a rolled-back one never does") {
  Database db;
  Connection listener({db.url});
  listener.listen("jobs ready");
  CHECK_FALSE(listener.wait_for_notification(20ms).has_value());
  {
    Transaction transaction(db.connection);
    db.connection.query("SELECT pg_notify('jobs ready', 'rolled back')");
  }
  {
    Transaction transaction(db.connection);
    db.connection.query("SELECT pg_notify('jobs ready', 'kept')");
    transaction.commit();
  }
  auto notification = listener.wait_for_notification(5s);
  REQUIRE(notification.has_value());
  CHECK(notification->channel == "jobs ready");
  CHECK(notification->payload == "kept");
  CHECK(notification->sender_pid == db.connection.backend_pid());
  CHECK_FALSE(listener.wait_for_notification(50ms).has_value());
}

TEST_CASE("PostgreSQL server restart: a transaction on a session the restart ended opens it again") {
  auto server = PostgresServer::start_private();
  Connection connection({server->url(), 2});
  connection.prepared("two", "SELECT 2");
  const int before = connection.backend_pid();
  server->stop();
  auto down = error_from([&] { Transaction transaction(connection); });
  CHECK(down->fault() == Fault::unavailable);
  CHECK_FALSE(connection.healthy());
  server->start();
  {
    Transaction transaction(connection);
    // A new session, whose prepared statements start from none.
    CHECK(connection.prepared("two", "SELECT 2").int32(0, 0) == 2);
    transaction.commit();
  }
  CHECK(connection.healthy());
  CHECK(connection.backend_pid() != before);
}

TEST_CASE("PostgreSQL connection: every statement, failed ones too, is timed for db_query_duration_seconds") {
  auto url = PostgresServer::shared().create_database();
  std::vector<double> timings;
  Connection connection({url}, [&](double seconds) { timings.push_back(seconds); });
  connection.query("SELECT pg_sleep(0.02)");
  connection.exec("CREATE TABLE t (id bigint)");
  connection.prepared("one", "SELECT 1");
  CHECK_THROWS(connection.query("SELECT * FROM missing"));
  REQUIRE(timings.size() == 4);
  CHECK(timings[0] >= 0.02);
}

TEST_CASE("PostgreSQL session ended inside a transaction: it is not opened again under the transaction, whose commit fails and keeps nothing") {
  Database db;
  db.connection.exec("CREATE TABLE kept (n integer)");
  Connection other({db.url});
  const int pid = db.connection.backend_pid();
  {
    Transaction transaction(db.connection);
    db.connection.exec("INSERT INTO kept VALUES (1)");
    other.query("SELECT pg_terminate_backend($1)", Params().add(pid));
    CHECK_THROWS_AS(db.connection.exec("INSERT INTO kept VALUES (2)"), pw::db::Error);
    // Opened again here, the rest of the transaction would run outside one.
    auto refused = error_from([&] { db.connection.reconnect(); });
    REQUIRE(refused.has_value());
    CHECK(refused->fault() == Fault::unavailable);
    CHECK_FALSE(db.connection.healthy());
    CHECK_THROWS_AS(transaction.commit(), pw::db::Error);
  }
  // Once the transaction is over, the next one opens a new session.
  {
    Transaction transaction(db.connection);
    db.connection.exec("INSERT INTO kept VALUES (3)");
    transaction.commit();
  }
  CHECK(db.connection.backend_pid() != pid);
  CHECK(other.query("SELECT string_agg(n::text, ',') FROM kept").text(0, 0) == "3");
}
