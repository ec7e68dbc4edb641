// Uniqueness windows (NewJob::unique): while a job of the same type and key
// is in the window (its states, its duration), an enqueue returns that job.
// Every case runs on both drivers; time is a ManualClock.
#include <doctest/doctest.h>

#include <latch>
#include <set>
#include <stdexcept>
#include <thread>

#include "unit/queue/queue_fixture.hpp"

using pw::queue::Completion;
using pw::queue::Failure;
using pw::queue::FailureKind;
using pw::queue::JobState;
using pw::queue::NewJob;
using pw::queue::Uniqueness;

namespace {

constexpr std::int64_t kLease = 30000;

NewJob unique_job(std::string key, std::optional<std::int64_t> for_ms, std::vector<JobState> states,
                  std::string type = "world.simulate") {
  NewJob job;
  job.type = std::move(type);
  job.payload = R"({"world_id":42})";
  job.unique = Uniqueness{std::move(key), for_ms, std::move(states)};
  return job;
}

template <class F>
std::size_t jobs_of_type(F& f, const std::string& type) {
  pw::queue::JobFilter filter;
  filter.type = type;
  filter.limit = 10000;
  return f.queue->list(filter).size();
}

}  // namespace

TEST_CASE_TEMPLATE("JobQueue unique: within the duration an enqueue returns the existing job, after it a new one is inserted", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto job = unique_job("world:42", 60000, {});
  auto first = f.queue->enqueue(job);
  CHECK(first.created);
  // Operators read the key back (find, list); a job without a window has none.
  CHECK(f.queue->find(first.id)->unique_key == "world:42");
  auto plain = unique_job("", std::nullopt, {}, "noop");
  plain.unique.reset();
  auto without = f.queue->enqueue(plain);
  CHECK_FALSE(f.queue->find(without.id)->unique_key);
  {
    pw::queue::JobFilter filter;
    filter.limit = 10;
    auto listed = f.queue->list(filter);
    REQUIRE(listed.size() == 2);
    CHECK_FALSE(listed[0].unique_key);  // newest first
    CHECK(listed[1].unique_key == "world:42");
  }
  REQUIRE(f.queue->cancel(without.id));
  f.clock.advance_ms(59999);
  auto again = f.queue->enqueue(job);
  CHECK_FALSE(again.created);
  CHECK(again.id == first.id);
  // With no states named, a finished job holds the window too.
  auto claimed = f.queue->claim("w1", 1, kLease);
  REQUIRE(claimed.jobs.size() == 1);
  REQUIRE(f.queue->complete("w1", Completion{pw::queue::token_of(claimed.jobs[0].job), "null"}));
  CHECK(f.queue->enqueue(job).id == first.id);
  // The window is [created, created + duration): at the duration, a new job.
  f.clock.advance_ms(1);
  auto later = f.queue->enqueue(job);
  CHECK(later.created);
  CHECK(later.id != first.id);
  CHECK(f.queue->enqueue(job).id == later.id);
  CHECK(jobs_of_type(f, "world.simulate") == 2);
}

TEST_CASE_TEMPLATE("JobQueue unique: queued and running jobs hold a state window, succeeded, dead and canceled ones do not", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto job = unique_job("world:42", std::nullopt, {JobState::queued, JobState::running});
  auto first = f.queue->enqueue(job);
  REQUIRE(first.created);
  // Queued: held, however long it waits (no duration).
  f.clock.advance_ms(365LL * 24 * 3600 * 1000);
  CHECK(f.queue->enqueue(job).id == first.id);
  CHECK_FALSE(f.queue->enqueue(job).created);
  // Running: held.
  auto claimed = f.queue->claim("w1", 1, kLease);
  REQUIRE(claimed.jobs.size() == 1);
  CHECK(claimed.jobs[0].job.id == first.id);
  CHECK(f.queue->enqueue(job).id == first.id);
  // Succeeded: free; the next enqueue inserts a job, which holds it again.
  REQUIRE(f.queue->complete("w1", Completion{pw::queue::token_of(claimed.jobs[0].job), "null"}));
  auto second = f.queue->enqueue(job);
  CHECK(second.created);
  CHECK(f.queue->enqueue(job).id == second.id);
  // Dead: free.
  claimed = f.queue->claim("w1", 1, kLease);
  REQUIRE(claimed.jobs.size() == 1);
  REQUIRE(f.queue->fail("w1", Failure{pw::queue::token_of(claimed.jobs[0].job), "boom", FailureKind::permanent}) ==
          pw::queue::FailureOutcome::dead);
  auto third = f.queue->enqueue(job);
  CHECK(third.created);
  // Canceled: free.
  REQUIRE(f.queue->cancel(third.id));
  auto fourth = f.queue->enqueue(job);
  CHECK(fourth.created);
  // A retried dead job is queued again and holds the window once more.
  REQUIRE(f.queue->cancel(fourth.id));
  REQUIRE(f.queue->retry(second.id));
  CHECK(f.queue->enqueue(job).id == second.id);
  CHECK(jobs_of_type(f, "world.simulate") == 4);
}

