// The storage seam on both drivers: a bounded pool of sessions whose write
// transactions span the store and the job table, and, on PostgreSQL, what a
// server that goes away or fills up does to it.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "db/error.hpp"
#include "db/wal_care.hpp"
#include "jobs/contract.hpp"
#include "queue/clock.hpp"
#include "storage/drivers.hpp"
#include "store/sqlite/store.hpp"
#include "support/db_errors.hpp"
#include "support/postgres_server.hpp"
#include "support/test_database.hpp"

using pw::db::Fault;
using pw::storage::Session;
using pw::storage::Storage;
using pw::test::PostgresServer;
using pw::test::error_from;
using namespace std::chrono_literals;

namespace {

struct SqliteStorage {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config = [this] {
    pw::config::DatabaseConfig c;
    c.path = dir.file("pw.db");
    c.busy_timeout_ms = 200;  // also how long a lease waits for a session
    return c;
  }();
  pw::queue::ManualClock clock;
  std::unique_ptr<Storage> storage;

  explicit SqliteStorage(std::size_t sessions = 2) {
    pw::db::Connection connection(config);
    pw::migrations::Migrator(connection, pw::migrations::embedded()).apply_pending();
    storage = pw::storage::open_storage(config, sessions, {clock, {}, {}});
  }
};

struct PostgresStorage {
  pw::config::DatabaseConfig config = [] {
    pw::config::DatabaseConfig c;
    c.url = PostgresServer::shared().create_database();
    return c;
  }();
  pw::queue::ManualClock clock;
  std::unique_ptr<Storage> storage;

  explicit PostgresStorage(std::size_t sessions = 2) {
    pw::db::postgres::Connection connection({config.url});
    pw::migrations::PostgresMigrator(connection, pw::migrations::embedded(pw::migrations::Dialect::postgres))
        .apply_pending();
    storage = pw::storage::open_storage(config, sessions, {clock, {}, {}});
  }
};

}  // namespace

TYPE_TO_STRING_AS("SQLite", SqliteStorage);
TYPE_TO_STRING_AS("PostgreSQL", PostgresStorage);

TEST_CASE_TEMPLATE("Storage: a write spans the store and the job table: all of it commits, or none", F, SqliteStorage,
                   PostgresStorage) {
  F f;
  auto session = f.storage->acquire();
  auto user = session->store().create_user("alice", "hash", 1);
  CHECK_THROWS_AS(session->write([&] {
    session->store().create_world(user.id, {"Eden", "", 1}, 1);
    session->jobs().enqueue_in_transaction(pw::jobs::new_job(pw::jobs::PurgeWorldArgs{1}));
    throw std::runtime_error("the request failed after both writes");
  }),
                  std::runtime_error);
  CHECK(session->store().count_worlds(user.id) == 0);
  CHECK(session->jobs().list({}).empty());

  session->write([&] {
    session->store().create_world(user.id, {"Eden", "", 1}, 1);
    session->jobs().enqueue_in_transaction(pw::jobs::new_job(pw::jobs::PurgeWorldArgs{1}));
  });
  CHECK(session->store().count_worlds(user.id) == 1);
  CHECK(session->jobs().list({}).size() == 1);
  CHECK(session->schema_status().up_to_date());
  CHECK_FALSE(session->write_problem());
}

TEST_CASE_TEMPLATE("Storage: never opens more sessions than its size, a waiter gets one back, past the wait busy", F,
                   SqliteStorage, PostgresStorage) {
  F f(2);
  auto first = f.storage->acquire();
  std::optional<Storage::Lease> second(f.storage->acquire());
  auto full = error_from([&] { (void)f.storage->acquire(); });
  CHECK(full->fault() == Fault::busy);
  CHECK(std::string(full->reason()) == "overloaded");

  Session* handed_back = &**second;
  std::thread returner([&] {
    std::this_thread::sleep_for(50ms);
    second.reset();
  });
  auto third = f.storage->acquire();
  returner.join();
  CHECK(&*third == handed_back);  // the same session, not a new one
}

