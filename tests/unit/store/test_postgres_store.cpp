// What only the PostgreSQL store has to show: sessions writing to one world
// at once. SQLite's single writer orders them by itself; here row locks must,
// under READ COMMITTED. The rest of the contract runs on both drivers in
// test_store.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <numeric>
#include <thread>
#include <vector>

#include "unit/store/store_fixture.hpp"

using pw::db::postgres::Connection;
using pw::db::postgres::Params;
using pw::store::PostgresStore;
using pw::test::PostgresStoreFixture;

namespace {

// Waits until `session`'s current statement waits for a lock another
// transaction holds, or `finished` says it completed without waiting (it
// took no lock that conflicts: what these tests exist to catch). True when
// it waits.
template <class Result>
bool waits_for_lock(Connection& observer, Connection& session, const std::future<Result>& finished) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (finished.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready) return false;
    auto rows = observer.query("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                               Params().add(session.backend_pid()));
    if (!rows.empty() && !rows.is_null(0, 0) && rows.boolean(0, 0)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

pw::domain::NewPersona persona(std::string name) { return pw::domain::NewPersona{std::move(name), {}}; }

// The numbers 1..n, the only right outcome of n numbered requests.
std::vector<std::int64_t> one_to(std::int64_t n) {
  std::vector<std::int64_t> numbers(static_cast<std::size_t>(n));
  std::iota(numbers.begin(), numbers.end(), 1);
  return numbers;
}

// Runs `work(store)` on `threads` sessions of their own at once, each call in
// a transaction of its own, `rounds` times each: every result, in order. A
// session's failure is rethrown here once all have ended.
template <class Work>
std::vector<std::int64_t> at_once(PostgresStoreFixture& f, int threads, int rounds, Work work) {
  std::atomic<int> ready{0};
  std::vector<std::future<std::vector<std::int64_t>>> sessions;
  for (int t = 0; t < threads; ++t) {
    sessions.push_back(std::async(std::launch::async, [&] {
      ++ready;
      while (ready < threads) std::this_thread::yield();
      auto session = f.open();
      PostgresStore store(*session);
      std::vector<std::int64_t> results;
      for (int round = 0; round < rounds; ++round) {
        results.push_back(PostgresStoreFixture::in_transaction(*session, [&] { return work(store); }));
      }
      return results;
    }));
  }
  for (auto& session : sessions) session.wait();
  std::vector<std::int64_t> all;
  for (auto& session : sessions) {
    auto some = session.get();
    all.insert(all.end(), some.begin(), some.end());
  }
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace

TEST_CASE("PostgreSQL Store: a simulation created while another is uncommitted waits, then takes the next number") {
  PostgresStoreFixture f;
  auto user = f.store().create_user("alice", "a", 1);
  auto world = f.store().create_world(user.id, {"Eden", "", 42}, 1);

  auto first_session = f.open();
  PostgresStore first_store(*first_session);
  pw::db::postgres::Transaction first(*first_session);
  auto numbered_first = first_store.create_simulation({world.id, user.id, 5, std::nullopt, 10}, 1);

  auto second_session = f.open();
  auto second = std::async(std::launch::async, [&] {
    PostgresStore store(*second_session);
    return PostgresStoreFixture::in_transaction(
        *second_session, [&] { return store.create_simulation({world.id, user.id, 5, std::nullopt, 10}, 1); });
  });
  // Without a row lock the second would read the count as it was and take
  // number 1 too.
  const bool second_waited = waits_for_lock(f.connection, *second_session, second);
  first.commit();
  auto numbered_second = second.get();
  CHECK(second_waited);
  CHECK(numbered_first.number == 1);
  CHECK(numbered_second.number == 2);
  CHECK(f.store().find_world(world.id)->simulations == 2);
}

TEST_CASE("PostgreSQL Store: simulations created in one world on four sessions at once get the numbers 1..n") {
  PostgresStoreFixture f;
  auto user = f.store().create_user("alice", "a", 1);
  auto world = f.store().create_world(user.id, {"Eden", "", 42}, 1);
  auto numbers = at_once(f, 4, 25, [&](PostgresStore& store) {
    return store.create_simulation({world.id, user.id, 5, std::nullopt, 10}, 1).number;
  });
  CHECK(numbers == one_to(100));
  CHECK(f.store().find_world(world.id)->simulations == 100);
  auto page = f.store().list_simulations(world.id, 0, 200);
  CHECK(page.items.size() == 100);
}

TEST_CASE("PostgreSQL Store: generate requests counted on four sessions at once get the numbers 1..n") {
  PostgresStoreFixture f;
  auto user = f.store().create_user("alice", "a", 1);
  auto world = f.store().create_world(user.id, {"Eden", "", 42}, 1);
  auto numbers = at_once(f, 4, 25, [&](PostgresStore& store) {
    auto number = store.next_generation(world.id);
    store.record_generation(world.id, number, 1, number, 1);
    return number;
  });
  CHECK(numbers == one_to(100));
  CHECK(f.store().find_world(world.id)->generations == 100);
  CHECK(f.store().pending_generations(world.id).size() == 100);
}

TEST_CASE("PostgreSQL Store: a simulation waits for personas being added, so its bound covers exactly those that exist") {
  PostgresStoreFixture f;
  auto user = f.store().create_user("alice", "a", 1);
  auto world = f.store().create_world(user.id, {"Eden", "", 42}, 1);

  // A persona whose id is drawn first but commits last: a generate job's
  // batch, say, still open while a request adds one by hand.
  auto job_session = f.open();
  PostgresStore job_store(*job_session);
  pw::db::postgres::Transaction job(*job_session);
  auto early = job_store.add_persona(world.id, persona("Early"), pw::store::PersonaOrigin{}, 1);
  auto late = f.store().add_persona(world.id, persona("Late"), pw::store::PersonaOrigin{}, 1);
  REQUIRE(early.id < late.id);

  auto request_session = f.open();
  auto simulation = std::async(std::launch::async, [&] {
    PostgresStore store(*request_session);
    return PostgresStoreFixture::in_transaction(
        *request_session, [&] { return store.create_simulation({world.id, user.id, 5, std::nullopt, 10}, 1); });
  });
  // Without the wait its bound would be Late's id while Early, below it, is
  // not yet there: a run of the simulation before Early commits and one
  // after would cover different personas.
  const bool simulation_waited = waits_for_lock(f.connection, *request_session, simulation);
  job.commit();
  auto created = simulation.get();
  CHECK(simulation_waited);
  CHECK(created.persona_bound == late.id);
  auto covered = f.store().personas_up_to(world.id, created.persona_bound);
  REQUIRE(covered.size() == 2);
  CHECK(covered[0].id == early.id);

  // And while the simulation's transaction is open, a new persona waits for
  // it, so it never slips in under the bound either.
  pw::db::postgres::Transaction request(*request_session);
  PostgresStore request_store(*request_session);
  auto later = request_store.create_simulation({world.id, user.id, 5, std::nullopt, 10}, 1);
  auto added = std::async(std::launch::async, [&] {
    return job_store.add_persona(world.id, persona("After"), pw::store::PersonaOrigin{}, 1);
  });
  const bool persona_waited = waits_for_lock(f.connection, *job_session, added);
  request.commit();
  auto after = added.get();
  CHECK(persona_waited);
  CHECK(after.id > later.persona_bound);
  CHECK(f.store().personas_up_to(world.id, later.persona_bound).size() == 2);
}

TEST_CASE("PostgreSQL Store: a second run of a simulation's batch waits for the first and reads what it wrote") {
  PostgresStoreFixture f;
  auto user = f.store().create_user("alice", "a", 1);
  auto world = f.store().create_world(user.id, {"Eden", "", 42}, 1);
  f.store().add_persona(world.id, persona("Ada"), {}, 1);
  auto simulation = f.store().create_simulation({world.id, user.id, 5, std::nullopt, 10}, 1);
  const std::vector<pw::domain::Event> batch = {{1, "meet", {1}, "one"}, {2, "meet", {1}, "two"}};

  auto first_session = f.open();
  PostgresStore first_store(*first_session);
  pw::db::postgres::Transaction first(*first_session);
  auto seen_first = first_store.lock_simulation(simulation.id);
  REQUIRE(seen_first);
  first_store.append_events(*seen_first, batch);

  auto second_session = f.open();
  auto second = std::async(std::launch::async, [&] {
    PostgresStore store(*second_session);
    return PostgresStoreFixture::in_transaction(*second_session, [&] { return store.lock_simulation(simulation.id); });
  });
  // Without the lock the second run would read events_written 0 and append
  // the same batch again.
  const bool second_waited = waits_for_lock(f.connection, *second_session, second);
  first.commit();
  auto seen_second = second.get();
  CHECK(second_waited);
  REQUIRE(seen_second);
  CHECK(seen_first->events_written == 0);
  CHECK(seen_second->events_written == 2);
}

TEST_CASE("PostgreSQL Store: a second run of a generation waits for the first") {
  PostgresStoreFixture f;
  auto user = f.store().create_user("alice", "a", 1);
  auto world = f.store().create_world(user.id, {"Eden", "", 42}, 1);
  const auto number = f.store().next_generation(world.id);
  f.store().record_generation(world.id, number, 1, 1, 1);

  auto first_session = f.open();
  PostgresStore first_store(*first_session);
  pw::db::postgres::Transaction first(*first_session);
  first_store.lock_generation(world.id, number);
  first_store.add_persona(world.id, persona("Ada"), {pw::store::PersonaSource::generated, number, 1}, 1);

  auto second_session = f.open();
  auto second = std::async(std::launch::async, [&] {
    PostgresStore store(*second_session);
    return PostgresStoreFixture::in_transaction(*second_session, [&] {
      store.lock_generation(world.id, number);
      return store.count_generation(world.id, number);
    });
  });
  const bool second_waited = waits_for_lock(f.connection, *second_session, second);
  first.commit();
  CHECK(second_waited);
  CHECK(second.get() == 1);
}