TEST_CASE_TEMPLATE("JobQueue unique: a duration and states together hold a job only while both hold", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto job = unique_job("report", 10000, {JobState::queued});
  auto first = f.queue->enqueue(job);
  CHECK(f.queue->enqueue(job).id == first.id);
  // Queued but past the duration: free.
  f.clock.advance_ms(10000);
  auto second = f.queue->enqueue(job);
  CHECK(second.created);
  // Within the duration but running (not among the states): free.
  auto claimed = f.queue->claim("w1", 5, kLease);
  REQUIRE(claimed.jobs.size() == 2);
  auto third = f.queue->enqueue(job);
  CHECK(third.created);
  CHECK(f.queue->enqueue(job).id == third.id);
}

TEST_CASE_TEMPLATE("JobQueue unique: keys are per job type, and jobs without a window never collide", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto simulate = unique_job("world:42", std::nullopt, {JobState::queued, JobState::running});
  auto generate = unique_job("world:42", std::nullopt, {JobState::queued, JobState::running}, "persona.generate");
  auto other_world = unique_job("world:43", std::nullopt, {JobState::queued, JobState::running});
  auto a = f.queue->enqueue(simulate);
  auto b = f.queue->enqueue(generate);
  auto c = f.queue->enqueue(other_world);
  CHECK(a.created);
  CHECK(b.created);
  CHECK(c.created);
  CHECK(std::set<std::int64_t>{a.id, b.id, c.id}.size() == 3);
  // A job without a window is inserted even while the key is held...
  NewJob plain = simulate;
  plain.unique.reset();
  auto p = f.queue->enqueue(plain);
  CHECK(p.created);
  // ...and it holds no window itself.
  REQUIRE(f.queue->cancel(a.id));
  auto d = f.queue->enqueue(simulate);
  CHECK(d.created);
  CHECK(d.id != p.id);
}

TEST_CASE_TEMPLATE("JobQueue unique: an idempotency key behaves as before, with or without a window", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto job = unique_job("world:42", 1000, {});
  job.idempotency_key = "order-1";
  auto first = f.queue->enqueue(job);
  CHECK(first.created);
  // Past the window the idempotency key still names its job, for as long as
  // the row lives.
  f.clock.advance_ms(5000);
  auto again = f.queue->enqueue(job);
  CHECK_FALSE(again.created);
  CHECK(again.id == first.id);
  // A new idempotency key inside a held window gets the window's job.
  auto held = f.queue->enqueue(unique_job("world:7", 1000, {}));
  NewJob keyed = unique_job("world:7", 1000, {});
  keyed.idempotency_key = "order-2";
  CHECK(f.queue->enqueue(keyed).id == held.id);
  // Without a window, idempotency keys alone: as before.
  NewJob plain;
  plain.type = "noop";
  plain.idempotency_key = "order-3";
  auto p = f.queue->enqueue(plain);
  CHECK(p.created);
  CHECK(f.queue->enqueue(plain).id == p.id);
  CHECK_FALSE(f.queue->enqueue(plain).created);
}

TEST_CASE_TEMPLATE("JobQueue unique: enqueue_many inserts one job for twins in a batch", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto job = unique_job("world:42", std::nullopt, {JobState::queued, JobState::running});
  NewJob plain;
  plain.type = "noop";
  auto results = f.queue->enqueue_many({job, plain, job});
  REQUIRE(results.size() == 3);
  CHECK(results[0].created);
  CHECK(results[1].created);
  CHECK_FALSE(results[2].created);
  CHECK(results[2].id == results[0].id);
  CHECK(jobs_of_type(f, "world.simulate") == 1);
}

