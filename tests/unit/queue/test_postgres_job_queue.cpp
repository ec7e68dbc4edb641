// What only the PostgreSQL job table has to show: its own table rules, the
// caller's transaction, claimers on many connections at once, and time taken
// from the server. The rest of the contract runs on both drivers in
// test_job_queue.cpp.
#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "unit/queue/queue_fixture.hpp"

using pw::queue::Completion;
using pw::queue::JobState;
using pw::queue::NewJob;
using pw::test::PostgresQueueFixture;

TEST_CASE("PostgreSQL JobQueue: the table refuses a state outside the five and a negative claim") {
  PostgresQueueFixture f;
  auto id = f.add();
  CHECK_THROWS_AS(f.connection.exec("UPDATE jobs SET state = 'done' WHERE id = " + std::to_string(id)),
                  pw::db::Error);
  CHECK_THROWS_AS(f.connection.exec("UPDATE jobs SET claim = -1 WHERE id = " + std::to_string(id)), pw::db::Error);
  CHECK(f.get(id).state == JobState::queued);
}

TEST_CASE("PostgreSQL JobQueue: enqueue_in_transaction commits or rolls back with the caller's writes") {
  PostgresQueueFixture f;
  NewJob job;
  job.type = "noop";
  {
    pw::db::postgres::Transaction transaction(f.connection);
    f.queue->enqueue_in_transaction(job);
  }
  CHECK(f.queue->list({}).empty());
  {
    pw::db::postgres::Transaction transaction(f.connection);
    f.queue->enqueue_in_transaction(job);
    transaction.commit();
  }
  CHECK(f.queue->list({}).size() == 1);
}

TEST_CASE("PostgreSQL JobQueue: four claimers on four connections take every job exactly once, side by side") {
  PostgresQueueFixture f;
  constexpr int kJobs = 2000;
  std::vector<NewJob> jobs(kJobs, NewJob{.type = "noop"});
  f.queue->enqueue_many(jobs);
  std::atomic<int> completed{0};
  std::vector<std::vector<std::int64_t>> taken(4);
  std::vector<std::thread> claimers;
  for (int w = 0; w < 4; ++w) {
    claimers.emplace_back([&, w] {
      auto side = f.other();
      std::string owner = "w" + std::to_string(w);
      for (;;) {
        auto claimed = side.queue->claim(owner, 25, 30000);
        if (claimed.jobs.empty()) break;
        std::vector<Completion> done;
        for (const auto& c : claimed.jobs) {
          taken[static_cast<std::size_t>(w)].push_back(c.job.id);
          done.push_back({pw::queue::token_of(c.job), "null"});
        }
        for (bool applied : side.queue->complete_many(owner, done)) completed += applied ? 1 : 0;
      }
    });
  }
  for (auto& claimer : claimers) claimer.join();
  std::set<std::int64_t> all;
  std::size_t total = 0;
  int busy_claimers = 0;
  for (const auto& ids : taken) {
    total += ids.size();
    all.insert(ids.begin(), ids.end());
    busy_claimers += ids.empty() ? 0 : 1;
  }
  CHECK(total == kJobs);
  CHECK(all.size() == kJobs);
  CHECK(completed == kJobs);
  CHECK(busy_claimers >= 2);
  CHECK(f.queue->counts()["noop"]["succeeded"] == kJobs);
}

TEST_CASE("PostgreSQL JobQueue: with the real clock, leases and due times come from the server's clock") {
  PostgresQueueFixture f;
  pw::queue::SystemClock real;
  pw::queue::PostgresJobQueue queue(f.connection, real, f.retry);
  // The host's time is never sent: a job is stamped with the server's now().
  auto id = queue.enqueue(NewJob{.type = "noop"}).id;
  auto server_now = f.connection.query("SELECT pw_now_ms()").int64(0, 0);
  auto job = *queue.find(id);
  CHECK(job.created_at_ms <= server_now);
  CHECK(job.created_at_ms > server_now - 5000);
  auto claimed = queue.claim("w1", 1, 30000);
  REQUIRE(claimed.jobs.size() == 1);
  CHECK(*claimed.jobs[0].job.lease_expires_at_ms - *claimed.jobs[0].job.started_at_ms == 30000);
  // A job due a minute from the server's now is not claimable now, whatever
  // the host's clock says.
  queue.enqueue(NewJob{.type = "noop", .run_at_ms = server_now + 60000});
  CHECK(queue.claim("w1", 5, 30000).jobs.empty());
}

TEST_CASE("PostgreSQL JobQueue: a read outside any transaction opens a session the server ended again") {
  // The worker's claimer may only read (which types have ready jobs?)
  // for as long as the types it has room for have none: a read that never
  // reopened its session would fail on it forever after a server restart.
  PostgresQueueFixture f;
  f.add();
  auto side = f.other();
  const int before = f.connection.backend_pid();
  side.connection->query("SELECT pg_terminate_backend($1)", pw::db::postgres::Params().add(before));
  // The first statement on the ended session learns that it is gone.
  CHECK_THROWS_AS(f.connection.query("SELECT 1"), pw::db::Error);
  CHECK_FALSE(f.connection.healthy());
  auto ready = f.queue->ready_counts();
  CHECK(ready["noop"] == 1);
  CHECK(f.connection.healthy());
  CHECK(f.connection.backend_pid() != before);
  CHECK(f.queue->next_due_ms().has_value());
}
