// Storage::write on SQLite: concurrent writes share transactions (group
// commit), each in a savepoint of its own.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "db/connection.hpp"
#include "db/error.hpp"
#include "migrations/migration.hpp"
#include "migrations/migrator.hpp"
#include "queue/clock.hpp"
#include "storage/drivers.hpp"
#include "storage/storage.hpp"
#include "support/db_errors.hpp"
#include "support/temp_dir.hpp"

using namespace std::chrono_literals;
using pw::storage::Session;

namespace {

// A migrated SQLite file, its storage, and a count of the write
// transactions begun (every BEGIN reports one lock wait).
struct GroupStorage {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  pw::queue::ManualClock clock;
  std::atomic<int> begins{0};
  std::atomic<int> gave_up{0};  // lock waits reported as timed out
  std::unique_ptr<pw::storage::Storage> storage;

  explicit GroupStorage(int busy_timeout_ms = 5000) {
    config.path = dir.file("pw.db");
    config.busy_timeout_ms = busy_timeout_ms;
    pw::db::Connection connection(config);
    pw::migrations::Migrator(connection, pw::migrations::embedded()).apply_pending();
    pw::storage::Observers observers;
    observers.lock = [this](double, bool acquired) {
      ++begins;
      if (!acquired) ++gave_up;
    };
    storage = pw::storage::open_sqlite_storage(config, 32, {clock, {}, observers});
  }

  // Holds the process's write gate and SQLite's write lock while it lives,
  // so writes queue up behind it.
  struct Hold {
    pw::storage::Storage::Lease session;
    std::unique_ptr<Session::WriteScope> scope;
    explicit Hold(pw::storage::Storage& storage) : session(storage.acquire()), scope(session->begin_write()) {}
  };

  bool user_exists(const std::string& handle) {
    return storage->with_session([&](Session& session) { return session.store().handle_exists(handle); });
  }
};

struct Refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Starts `count` threads, each running `body(i)`, while `hold` keeps the
// writer waiting; lets go once they have had ample time to queue.
template <class Body>
void queued_behind_a_holder(GroupStorage& f, int count, Body body) {
  std::vector<std::thread> threads;
  {
    GroupStorage::Hold hold(*f.storage);
    for (int i = 0; i < count; ++i) threads.emplace_back([&, i] { body(i); });
    std::this_thread::sleep_for(300ms);
    hold.scope->commit();
  }
  for (auto& thread : threads) thread.join();
}

}  // namespace

TEST_CASE("Storage::write on SQLite: writes queued together commit in one transaction, none lost or doubled") {
  GroupStorage f;
  const auto world = f.storage->with_session([](Session& session) {
    return session.write([&] {
      auto user = session.store().create_user("alice", "hash", 1);
      return session.store().create_world(user.id, {"Eden", "", 1}, 1);
    });
  });

  constexpr int kThreads = 8;
  constexpr int kWrites = 40;
  std::mutex numbers_mutex;
  std::vector<std::int64_t> numbers;
  std::atomic<int> failures{0};
  f.begins = 0;
  // Each write reads the world's counter and writes it back one higher: a
  // write lost from a batch, or run twice, shows as a missing or repeated
  // number.
  queued_behind_a_holder(f, kThreads, [&](int) {
    for (int i = 0; i < kWrites; ++i) {
      try {
        auto number = f.storage->with_session([&](Session& caller) {
          return f.storage->write(caller, [&](Session& writer) { return writer.store().next_generation(world.id); });
        });
        std::lock_guard lock(numbers_mutex);
        numbers.push_back(number);
      } catch (...) {
        ++failures;
      }
    }
  });

  CHECK(failures.load() == 0);
  std::sort(numbers.begin(), numbers.end());
  std::vector<std::int64_t> expected(kThreads * kWrites);
  std::iota(expected.begin(), expected.end(), 1);
  CHECK(numbers == expected);
  // The holder's BEGIN, then fewer transactions than writes: the writes
  // queued behind the holder went in together.
  CHECK(f.begins.load() > 1);
  CHECK(f.begins.load() < 1 + kThreads * kWrites);
}