TEST_CASE_TEMPLATE("JobQueue unique: an empty key or a duration that is not positive is refused", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  CHECK_THROWS_AS(f.queue->enqueue(unique_job("", std::nullopt, {JobState::queued})), std::invalid_argument);
  CHECK_THROWS_AS(f.queue->enqueue(unique_job("k", 0, {})), std::invalid_argument);
  CHECK_THROWS_AS(f.queue->enqueue(unique_job("k", -5, {})), std::invalid_argument);
  CHECK(jobs_of_type(f, "world.simulate") == 0);
}

TEST_CASE_TEMPLATE("JobQueue unique: 8 connections enqueueing one key 50 times each insert exactly one job, and one job per key when 50 keys are raced for in turn", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  constexpr int kThreads = 8;
  constexpr int kEach = 50;
  auto job = unique_job("world:42", 60000, {JobState::queued, JobState::running});
  std::vector<std::vector<pw::queue::EnqueueResult>> seen(kThreads);
  std::vector<std::vector<std::int64_t>> rounds(kThreads);
  std::vector<std::string> errors(kThreads);
  {
    std::vector<decltype(f.other())> sides;
    for (int t = 0; t < kThreads; ++t) sides.push_back(f.other());
    // All at once: the race is on the first insert (later enqueues find it).
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        try {
          for (int i = 0; i < kEach; ++i) seen[t].push_back(sides[t].queue->enqueue(job));
          // Then 50 keys in turn, each one raced for by every thread.
          for (int i = 0; i < kEach; ++i) {
            auto round = unique_job("round:" + std::to_string(i), 60000, {JobState::queued}, "persona.generate");
            rounds[t].push_back(sides[t].queue->enqueue(round).id);
          }
        } catch (const std::exception& e) {
          errors[t] = e.what();
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }
  for (const auto& error : errors) CHECK(error.empty());
  std::set<std::int64_t> ids;
  int created = 0;
  for (const auto& results : seen) {
    CHECK(results.size() == kEach);
    for (const auto& result : results) {
      ids.insert(result.id);
      created += result.created ? 1 : 0;
    }
  }
  CHECK(ids.size() == 1);
  CHECK(created == 1);
  CHECK(jobs_of_type(f, "world.simulate") == 1);
  CHECK(jobs_of_type(f, "persona.generate") == kEach);
  for (int i = 0; i < kEach; ++i) {
    std::set<std::int64_t> round_ids;
    for (const auto& ids_of_thread : rounds) {
      if (static_cast<int>(ids_of_thread.size()) == kEach) round_ids.insert(ids_of_thread[i]);
    }
    CHECK(round_ids.size() == 1);
  }
}

TEST_CASE("JobQueue unique: on PostgreSQL the window check is an index scan of jobs_unique, in custom and generic plans") {
  pw::test::PostgresQueueFixture f;
  // A table where a scan would cost: many recent jobs without a key (the
  // window's time range does not narrow them down), a few with one.
  f.connection.exec(
      "INSERT INTO jobs (type, payload, run_at, created_at, updated_at, state, finished_at)"
      " SELECT 'world.simulate', '{}', 1, 1699999990000, 1, 'succeeded', 1 FROM generate_series(1, 20000);"
      "INSERT INTO jobs (type, payload, run_at, created_at, updated_at, unique_key)"
      " SELECT 'world.simulate', '{}', 1, 1699999990000, 1, 'world:' || g FROM generate_series(1, 200) AS g;"
      "ANALYZE jobs");
  // The statement of queue/postgres_job_queue.cpp (window_holder), as the
  // server prepares it.
  const std::string holder =
      "SELECT id FROM (SELECT id FROM jobs WHERE unique_key = $2 AND type = $3 AND state = ANY($4::text[])"
      " AND created_at > COALESCE($1::bigint, pw_now_ms()) - $5::bigint OFFSET 0) AS held ORDER BY id DESC LIMIT 1";
  for (std::string mode : {"force_custom_plan", "force_generic_plan"}) {
    INFO(mode);
    f.connection.exec("SET plan_cache_mode = " + mode);
    f.connection.exec("PREPARE holder (bigint, text, text, text[], bigint) AS " + holder);
    auto plan = f.connection.query(
        "EXPLAIN EXECUTE holder (1700000000000, 'world:7', 'world.simulate', '{queued,running}', 60000)");
    std::string text;
    for (int row = 0; row < plan.size(); ++row) text += plan.text(row, 0) + "\n";
    INFO(text);
    CHECK(text.find("jobs_unique") != std::string::npos);
    CHECK(text.find("Seq Scan") == std::string::npos);
    CHECK(text.find("jobs_pkey") == std::string::npos);
    f.connection.exec("DEALLOCATE holder");
  }
}
