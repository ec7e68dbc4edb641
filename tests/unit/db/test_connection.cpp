#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include <SQLiteCpp/Database.h>

#include "db/connection.hpp"
#include "db/statement.hpp"
#include "support/temp_dir.hpp"

using pw::db::Connection;
using pw::db::WriteTransaction;

namespace {
std::string pragma(Connection& c, const char* name) {
  pw::db::Statement q(c, std::string("PRAGMA ") + name);
  REQUIRE(q.step());
  return q.text(0);
}
}  // namespace

TEST_CASE("db: connections open with WAL, foreign keys and the chosen synchronous level") {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  config.path = dir.file("c.db");
  Connection normal(config);
  CHECK(pragma(normal, "journal_mode") == "wal");
  CHECK(pragma(normal, "foreign_keys") == "1");
  CHECK(pragma(normal, "synchronous") == "1");  // NORMAL
  config.synchronous = "full";
  Connection full(config);
  CHECK(pragma(full, "synchronous") == "2");
}

TEST_CASE("db: a new file gets small pages, and a file made with other pages keeps them and works") {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  config.path = dir.file("new.db");
  {
    Connection fresh(config);
    fresh.exec("CREATE TABLE t (x)");
    CHECK(pragma(fresh, "page_size") == std::to_string(pw::db::kPageSize));
  }
  CHECK(std::filesystem::file_size(config.path) % pw::db::kPageSize == 0);

  // As a release before this default made it: 4096-byte pages, WAL on.
  config.path = dir.file("old.db");
  {
    SQLite::Database made(config.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    made.exec("PRAGMA page_size=4096");
    made.exec("PRAGMA journal_mode=WAL");
    made.exec("CREATE TABLE t (x)");
  }
  Connection reopened(config);
  CHECK(pragma(reopened, "page_size") == "4096");
  reopened.exec("INSERT INTO t VALUES (1)");
  pw::db::Statement count(reopened, "SELECT count(*) FROM t");
  REQUIRE(count.step());
  CHECK(count.int64(0) == 1);
}

TEST_CASE("db: a read-only connection reads, writes nothing and creates no file, and tells each value's type") {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  config.path = dir.file("r.db");
  config.read_only = true;
  config.create_if_missing = false;
  CHECK_THROWS_AS(Connection{config}, pw::db::Error);
  CHECK_FALSE(std::filesystem::exists(config.path));
  {
    pw::config::DatabaseConfig writable = config;
    writable.read_only = false;
    writable.create_if_missing = true;
    Connection writer(writable);
    writer.exec("CREATE TABLE t (v); INSERT INTO t VALUES (1), ('one'), (NULL), (1.5)");
  }
  Connection reader(config);
  CHECK_THROWS_AS(reader.exec("INSERT INTO t VALUES (2)"), pw::db::Error);
  pw::db::Statement select(reader, "SELECT v FROM t ORDER BY rowid");
  std::vector<pw::db::Statement::Type> types;
  while (select.step()) types.push_back(select.type(0));
  CHECK(types == std::vector<pw::db::Statement::Type>{pw::db::Statement::Type::integer, pw::db::Statement::Type::text,
                                                      pw::db::Statement::Type::null, pw::db::Statement::Type::real});
}

TEST_CASE("db: a write transaction rolls back unless committed") {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  config.path = dir.file("t.db");
  Connection c(config);
  c.exec("CREATE TABLE t (v INTEGER)");
  {
    WriteTransaction tx(c);
    c.exec("INSERT INTO t VALUES (1)");
  }
  {
    WriteTransaction tx(c);
    c.exec("INSERT INTO t VALUES (2)");
    tx.commit();
  }
  pw::db::Statement q(c, "SELECT group_concat(v) FROM t");
  REQUIRE(q.step());
  CHECK(q.text(0) == "2");
}

TEST_CASE("db: a second writer waits for the first instead of failing with BUSY") {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  config.path = dir.file("w.db");
  Connection first(config);
  first.exec("CREATE TABLE t (v INTEGER)");
  std::atomic<bool> second_done{false};
  std::optional<WriteTransaction> held(std::in_place, first);
  std::thread second([&] {
    Connection c(config);
    WriteTransaction tx(c);  // blocks until `first` commits
    c.exec("INSERT INTO t VALUES (2)");
    tx.commit();
    second_done = true;
  });
  first.exec("INSERT INTO t VALUES (1)");
  held->commit();
  held.reset();
  second.join();
  CHECK(second_done);
  pw::db::Statement q(first, "SELECT count(*) FROM t");
  REQUIRE(q.step());
  CHECK(q.int32(0) == 2);
}

TEST_CASE("db: a write transaction reports its wait for the write lock, and a busy time-out") {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  config.path = dir.file("l.db");
  config.busy_timeout_ms = 100;
  Connection holder(config);
  holder.exec("CREATE TABLE t (v INTEGER)");
  std::vector<std::pair<double, bool>> waits;
  Connection waiter(config, {}, [&](double seconds, bool acquired) { waits.emplace_back(seconds, acquired); });
  {
    WriteTransaction held(holder);
    CHECK_THROWS_AS(WriteTransaction{waiter}, pw::db::Error);
    REQUIRE(waits.size() == 1);
    CHECK(waits[0].first >= 0.09);  // it waited out the busy timeout...
    CHECK_FALSE(waits[0].second);   // ...and did not get the lock
    held.commit();
  }
  {
    WriteTransaction free(waiter);
    free.commit();
  }
  REQUIRE(waits.size() == 2);
  CHECK(waits[1].first < 0.09);
  CHECK(waits[1].second);
}

TEST_CASE("db: the pool hands a connection to one holder at a time and reuses it") {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  config.path = dir.file("p.db");
  pw::db::ConnectionPool pool(config, 1);
  Connection* first = nullptr;
  {
    auto lease = pool.acquire();
    first = &*lease;
  }
  auto again = pool.acquire();
  CHECK(&*again == first);
}

TEST_CASE("db: data_version moves when another connection commits") {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  config.path = dir.file("v.db");
  Connection watcher(config);
  Connection writer(config);
  writer.exec("CREATE TABLE t (v INTEGER)");
  auto before = watcher.data_version();
  CHECK(watcher.data_version() == before);
  writer.exec("INSERT INTO t VALUES (1)");
  CHECK(watcher.data_version() != before);
}

TEST_CASE("db: a writer gives up with BUSY only after the busy timeout") {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  config.path = dir.file("b.db");
  config.busy_timeout_ms = 200;
  Connection holder(config);
  holder.exec("CREATE TABLE t (v INTEGER)");
  WriteTransaction held(holder);
  Connection waiter(config);
  auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(WriteTransaction{waiter}, pw::db::Error);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(200));
}