TEST_CASE("Storage::write on SQLite: a write that throws rolls back its own writes only, and its caller hears why") {
  GroupStorage f;
  constexpr int kThreads = 8;
  std::vector<std::string> heard(kThreads);
  f.begins = 0;
  queued_behind_a_holder(f, kThreads, [&](int i) {
    try {
      f.storage->with_session([&](Session& caller) {
        f.storage->write(caller, [&](Session& writer) {
          writer.store().create_user("user" + std::to_string(i), "hash" + std::to_string(i), 1);
          if (i % 2 == 1) throw Refused("odd " + std::to_string(i));
        });
      });
      heard[i] = "committed";
    } catch (const Refused& e) {
      heard[i] = e.what();
    }
  });
  for (int i = 0; i < kThreads; ++i) {
    CAPTURE(i);
    if (i % 2 == 1) {
      CHECK(heard[i] == "odd " + std::to_string(i));
      CHECK_FALSE(f.user_exists("user" + std::to_string(i)));
    } else {
      CHECK(heard[i] == "committed");
      CHECK(f.user_exists("user" + std::to_string(i)));
    }
  }
  CHECK(f.begins.load() < 1 + kThreads);
}

TEST_CASE("Storage::write on SQLite: a write that breaks a constraint fails alone, in the middle of a batch") {
  GroupStorage f;
  f.storage->with_session([](Session& session) { session.write([&] { session.store().create_user("taken", "h", 1); }); });
  constexpr int kThreads = 6;
  std::vector<int> failed(kThreads, 0);
  queued_behind_a_holder(f, kThreads, [&](int i) {
    try {
      f.storage->with_session([&](Session& caller) {
        f.storage->write(caller, [&](Session& writer) {
          // Thread 3 reuses a handle that is taken: the database refuses it.
          writer.store().create_user(i == 3 ? "taken" : "user" + std::to_string(i), "hash" + std::to_string(i), 1);
        });
      });
    } catch (const pw::db::Error& e) {
      failed[i] = e.fault() == pw::db::Fault::constraint ? 1 : 2;
    }
  });
  for (int i = 0; i < kThreads; ++i) {
    CAPTURE(i);
    CHECK(failed[i] == (i == 3 ? 1 : 0));
    if (i != 3) CHECK(f.user_exists("user" + std::to_string(i)));
  }
}

TEST_CASE("Storage::write on SQLite: a write queued past the busy timeout is refused busy, and later writes go through") {
  GroupStorage f(150);
  std::optional<pw::db::Error> error;
  {
    GroupStorage::Hold hold(*f.storage);
    error = pw::test::error_from([&] {
      f.storage->with_session([&](Session& caller) {
        f.storage->write(caller, [&](Session& writer) { writer.store().create_user("late", "h", 1); });
      });
    });
    hold.scope->commit();
  }
  REQUIRE(error);
  CHECK(error->fault() == pw::db::Fault::busy);
  // Counted as a lock wait that timed out (db_busy_timeouts_total).
  CHECK(f.gave_up.load() >= 1);
  CHECK_FALSE(f.user_exists("late"));
  CHECK_NOTHROW(f.storage->with_session([&](Session& caller) {
    f.storage->write(caller, [&](Session& writer) { writer.store().create_user("after", "h", 1); });
  }));
  CHECK(f.user_exists("after"));
}

TEST_CASE("Storage::write on SQLite: a write still queued behind a long batch at the busy timeout is refused and counted") {
  GroupStorage f(150);
  std::thread slow([&] {
    f.storage->with_session([&](Session& caller) {
      f.storage->write(caller, [&](Session& writer) {
        writer.store().create_user("slow", "h", 1);
        std::this_thread::sleep_for(500ms);
      });
    });
  });
  // The slow write is under way (no lock wait: the gate and the lock were
  // free) before this one queues.
  std::this_thread::sleep_for(100ms);
  auto error = pw::test::error_from([&] {
    f.storage->with_session([&](Session& caller) {
      f.storage->write(caller, [&](Session& writer) { writer.store().create_user("queued", "h", 1); });
    });
  });
  slow.join();
  REQUIRE(error);
  CHECK(error->fault() == pw::db::Fault::busy);
  CHECK(f.gave_up.load() == 1);
  CHECK(f.user_exists("slow"));
  CHECK_FALSE(f.user_exists("queued"));
}