TEST_CASE("Storage on PostgreSQL: a session the server ended is dropped, the next lease is a new one") {
  PostgresStorage f(2);
  int victim = 0;
  {
    auto lease = f.storage->acquire();
    CHECK_FALSE(lease->store().find_user(1));
    // The probe's own session is told apart by pg_backend_pid().
    victim = pw::test::DatabaseProbe(f.config).scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND application_name = 'personaworlds'");
  }
  REQUIRE(victim != 0);
  pw::test::DatabaseProbe(f.config).scalar("SELECT count(*) FROM (SELECT pg_terminate_backend(?)) t",
                                           {std::to_string(victim)});
  {
    auto lease = f.storage->acquire();
    auto lost = error_from([&] { lease->store().find_user(1); });
    CHECK(lost->fault() == Fault::unavailable);
    CHECK_FALSE(lease->reusable());
  }
  auto fresh = f.storage->acquire();
  CHECK_FALSE(fresh->store().find_user(1));
}

TEST_CASE("Storage on PostgreSQL: while the server is down leases fail at once, and it serves again by itself") {
  auto server = PostgresServer::start_private();
  pw::config::DatabaseConfig config;
  config.url = server->url();
  pw::queue::ManualClock clock;
  auto storage = pw::storage::open_storage(config, 2, {clock, {}, {}});
  storage->with_session([](Session& session) { (void)session.schema_status(); });
  server->stop();
  auto lost = error_from([&] { storage->with_session([](Session& session) { (void)session.schema_status(); }); });
  CHECK(lost->fault() == Fault::unavailable);
  // No session is open now: the next lease tries the server and fails; the
  // ones after it hear that failure at once instead of each trying again.
  auto refused = error_from([&] { (void)storage->acquire(); });
  CHECK(refused->fault() == Fault::unavailable);
  CHECK(std::string(refused->reason()) == "connection");
  CHECK(error_from([&] { (void)storage->acquire(); })->fault() == Fault::unavailable);
  server->start();
  // Back within the longest pause between attempts (4 s), give or take.
  bool served = false;
  for (auto deadline = std::chrono::steady_clock::now() + 15s; !served && std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(50ms)) {
    try {
      storage->with_session([](Session& session) { (void)session.schema_status(); });
      served = true;
    } catch (const pw::db::Error& e) {
      CHECK(e.fault() == Fault::unavailable);
    }
  }
  CHECK(served);
}

TEST_CASE_TEMPLATE("Storage: every session reports its statements for db_query_duration_seconds", F, SqliteStorage,
                   PostgresStorage) {
  F f;
  int timed = 0;
  auto storage = pw::storage::open_storage(f.config, 1, {f.clock, {}, {[&](double) { ++timed; }, {}}});
  storage->with_session([](Session& session) { (void)session.store().find_user(1); });
  CHECK(timed >= 1);
}

TEST_CASE("Storage on SQLite: a session reports each write it held the lock for, and reads not at all") {
  SqliteStorage f;
  int held = 0;
  pw::storage::Observers observers;
  observers.held = [&](auto, auto) { ++held; };
  auto storage = pw::storage::open_storage(f.config, 1, {f.clock, {}, observers});
  auto session = storage->acquire();
  pw::store::User user;
  session->write([&] { user = session->store().create_user("alice", "hash", 1); });  // two statements, one hold
  CHECK(held == 1);
  (void)session->store().find_user(user.id);
  CHECK(held == 1);
  CHECK_THROWS_AS(session->write([&] {
    session->store().create_world(user.id, {"Eden", "", 1}, 1);
    throw std::runtime_error("rolled back");
  }),
                  std::runtime_error);
  CHECK(held == 2);
  (void)session->store().create_user("bob", "hash2", 1);  // no transaction: each statement holds the lock
  CHECK(held == 4);
}