TEST_CASE("db: the pool reopens when the file at the path was replaced, and never creates one") {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  config.path = dir.file("r.db");
  {
    Connection creator(config);
    creator.exec("CREATE TABLE original (v INTEGER)");
  }
  pw::config::DatabaseConfig existing = config;
  existing.create_if_missing = false;
  pw::db::ConnectionPool pool(existing, 2);
  {
    auto lease = pool.acquire();
    CHECK(lease->refers_to_current_file());
    CHECK(lease->table_exists("original"));
  }
  std::filesystem::rename(config.path, dir.file("moved.db"));
  std::filesystem::remove(config.path + "-wal");
  std::filesystem::remove(config.path + "-shm");
  CHECK_THROWS_AS(pool.acquire(), pw::db::Error);  // gone, and not created again
  CHECK_FALSE(std::filesystem::exists(config.path));
  {
    Connection replacement(config);
    replacement.exec("CREATE TABLE replacement (v INTEGER)");
  }
  auto lease = pool.acquire();
  CHECK(lease->table_exists("replacement"));
  CHECK_FALSE(lease->table_exists("original"));
}

TEST_CASE("db: a connection reports each stretch it waited for or held the write lock, and checkpoints that hold writers off") {
  using Clock = std::chrono::steady_clock;
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  config.path = dir.file("h.db");
  config.busy_timeout_ms = 100;
  Connection holder(config);
  holder.set_autocheckpoint(0);
  holder.exec("CREATE TABLE t (v INTEGER)");
  std::vector<std::pair<Clock::time_point, Clock::time_point>> held;
  Connection observed(config);
  observed.observe_holds([&](Clock::time_point from, Clock::time_point to) { held.emplace_back(from, to); });
  auto length = [&](std::size_t i) { return std::chrono::duration<double>(held.at(i).second - held.at(i).first).count(); };

  auto before = Clock::now();
  {
    WriteTransaction committed(observed);
    observed.exec("INSERT INTO t VALUES (1)");
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    committed.commit();
  }
  REQUIRE(held.size() == 1);
  CHECK(held[0].first >= before);
  CHECK(length(0) >= 0.03);
  {
    WriteTransaction rolled_back(observed);
    observed.exec("INSERT INTO t VALUES (2)");
  }
  CHECK(held.size() == 2);
  {
    WriteTransaction other(holder);
    CHECK_THROWS_AS(WriteTransaction{observed}, pw::db::Error);  // waited out the busy timeout
    REQUIRE(held.size() == 3);
    CHECK(length(2) >= 0.09);
    other.commit();
  }
  // Reads hold nothing; PASSIVE lets writers go on; RESTART and TRUNCATE hold them off.
  pw::db::Statement read(observed, "SELECT count(*) FROM t");
  REQUIRE(read.step());
  read.reset();
  observed.try_checkpoint(Connection::Checkpoint::passive);
  observed.checkpoint(Connection::Checkpoint::passive);
  CHECK(held.size() == 3);
  observed.try_checkpoint(Connection::Checkpoint::restart);
  CHECK(held.size() == 4);
  observed.checkpoint(Connection::Checkpoint::truncate);
  CHECK(held.size() == 5);
  // A write outside a transaction holds the lock for its own length.
  pw::db::Statement insert(observed, "INSERT INTO t VALUES (3)");
  insert.exec();
  CHECK(held.size() == 6);
  // Connections that were not asked report nothing.
  {
    WriteTransaction unobserved(holder);
    unobserved.commit();
  }
  CHECK(held.size() == 6);
}

