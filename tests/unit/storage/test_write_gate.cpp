// The write gate: one writer of a process at a time, in arrival order, and
// SQLite storage whose writers queue at it instead of polling the lock.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>

#include "db/connection.hpp"
#include "db/error.hpp"
#include "migrations/migration.hpp"
#include "migrations/migrator.hpp"
#include "queue/clock.hpp"
#include "storage/drivers.hpp"
#include "storage/write_gate.hpp"
#include "support/db_errors.hpp"
#include "support/temp_dir.hpp"

using pw::storage::WriteGate;
using namespace std::chrono_literals;

namespace {

auto far_off() { return std::chrono::steady_clock::now() + 60s; }

// Spins (politely) until `done` holds; the tests' threads get there at once.
template <class Done>
void wait_for(Done done) {
  while (!done()) std::this_thread::sleep_for(100us);
}

}  // namespace

TEST_CASE("WriteGate: threads go through one at a time, in the order they came") {
  WriteGate gate;
  REQUIRE(gate.enter(far_off()));
  std::mutex order_mutex;
  std::vector<int> order;
  std::atomic<int> inside{0};
  std::atomic<int> most_inside{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    const auto before = gate.queued();
    threads.emplace_back([&, i] {
      REQUIRE(gate.enter(far_off()));
      const int now = ++inside;
      int seen = most_inside.load();
      while (now > seen && !most_inside.compare_exchange_weak(seen, now)) {
      }
      {
        std::lock_guard lock(order_mutex);
        order.push_back(i);
      }
      std::this_thread::sleep_for(1ms);
      --inside;
      gate.leave();
    });
    // The next thread starts only once this one waits in the queue.
    wait_for([&] { return gate.queued() == before + 1; });
  }
  CHECK(gate.queued() == 7);
  gate.leave();
  for (auto& thread : threads) thread.join();
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5});
  CHECK(most_inside.load() == 1);
  CHECK(gate.queued() == 0);
}

TEST_CASE("WriteGate: a waiter past its deadline gives up and keeps no place in the queue") {
  WriteGate gate;
  REQUIRE(gate.enter(far_off()));
  std::atomic<bool> behind_entered{false};
  std::thread behind([&] {
    REQUIRE(gate.enter(far_off()));
    behind_entered = true;
    gate.leave();
  });
  wait_for([&] { return gate.queued() == 2; });
  CHECK_FALSE(gate.enter(std::chrono::steady_clock::now() + 20ms));
  CHECK(gate.queued() == 2);
  CHECK_FALSE(behind_entered.load());
  gate.leave();
  behind.join();
  CHECK(behind_entered.load());
  CHECK(gate.queued() == 0);
  CHECK(gate.enter(std::chrono::steady_clock::now()));  // free: no wait at all
  gate.leave();
}

namespace {

struct GatedStorage {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config = [this] {
    pw::config::DatabaseConfig c;
    c.path = dir.file("pw.db");
    c.busy_timeout_ms = 5000;
    return c;
  }();
  pw::queue::ManualClock clock;
  std::mutex waits_mutex;
  std::vector<bool> waits;  // each write's lock wait: acquired or not
  std::unique_ptr<pw::storage::Storage> storage;

  explicit GatedStorage(std::size_t sessions) {
    pw::db::Connection connection(config);
    pw::migrations::Migrator(connection, pw::migrations::embedded()).apply_pending();
    pw::storage::Observers observers;
    observers.lock = [this](double, bool acquired) {
      std::lock_guard lock(waits_mutex);
      waits.push_back(acquired);
    };
    storage = pw::storage::open_sqlite_storage(config, sessions, {clock, {}, observers});
  }
};

}  // namespace

TEST_CASE("Storage on SQLite: writers of one process take turns at the gate and none is lost") {
  constexpr int kThreads = 8;
  constexpr int kWrites = 40;
  GatedStorage f(kThreads);
  const auto world = f.storage->with_session([](pw::storage::Session& session) {
    return session.write([&] {
      auto user = session.store().create_user("alice", "hash", 1);
      return session.store().create_world(user.id, {"Eden", "", 1}, 1);
    });
  });
  f.waits.clear();

  // Each write reads the world's counter and writes it back one higher
  // (next_generation): a lost or doubled turn shows as a missing or repeated
  // number.
  std::mutex numbers_mutex;
  std::vector<std::int64_t> numbers;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kWrites; ++i) {
        try {
          auto number = f.storage->with_session([&](pw::storage::Session& session) {
            return session.write([&] { return session.store().next_generation(world.id); });
          });
          std::lock_guard lock(numbers_mutex);
          numbers.push_back(number);
        } catch (...) {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  CHECK(failures.load() == 0);
  std::sort(numbers.begin(), numbers.end());
  std::vector<std::int64_t> expected(kThreads * kWrites);
  std::iota(expected.begin(), expected.end(), 1);
  CHECK(numbers == expected);
  // Every write reported one lock wait, and every one got the lock.
  CHECK(f.waits.size() == static_cast<std::size_t>(kThreads * kWrites));
  CHECK(std::all_of(f.waits.begin(), f.waits.end(), [](bool acquired) { return acquired; }));
}

TEST_CASE("Storage on SQLite: a writer that waits at the gate past the busy timeout gets busy, and the next one writes") {
  GatedStorage f(2);
  f.config.busy_timeout_ms = 100;
  f.storage = pw::storage::open_sqlite_storage(f.config, 2, {f.clock, {}, {}});
  auto holder = f.storage->acquire();
  auto scope = holder->begin_write();
  auto error = pw::test::error_from([&] {
    f.storage->with_session([](pw::storage::Session& session) { session.write([] {}); });
  });
  REQUIRE(error);
  CHECK(error->fault() == pw::db::Fault::busy);
  CHECK(pw::db::is_unavailable(*error));
  scope->commit();
  scope.reset();
  CHECK_NOTHROW(f.storage->with_session([](pw::storage::Session& session) { session.write([] {}); }));
}