TEST_CASE("Storage on SQLite: sessions left idle on a file that was then replaced serve the file now at the path") {
  SqliteStorage f(2);
  {
    // Both sessions open on the original file, then go idle.
    auto first = f.storage->acquire();
    auto second = f.storage->acquire();
    first->store().create_user("original", "hash-1", 1);
    CHECK(second->store().find_user("original").has_value());
  }
  // The original is moved away and another database restored in its place
  // while the sessions are idle: nobody asked whether they are reusable.
  std::filesystem::rename(f.config.path, f.dir.file("moved.db"));
  std::filesystem::remove(f.config.path + "-wal");
  std::filesystem::remove(f.config.path + "-shm");
  CHECK(error_from([&] { (void)f.storage->acquire(); })->fault() == Fault::unavailable);
  {
    pw::db::Connection connection(f.config);
    pw::migrations::Migrator(connection, pw::migrations::embedded()).apply_pending();
    pw::store::SqliteStore(connection).create_user("restored", "hash-2", 2);
  }
  for (int i = 0; i < 3; ++i) {
    auto session = f.storage->acquire();
    CHECK(session->store().find_user("restored").has_value());
    CHECK_FALSE(session->store().find_user("original").has_value());
  }
  // Writes land in the file at the path too, through the group commit's
  // writer as through a session's own transaction.
  {
    auto session = f.storage->acquire();
    f.storage->write(*session, [&](Session& writer) { writer.store().create_user("after", "hash-3", 3); });
    session->write([&] { session->store().create_user("after-2", "hash-4", 4); });
  }
  pw::db::Connection reader(f.config);
  CHECK(pw::store::SqliteStore(reader).find_user("after").has_value());
  CHECK(pw::store::SqliteStore(reader).find_user("after-2").has_value());
}

namespace {

// The WAL's length in frames now (a PASSIVE checkpoint reports it).
int wal_frames(const pw::config::DatabaseConfig& config) {
  pw::db::Connection probe(config);
  return probe.try_checkpoint(pw::db::Connection::Checkpoint::passive).wal_frames;
}

}  // namespace

TEST_CASE("Storage on SQLite: with its upkeep started, a thread of its own keeps the WAL bounded under writes") {
  SqliteStorage f(2);
  f.storage->start_upkeep([](const std::exception& e, int) { FAIL("upkeep failed: ", e.what()); });
  auto session = f.storage->acquire();
  const auto user = session->store().create_user("writer", "hash", 1);
  // 24 MiB in 100 KB worlds, one commit each: past the WAL's 16 MiB bound.
  const std::string description(100 * 1000, 'x');
  for (int i = 0; i < 240; ++i) {
    f.storage->write(*session, [&](Session& writer) {
      writer.store().create_world(user.id, {"World " + std::to_string(i), description, 1}, 2);
    });
  }
  const int bound = static_cast<int>(pw::db::WalCare::kResetAboveBytes / pw::db::kPageSize);
  // The writes go on while the WAL starts over, one small commit a round.
  int frames = wal_frames(f.config);
  for (int round = 0; round < 100 && frames >= bound; ++round) {
    std::this_thread::sleep_for(pw::db::WalCare::kPeriod);
    session->store().create_user("after-" + std::to_string(round), "hash-" + std::to_string(round), 3);
    frames = wal_frames(f.config);
  }
  CHECK(frames < bound);
  CHECK(session->store().count_worlds(user.id) == 240);
}

TEST_CASE("Storage on SQLite: a failing upkeep round is reported, counted and retried, and upkeep resumes after") {
  SqliteStorage f(1);
  std::mutex mutex;
  std::vector<int> reported;
  f.storage->start_upkeep([&](const std::exception&, int consecutive) {
    std::lock_guard lock(mutex);
    reported.push_back(consecutive);
  });
  auto failures = [&] {
    std::lock_guard lock(mutex);
    return reported;
  };
  const auto moved = f.dir.file("moved.db");
  // No session is open, so there is no WAL file to carry along.
  std::filesystem::rename(f.config.path, moved);
  std::filesystem::remove(f.config.path + "-shm");
  for (int i = 0; i < 100 && failures().size() < 2; ++i) std::this_thread::sleep_for(50ms);
  const auto seen = failures();
  REQUIRE(seen.size() >= 2);
  CHECK(seen[0] == 1);
  CHECK(seen[1] == 2);
  CHECK_FALSE(std::filesystem::exists(f.config.path));  // not brought back as an empty file

  std::filesystem::rename(moved, f.config.path);
  // Back-off is at most 5 s; give it a round past that, then no new failure.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const auto settled = failures().size();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  CHECK(failures().size() == settled);
  auto session = f.storage->acquire();
  CHECK(session->schema_status().up_to_date());
}