TEST_CASE("db: a passive checkpoint reports the WAL's size and a truncating one empties it") {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  config.path = dir.file("w.db");
  Connection c(config);
  c.set_autocheckpoint(0);
  c.exec("CREATE TABLE t (v TEXT)");
  for (int i = 0; i < 50; ++i) c.exec("INSERT INTO t VALUES (printf('%.2000c', 'x'))");
  const auto wal = std::filesystem::path(config.path + "-wal");
  REQUIRE(std::filesystem::file_size(wal) > 0);

  const int frames = c.checkpoint();
  CHECK(frames >= 50);                                      // every commit wrote at least a page
  CHECK(std::filesystem::file_size(wal) > 0);               // passive copies, never shrinks the file
  CHECK(c.checkpoint(Connection::Checkpoint::truncate) >= 0);
  CHECK(std::filesystem::file_size(wal) == 0);
  CHECK(pragma(c, "integrity_check") == "ok");
}

namespace {
pw::config::DatabaseConfig config_in(pw::test::TempDir& dir, const char* name) {
  pw::config::DatabaseConfig config;
  config.path = dir.file(name);
  return config;
}
}  // namespace

TEST_CASE("db: a reused statement starts unbound and from the first row") {
  pw::test::TempDir dir;
  Connection c(config_in(dir, "reuse.db"));
  c.exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1), (2), (3)");
  const char* sql = "SELECT v FROM t WHERE ?1 IS NULL OR v = ?1 ORDER BY v";
  {
    pw::db::Statement q(c, sql);
    q.bind(1, std::int64_t{2});
    REQUIRE(q.step());
    CHECK(q.int64(0) == 2);
  }  // ended with a row unread and a value bound
  pw::db::Statement again(c, sql);
  REQUIRE(again.step());
  CHECK(again.int64(0) == 1);  // NULL: the old binding is gone, the scan starts over
  REQUIRE(again.step());
  CHECK(again.int64(0) == 2);
}

TEST_CASE("db: two statements with the same text can be in use at once") {
  pw::test::TempDir dir;
  Connection c(config_in(dir, "twice.db"));
  c.exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1), (2)");
  const char* sql = "SELECT v FROM t ORDER BY v";
  pw::db::Statement outer(c, sql);
  REQUIRE(outer.step());
  pw::db::Statement inner(c, sql);
  REQUIRE(inner.step());
  CHECK(inner.int64(0) == 1);
  REQUIRE(outer.step());
  CHECK(outer.int64(0) == 2);  // the inner one did not disturb it
}

TEST_CASE("db: a statement left mid-read holds no snapshot once it ends, so the WAL can be emptied") {
  pw::test::TempDir dir;
  auto config = config_in(dir, "snapshot.db");
  Connection reader(config);
  Connection writer(config);
  writer.exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1), (2)");
  {
    pw::db::Statement q(reader, "SELECT v FROM t");
    REQUIRE(q.step());
  }
  writer.exec("INSERT INTO t VALUES (3)");
  const auto result = writer.try_checkpoint(Connection::Checkpoint::truncate);
  CHECK_FALSE(result.busy);
  pw::db::Statement count(reader, "SELECT count(*) FROM t");
  REQUIRE(count.step());
  CHECK(count.int64(0) == 3);  // the reused reader sees the newest data
}

TEST_CASE("db: kept statements follow schema changes and stay bounded with many distinct texts") {
  pw::test::TempDir dir;
  Connection c(config_in(dir, "schema.db"));
  c.exec("CREATE TABLE t (a INTEGER)");
  const char* insert = "INSERT INTO t (a) VALUES (?)";
  pw::db::Statement(c, insert).bind(1, 1).exec();
  c.exec("ALTER TABLE t ADD COLUMN b INTEGER DEFAULT 7");
  pw::db::Statement(c, insert).bind(1, 2).exec();
  {
    pw::db::Statement q(c, "SELECT sum(a), sum(b) FROM t");
    REQUIRE(q.step());
    CHECK(q.int64(0) == 3);
    CHECK(q.int64(1) == 14);
  }
  // Far more texts than the cache keeps: every one still runs correctly.
  for (int i = 0; i < 1000; ++i) {
    pw::db::Statement q(c, "SELECT " + std::to_string(i) + " + a FROM t WHERE a = 1");
    REQUIRE(q.step());
    CHECK(q.int64(0) == i + 1);
  }
  // A text with more after its first statement is run, not kept under the wrong key.
  pw::db::Statement tail(c, "SELECT 5; SELECT 6");
  REQUIRE(tail.step());
  CHECK(tail.int64(0) == 5);
}
