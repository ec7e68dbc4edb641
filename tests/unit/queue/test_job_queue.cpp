// The job table's contract: every state transition, its guard, and the
// queries operators rely on. Time is a ManualClock; nothing sleeps.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "db/statement.hpp"
#include "migrations/migration.hpp"
#include "unit/queue/queue_fixture.hpp"

using pw::queue::ClaimToken;
using pw::queue::ClaimedJob;
using pw::queue::Completion;
using pw::queue::Failure;
using pw::queue::FailureKind;
using pw::queue::FailureOutcome;
using pw::queue::JobQueue;
using pw::queue::JobState;
using pw::queue::NewJob;
using pw::test::QueueFixture;

namespace {

constexpr std::int64_t kLease = 30000;

std::vector<std::int64_t> ids_of(const std::vector<ClaimedJob>& claimed) {
  std::vector<std::int64_t> ids;
  for (const auto& c : claimed) ids.push_back(c.job.id);
  return ids;
}

}  // namespace

TEST_CASE_TEMPLATE("JobQueue: a new job is queued, due now, with the default attempt budget", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  NewJob job;
  job.type = "persona.generate";
  job.payload = R"({"world_id":7})";
  job.trace_id = "req-1";
  job.user_id = 42;
  auto result = f.queue->enqueue(job);
  CHECK(result.created);
  auto stored = f.get(result.id);
  CHECK(stored.type == "persona.generate");
  CHECK(stored.payload == R"({"world_id":7,"trace_id":"req-1"})");
  CHECK(stored.trace_id == "req-1");
  CHECK(stored.user_id == 42);
  CHECK(stored.state == JobState::queued);
  CHECK(stored.attempts == 0);
  CHECK(stored.max_attempts == 10);
  CHECK(stored.run_at_ms == f.clock.now_ms());
  CHECK(stored.created_at_ms == f.clock.now_ms());
  CHECK_FALSE(stored.lease_owner);
  CHECK_FALSE(stored.finished_at_ms);
}

TEST_CASE_TEMPLATE("JobQueue: the trace id is in the payload as trace_id as well as in its column", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  NewJob job;
  job.type = "webhook.deliver";
  job.payload = R"({"url":"http://example.test/hook","body":{"b":1,"a":"\u00e9"},"trace_id":"stale"})";
  job.trace_id = "req-\"7\"";
  auto traced = f.get(f.queue->enqueue(job).id);
  // Keys keep their order; the job's trace id replaces one the payload carried.
  CHECK(traced.payload == R"({"url":"http://example.test/hook","body":{"b":1,"a":"é"},"trace_id":"req-\"7\""})");
  CHECK(traced.trace_id == "req-\"7\"");

  // Without a trace id, or with a payload that is not an object, the payload is stored as given.
  NewJob plain;
  plain.type = "noop";
  plain.payload = R"({"b": 2,  "a": 1})";
  CHECK(f.get(f.queue->enqueue(plain).id).payload == R"({"b": 2,  "a": 1})");
  NewJob list;
  list.type = "noop";
  list.payload = "[1,2]";
  list.trace_id = "req-8";
  auto listed = f.get(f.queue->enqueue(list).id);
  CHECK(listed.payload == "[1,2]");
  CHECK(listed.trace_id == "req-8");

  NewJob broken;
  broken.type = "noop";
  broken.payload = R"({"a":)";
  broken.trace_id = "req-9";
  CHECK_THROWS_AS(f.queue->enqueue(broken), std::invalid_argument);
}

TEST_CASE_TEMPLATE("JobQueue: an idempotency key returns the existing job instead of a second one", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  NewJob job;
  job.type = "noop";
  job.idempotency_key = "order-17";
  auto first = f.queue->enqueue(job);
  auto again = f.queue->enqueue(job);
  CHECK(first.created);
  CHECK_FALSE(again.created);
  CHECK(again.id == first.id);
  job.idempotency_key = "order-18";
  auto other = f.queue->enqueue(job);
  CHECK(other.created);
  CHECK(other.id != first.id);
  // Jobs without a key never collide.
  NewJob plain;
  plain.type = "noop";
  CHECK(f.queue->enqueue(plain).id != f.queue->enqueue(plain).id);
}

TEST_CASE_TEMPLATE("JobQueue: enqueue_many is all or nothing", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  std::vector<NewJob> jobs(3);
  for (auto& job : jobs) job.type = "noop";
  auto results = f.queue->enqueue_many(jobs);
  REQUIRE(results.size() == 3);
  CHECK(results[1].id == results[0].id + 1);

  jobs[2].payload = "{not json";  // refused: the whole batch rolls back
  CHECK_THROWS_AS(f.queue->enqueue_many(jobs), std::invalid_argument);
  CHECK(f.queue->list({}).size() == 3);
}

TEST_CASE_TEMPLATE("JobQueue: enqueue_many gives each job its own fields and returns the ids in the order given", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  std::vector<NewJob> jobs(4);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    jobs[i].type = "kind-" + std::to_string(i);
    jobs[i].payload = R"({"n":)" + std::to_string(i) + "}";
    jobs[i].priority = static_cast<int>(3 - i);
  }
  jobs[1].trace_id = "trace-1";
  jobs[1].user_id = 42;
  jobs[2].run_at_ms = f.clock.now_ms() + 60000;
  jobs[3].max_attempts = 2;
  auto results = f.queue->enqueue_many(jobs);
  REQUIRE(results.size() == jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    CAPTURE(i);
    CHECK(results[i].created);
    auto stored = f.get(results[i].id);
    CHECK(stored.type == jobs[i].type);
    CHECK(nlohmann::json::parse(stored.payload)["n"] == i);
    CHECK(stored.priority == jobs[i].priority);
    if (i > 0) CHECK(results[i].id > results[i - 1].id);
  }
  CHECK(f.get(results[1].id).trace_id == std::optional<std::string>("trace-1"));
  CHECK(f.get(results[1].id).user_id == std::optional<std::int64_t>(42));
  CHECK(f.get(results[0].id).user_id == std::nullopt);
  CHECK(f.get(results[2].id).run_at_ms == f.clock.now_ms() + 60000);
  CHECK(f.get(results[0].id).run_at_ms == f.clock.now_ms());
  CHECK(f.get(results[3].id).max_attempts == 2);
  CHECK(f.get(results[0].id).max_attempts == f.retry.default_max_attempts);
}

TEST_CASE_TEMPLATE("JobQueue: a payload that is not JSON is refused", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  NewJob job;
  job.type = "noop";
  for (const char* bad : {"", "{", "nope", "{\"a\":}", "\"\xff\""}) {
    job.payload = bad;
    CHECK_THROWS_AS(f.queue->enqueue(job), std::invalid_argument);
  }
  CHECK(f.queue->list({}).empty());
  job.payload = R"([1,"two",{"three":null}])";
  CHECK(f.queue->enqueue(job).created);
}

TEST_CASE("JobQueue: the table refuses a state outside the five") {
  QueueFixture f;
  auto id = f.add();
  CHECK_THROWS(f.connection.exec("UPDATE jobs SET state = 'done' WHERE id = " + std::to_string(id)));
  CHECK(f.get(id).state == JobState::queued);
}

TEST_CASE("JobQueue: enqueue_in_transaction commits or rolls back with the caller's writes") {
  QueueFixture f;
  NewJob job;
  job.type = "noop";
  {
    pw::db::WriteTransaction tx(f.connection);
    f.queue->enqueue_in_transaction(job);
    // no commit: rolled back
  }
  CHECK(f.queue->list({}).empty());
  {
    pw::db::WriteTransaction tx(f.connection);
    f.queue->enqueue_in_transaction(job);
    tx.commit();
  }
  CHECK(f.queue->list({}).size() == 1);
}

TEST_CASE_TEMPLATE("JobQueue: claim takes ready jobs by priority, then run_at, then id", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto now = f.clock.now_ms();
  auto low = f.add("noop", 5);
  auto late = f.add("noop", 0, now - 10);
  auto early = f.add("noop", 0, now - 20);
  auto urgent = f.add("noop", -1);
  auto same_time_a = f.add("noop", 1, now - 5);
  auto same_time_b = f.add("noop", 1, now - 5);
  auto future = f.add("noop", -10, now + 1000);

  auto claimed = f.queue->claim("w1", 10, kLease);
  CHECK(ids_of(claimed.jobs) == std::vector<std::int64_t>{urgent, early, late, same_time_a, same_time_b, low});
  CHECK(claimed.expired.empty());
  CHECK(f.get(future).state == JobState::queued);

  f.clock.advance_ms(999);
  CHECK(f.queue->claim("w1", 10, kLease).jobs.empty());
  f.clock.advance_ms(1);
  CHECK(ids_of(f.queue->claim("w1", 10, kLease).jobs) == std::vector<std::int64_t>{future});
}

TEST_CASE_TEMPLATE("JobQueue: claim honours the limit and never hands a job out twice", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  for (int i = 0; i < 5; ++i) f.add();
  auto other_side = f.other();
  auto& other = *other_side.queue;
  auto a = f.queue->claim("w1", 3, kLease);
  auto b = other.claim("w2", 3, kLease);
  auto c = f.queue->claim("w1", 3, kLease);
  CHECK(a.jobs.size() == 3);
  CHECK(b.jobs.size() == 2);
  CHECK(c.jobs.empty());
  std::set<std::int64_t> all;
  for (auto id : ids_of(a.jobs)) all.insert(id);
  for (auto id : ids_of(b.jobs)) all.insert(id);
  CHECK(all.size() == 5);
}

TEST_CASE_TEMPLATE("JobQueue: a claim marks the job running with a lease and counts the attempt", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto id = f.add();
  auto claimed = f.queue->claim("w1", 1, kLease);
  REQUIRE(claimed.jobs.size() == 1);
  const auto& job = claimed.jobs[0].job;
  CHECK(job.id == id);
  CHECK(job.state == JobState::running);
  CHECK(job.attempts == 1);
  CHECK(job.lease_owner == "w1");
  CHECK(job.lease_expires_at_ms == f.clock.now_ms() + kLease);
  CHECK(job.started_at_ms == f.clock.now_ms());
  auto stored = f.get(id);
  CHECK(stored.state == JobState::running);
  CHECK(stored.lease_owner == "w1");
}

TEST_CASE_TEMPLATE("JobQueue: complete records the result, and a stale owner cannot complete", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto id = f.add();
  f.queue->claim("w1", 1, kLease);
  CHECK_FALSE(f.queue->complete("w2", {f.token(id), "1"}));
  CHECK(f.get(id).state == JobState::running);

  f.clock.advance_ms(5);
  CHECK(f.queue->complete("w1", {f.token(id), R"({"ok":true})"}));
  auto done = f.get(id);
  CHECK(done.state == JobState::succeeded);
  CHECK(done.result == R"({"ok":true})");
  CHECK(done.finished_at_ms == f.clock.now_ms());
  CHECK_FALSE(done.lease_expires_at_ms);
  // Already finished: a second completion (say, a redelivery) changes nothing.
  CHECK_FALSE(f.queue->complete("w1", {f.token(id), "2"}));
  CHECK(f.get(id).result == R"({"ok":true})");
}

TEST_CASE_TEMPLATE("JobQueue: complete_many reports each completion separately", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto a = f.add();
  auto b = f.add();
  f.queue->claim("w1", 2, kLease);
  f.queue->cancel(b);
  auto applied = f.queue->complete_many("w1", {{f.token(a), "null"}, {f.token(b), "null"}});
  CHECK(applied == std::vector<bool>{true, false});
  CHECK(f.get(a).state == JobState::succeeded);
  CHECK(f.get(b).state == JobState::canceled);
}

TEST_CASE_TEMPLATE("JobQueue: a retryable failure is queued again after a backoff within bounds", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto id = f.add();
  for (int attempt = 1; attempt <= 4; ++attempt) {
    auto claimed = f.queue->claim("w1", 1, kLease);
    REQUIRE(claimed.jobs.size() == 1);
    auto now = f.clock.now_ms();
    CHECK(f.queue->fail("w1", {f.token(id), "boom " + std::to_string(attempt), FailureKind::retryable}) ==
          FailureOutcome::requeued);
    auto job = f.get(id);
    CHECK(job.state == JobState::queued);
    CHECK(job.attempts == attempt);
    CHECK(job.last_error == "boom " + std::to_string(attempt));
    CHECK_FALSE(job.lease_owner);
    CHECK_FALSE(job.finished_at_ms);
    std::int64_t ceiling = std::min<std::int64_t>(600000, 1000LL << (attempt - 1));
    CHECK(job.run_at_ms >= now);
    CHECK(job.run_at_ms <= now + ceiling);
    f.clock.set_ms(job.run_at_ms);
  }
}

TEST_CASE_TEMPLATE("JobQueue: the last allowed attempt failing sends the job to dead, keeping the error", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto id = f.add("noop", 0, {}, 2);
  f.queue->claim("w1", 1, kLease);
  CHECK(f.queue->fail("w1", {f.token(id), "first"}) == FailureOutcome::requeued);
  f.clock.advance_ms(10 * 60 * 1000);
  REQUIRE(f.queue->claim("w1", 1, kLease).jobs.size() == 1);
  CHECK(f.queue->fail("w1", {f.token(id), "second"}) == FailureOutcome::dead);
  auto job = f.get(id);
  CHECK(job.state == JobState::dead);
  CHECK(job.attempts == 2);
  CHECK(job.last_error == "second");
  CHECK(job.finished_at_ms == f.clock.now_ms());
  f.clock.advance_ms(10 * 60 * 1000);
  CHECK(f.queue->claim("w1", 1, kLease).jobs.empty());
}

TEST_CASE_TEMPLATE("JobQueue: a permanent failure goes straight to dead", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto id = f.add();
  f.queue->claim("w1", 1, kLease);
  CHECK(f.queue->fail("w1", {f.token(id), "bad payload", FailureKind::permanent}) == FailureOutcome::dead);
  auto job = f.get(id);
  CHECK(job.state == JobState::dead);
  CHECK(job.attempts == 1);
  CHECK(job.last_error == "bad payload");
}

TEST_CASE_TEMPLATE("JobQueue: a stale owner cannot fail, renew or release the job", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto id = f.add();
  f.queue->claim("w1", 1, kLease);
  CHECK(f.queue->fail("w2", {f.token(id), "nope"}) == FailureOutcome::lost_lease);
  CHECK(f.queue->renew("w2", {f.token(id)}, kLease) == std::vector<ClaimToken>{f.token(id)});
  CHECK(f.queue->release("w2", {f.token(id)}) == 0);
  auto job = f.get(id);
  CHECK(job.state == JobState::running);
  CHECK(job.lease_owner == "w1");
  CHECK_FALSE(job.last_error);
  CHECK(job.attempts == 1);
}

TEST_CASE_TEMPLATE("JobQueue: fail_many and settle record mixed outcomes in one go", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto ok = f.add();
  auto flaky = f.add();
  auto broken = f.add();
  auto unstarted = f.add();
  f.queue->claim("w1", 4, kLease);
  auto outcomes = f.queue->settle(
      "w1", {{f.token(ok), "null"}},
      {{f.token(flaky), "timeout", FailureKind::retryable}, {f.token(broken), "bad", FailureKind::permanent}},
      {f.token(unstarted)}, {});
  CHECK(outcomes.completed == std::vector<bool>{true});
  CHECK(outcomes.failed == std::vector<FailureOutcome>{FailureOutcome::requeued, FailureOutcome::dead});
  CHECK(outcomes.released == std::vector<bool>{true});
  CHECK(f.get(ok).state == JobState::succeeded);
  CHECK(f.get(flaky).state == JobState::queued);
  CHECK(f.get(broken).state == JobState::dead);
  CHECK(f.get(unstarted).state == JobState::queued);
  CHECK(f.get(unstarted).attempts == 0);
  CHECK(f.queue->fail_many("w1", {{f.token(flaky), "x"}}) == std::vector<FailureOutcome>{FailureOutcome::lost_lease});
}

TEST_CASE_TEMPLATE("JobQueue: settle with a refill claims the next jobs in the same transaction", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto first = f.add();
  auto low = f.add("noop", 5);
  auto high = f.add("noop", -5);
  auto later = f.add("noop", 0, f.clock.now_ms() + 60000);
  REQUIRE(f.queue->claim("w1", 1, kLease).jobs.front().job.id == high);
  auto outcomes = f.queue->settle("w1", {{f.token(high), "null"}}, {}, {}, {.limit = 2, .lease_ms = kLease, .skip_types = {}});
  CHECK(outcomes.completed == std::vector<bool>{true});
  REQUIRE(outcomes.claimed.jobs.size() == 2);
  CHECK(outcomes.claimed.jobs[0].job.id == first);  // claim order: priority, run_at, id
  CHECK(outcomes.claimed.jobs[1].job.id == low);
  for (auto id : {first, low}) {
    auto job = f.get(id);
    CHECK(job.state == JobState::running);
    CHECK(job.lease_owner == "w1");
    CHECK(job.attempts == 1);
  }
  CHECK(f.get(later).state == JobState::queued);

  // Lapsed leases are settled and reported first, exactly as by claim().
  f.clock.advance_ms(kLease);
  auto again = f.queue->settle("w1", {}, {}, {}, {.limit = 4, .lease_ms = kLease, .skip_types = {}});
  CHECK(again.claimed.expired.size() == 2);
  REQUIRE(again.claimed.jobs.size() == 2);
  CHECK(again.claimed.jobs[0].job.id == first);
  CHECK(again.claimed.jobs[0].job.attempts == 2);
  CHECK(f.queue->settle("w1", {}, {}, {}, {.limit = 0, .lease_ms = kLease, .skip_types = {}}).claimed.jobs.empty());
}

TEST_CASE_TEMPLATE("JobQueue: renew extends held leases and names the ones lost", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto a = f.add();
  auto b = f.add();
  auto c = f.add();
  f.queue->claim("w1", 3, kLease);
  f.queue->cancel(b);
  f.clock.advance_ms(20000);
  auto lost = f.queue->renew("w1", {f.token(a), f.token(b), f.token(c)}, kLease);
  CHECK(lost == std::vector<ClaimToken>{f.token(b)});
  CHECK(f.get(a).lease_expires_at_ms == f.clock.now_ms() + kLease);
  CHECK(f.get(c).lease_expires_at_ms == f.clock.now_ms() + kLease);
  // Renewed in time, the lease does not lapse at its original expiry.
  f.clock.advance_ms(15000);
  auto claimed = f.queue->claim("w2", 10, kLease);
  CHECK(claimed.expired.empty());
  CHECK(claimed.jobs.empty());
}

TEST_CASE_TEMPLATE("JobQueue: release hands a job back without charging the attempt", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto id = f.add();
  f.queue->claim("w1", 1, kLease);
  CHECK(f.queue->release("w1", {f.token(id)}) == 1);
  auto job = f.get(id);
  CHECK(job.state == JobState::queued);
  CHECK(job.attempts == 0);
  CHECK_FALSE(job.lease_owner);
  // Immediately claimable again.
  CHECK(ids_of(f.queue->claim("w2", 1, kLease).jobs) == std::vector<std::int64_t>{id});
}

TEST_CASE_TEMPLATE("JobQueue: an expired lease is claimed again, counting the lapse as a failed attempt", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto id = f.add();
  auto first = f.queue->claim("w1", 1, 1000);
  REQUIRE(first.jobs.size() == 1);
  auto first_claim = pw::queue::token_of(first.jobs[0].job);

  f.clock.advance_ms(999);
  CHECK(f.queue->claim("w2", 1, 1000).jobs.empty());  // still w1's

  f.clock.advance_ms(1);
  auto taken = f.queue->claim("w2", 1, 1000);
  REQUIRE(taken.expired.size() == 1);
  CHECK(taken.expired[0].job_id == id);
  CHECK(taken.expired[0].previous_owner == "w1");
  CHECK_FALSE(taken.expired[0].dead);
  REQUIRE(taken.jobs.size() == 1);
  CHECK(taken.jobs[0].job.id == id);
  CHECK(taken.jobs[0].job.attempts == 2);
  CHECK(taken.jobs[0].job.lease_owner == "w2");
  CHECK(taken.jobs[0].job.last_error == pw::queue::kLeaseExpiredError);

  // The presumed-dead worker comes back: it cannot overwrite w2's outcome.
  CHECK_FALSE(f.queue->complete("w1", {first_claim, "\"late\""}));
  CHECK(f.queue->complete("w2", {f.token(id), "\"fresh\""}));
  CHECK(f.get(id).result == "\"fresh\"");
}

TEST_CASE_TEMPLATE("JobQueue: an expired lease on the last attempt sends the job to dead", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto id = f.add("noop", 0, {}, 1);
  f.queue->claim("w1", 1, 1000);
  f.clock.advance_ms(1000);
  auto claimed = f.queue->claim("w2", 5, 1000);
  CHECK(claimed.jobs.empty());
  REQUIRE(claimed.expired.size() == 1);
  CHECK(claimed.expired[0].dead);
  auto job = f.get(id);
  CHECK(job.state == JobState::dead);
  CHECK(job.last_error == pw::queue::kLeaseExpiredError);
  CHECK(job.finished_at_ms == f.clock.now_ms());
}

TEST_CASE_TEMPLATE("JobQueue: cancel applies to queued and running jobs only", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto queued = f.add();
  auto running = f.add();
  auto finished = f.add();
  REQUIRE(f.queue->claim("w1", 3, kLease).jobs.size() == 3);
  f.queue->release("w1", {f.token(queued)});
  f.queue->complete("w1", {f.token(finished), "null"});

  CHECK(f.queue->cancel(queued));
  CHECK(f.queue->cancel(running));
  CHECK_FALSE(f.queue->cancel(finished));
  CHECK_FALSE(f.queue->cancel(queued));  // already canceled
  CHECK_FALSE(f.queue->cancel(999));
  CHECK(f.get(queued).state == JobState::canceled);
  CHECK(f.get(running).state == JobState::canceled);
  CHECK(f.get(running).finished_at_ms == f.clock.now_ms());
  CHECK(f.get(finished).state == JobState::succeeded);
  // The worker running it learns at completion time that it lost the job.
  CHECK_FALSE(f.queue->complete("w1", {f.token(running), "null"}));
  CHECK(f.get(running).state == JobState::canceled);
  CHECK(f.queue->claim("w1", 3, kLease).jobs.empty());
}

TEST_CASE_TEMPLATE("JobQueue: retry queues a dead or canceled job again with a fresh budget", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto dead = f.add("noop", 0, {}, 1);
  auto canceled = f.add();
  auto queued = f.add();
  f.queue->claim("w1", 1, kLease);
  REQUIRE(f.queue->fail("w1", {f.token(dead), "broken"}) == FailureOutcome::dead);
  f.queue->cancel(canceled);
  f.clock.advance_ms(60000);

  CHECK(f.queue->retry(dead));
  auto job = f.get(dead);
  CHECK(job.state == JobState::queued);
  CHECK(job.attempts == 0);
  CHECK(job.run_at_ms == f.clock.now_ms());
  CHECK_FALSE(job.finished_at_ms);
  CHECK(job.last_error == "broken");
  CHECK(f.queue->retry(canceled));
  CHECK_FALSE(f.queue->retry(queued));
  CHECK_FALSE(f.queue->retry(12345));
  CHECK(f.queue->claim("w1", 5, kLease).jobs.size() == 3);
}

TEST_CASE_TEMPLATE("JobQueue: prune deletes only finished jobs older than the retention", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  const std::int64_t long_lease = 10LL * 24 * 3600 * 1000;
  auto old_done = f.add();
  auto old_dead = f.add("noop", 0, {}, 1);
  auto still_running = f.add();
  REQUIRE(f.queue->claim("w1", 3, long_lease).jobs.size() == 3);
  f.queue->complete("w1", {f.token(old_done), "null"});
  REQUIRE(f.queue->fail("w1", {f.token(old_dead), "x"}) == FailureOutcome::dead);
  auto old_canceled = f.add();
  f.queue->cancel(old_canceled);
  auto still_queued = f.add("noop", 0, f.clock.now_ms() + long_lease);
  f.clock.advance_ms(2 * 3600 * 1000);
  auto recent = f.add();
  REQUIRE(ids_of(f.queue->claim("w1", 1, long_lease).jobs) == std::vector<std::int64_t>{recent});
  f.queue->complete("w1", {f.token(recent), "null"});

  CHECK(f.queue->prune(3 * 3600 * 1000) == 0);  // nothing that old yet
  CHECK(f.queue->prune(3600 * 1000, 2) == 3);   // small batches add up
  CHECK_FALSE(f.queue->find(old_done));
  CHECK_FALSE(f.queue->find(old_dead));
  CHECK_FALSE(f.queue->find(old_canceled));
  CHECK(f.get(still_queued).state == JobState::queued);
  CHECK(f.get(still_running).state == JobState::running);
  CHECK(f.get(recent).state == JobState::succeeded);
  f.clock.advance_ms(1);
  CHECK(f.queue->prune(0) == 1);  // retention 0: every finished job
  CHECK(f.queue->list({}).size() == 2);
}

TEST_CASE_TEMPLATE("JobQueue: pruning and the per-minute counts cover the finished jobs of every type", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  const std::int64_t m0 = 1'700'000'040'000;  // a minute boundary
  f.clock.set_ms(m0);
  const std::int64_t long_lease = 10LL * 24 * 3600 * 1000;
  auto alpha = f.add("alpha");
  auto beta = f.add("beta", 0, {}, 1);
  auto gamma = f.add("gamma");
  auto queued = f.add("alpha", 0, m0 + long_lease);
  REQUIRE(f.queue->claim("w1", 2, long_lease).jobs.size() == 2);
  REQUIRE(f.queue->complete("w1", {f.token(alpha), "null"}));
  REQUIRE(f.queue->fail("w1", {f.token(beta), "x"}) == FailureOutcome::dead);
  REQUIRE(f.queue->cancel(gamma));
  f.clock.advance_ms(2 * 3600 * 1000);
  auto recent = f.add("gamma");
  REQUIRE(f.queue->claim("w1", 1, long_lease).jobs.size() == 1);
  REQUIRE(f.queue->complete("w1", {f.token(recent), "null"}));

  using Row = std::tuple<std::int64_t, std::string, std::int64_t>;
  std::vector<Row> minutes;
  for (const auto& m : f.queue->finished_per_minute(m0)) minutes.emplace_back(m.minute_ms, m.state, m.count);
  CHECK(minutes == std::vector<Row>{{m0, "canceled", 1}, {m0, "dead", 1}, {m0, "succeeded", 1},
                                    {m0 + 2 * 3600 * 1000, "succeeded", 1}});

  CHECK(f.queue->prune(3600 * 1000, 1) == 3);  // one per batch, through every type
  CHECK_FALSE(f.queue->find(alpha));
  CHECK_FALSE(f.queue->find(beta));
  CHECK_FALSE(f.queue->find(gamma));
  CHECK(f.get(queued).state == JobState::queued);
  CHECK(f.get(recent).state == JobState::succeeded);
  CHECK(f.queue->finished_per_minute(m0).size() == 1);
}

TEST_CASE_TEMPLATE("JobQueue: the id of a pruned job is never handed out again", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto first = f.add();
  REQUIRE(f.queue->claim("w1", 1, kLease).jobs.size() == 1);
  f.queue->complete("w1", {f.token(first), "null"});
  f.clock.advance_ms(1);
  REQUIRE(f.queue->prune(0) == 1);
  REQUIRE(f.queue->list({}).empty());
  CHECK(f.add() > first);
}

TEST_CASE_TEMPLATE("JobQueue: counts by type and state, ready counts and the oldest ready age", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto now = f.clock.now_ms();
  f.add("a", 0, now - 5000);
  f.add("a", 0, now - 1000);
  f.add("a", 0, now + 60000);  // scheduled: queued but not ready
  f.add("b", 0, now - 2500);
  auto running = f.add("b", -1);
  f.queue->claim("w1", 1, kLease);
  CHECK(f.get(running).state == JobState::running);

  auto counts = f.queue->counts();
  CHECK(counts["a"]["queued"] == 3);
  CHECK(counts["b"]["queued"] == 1);
  CHECK(counts["b"]["running"] == 1);

  auto ready = f.queue->ready_counts();
  CHECK(ready["a"] == 2);
  CHECK(ready["b"] == 1);

  auto age = f.queue->oldest_ready_age_seconds();
  CHECK(age["a"] == doctest::Approx(5.0));
  CHECK(age["b"] == doctest::Approx(2.5));
}

TEST_CASE_TEMPLATE("JobQueue: next_due_ms names the next scheduled job or lease expiry", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto now = f.clock.now_ms();
  CHECK_FALSE(f.queue->next_due_ms());
  f.add("noop", 0, now + 5000);
  CHECK(f.queue->next_due_ms() == now + 5000);
  f.add();
  f.queue->claim("w1", 1, 2000);
  CHECK(f.queue->next_due_ms() == now + 2000);
}

TEST_CASE_TEMPLATE("JobQueue: next_due_ms still names a moment that passed after the last claim", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  // A claim that found nothing due, then time moving on before the idle
  // worker asks what to wait for: the answer must not skip the job that came
  // due in between, or nothing would ever wake the worker for it.
  F f;
  auto now = f.clock.now_ms();
  f.add("noop", 0, now + 500);
  CHECK(f.queue->claim("w1", 4, 30000).jobs.empty());
  f.clock.advance_ms(1000);
  CHECK(f.queue->next_due_ms() == now + 500);

  f.clock.set_ms(now + 500);
  REQUIRE(f.queue->claim("w1", 4, 2000).jobs.size() == 1);
  f.clock.advance_ms(5000);  // the lease lapsed before anyone asked
  CHECK(f.queue->next_due_ms() == now + 2500);
}

TEST_CASE("JobQueue: data_version changes when another connection commits") {
  QueueFixture f;
  auto before = f.queue->data_version();
  CHECK(f.queue->data_version() == before);
  auto other_connection = f.open();
  JobQueue other(*other_connection, f.clock, f.retry);
  NewJob job;
  job.type = "noop";
  other.enqueue(job);
  CHECK(f.queue->data_version() != before);
}

TEST_CASE_TEMPLATE("JobQueue: list filters by state, type and user, newest first, with pagination", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  for (int i = 0; i < 4; ++i) f.add(i % 2 ? "a" : "b");
  NewJob mine;
  mine.type = "a";
  mine.user_id = 9;
  auto my_id = f.queue->enqueue(mine).id;
  f.queue->claim("w1", 1, kLease);

  auto all = f.queue->list({});
  REQUIRE(all.size() == 5);
  CHECK(all.front().id == my_id);
  CHECK(std::is_sorted(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.id > y.id; }));

  pw::queue::JobFilter by_type;
  by_type.type = "a";
  CHECK(f.queue->list(by_type).size() == 3);
  pw::queue::JobFilter running;
  running.state = JobState::running;
  CHECK(f.queue->list(running).size() == 1);
  pw::queue::JobFilter by_user;
  by_user.user_id = 9;
  CHECK(f.queue->list(by_user).size() == 1);
  pw::queue::JobFilter page;
  page.limit = 2;
  page.before_id = all[1].id;
  auto second_page = f.queue->list(page);
  REQUIRE(second_page.size() == 2);
  CHECK(second_page[0].id == all[2].id);
}

TEST_CASE("JobQueue: backoff uses full jitter under min(cap, base * 2^(attempts-1))") {
  pw::config::RetryConfig retry{.backoff_base_ms = 1000, .backoff_cap_ms = 600000, .default_max_attempts = 10};
  CHECK(JobQueue::backoff_ms(retry, 1, 0.0) == 0);
  CHECK(JobQueue::backoff_ms(retry, 1, 0.5) == 500);
  CHECK(JobQueue::backoff_ms(retry, 1, 0.999999) <= 1000);
  CHECK(JobQueue::backoff_ms(retry, 3, 0.999999) <= 4000);
  CHECK(JobQueue::backoff_ms(retry, 3, 0.999999) > 3990);
  CHECK(JobQueue::backoff_ms(retry, 10, 0.5) == 256000);
  CHECK(JobQueue::backoff_ms(retry, 11, 0.999999) <= 600000);
  CHECK(JobQueue::backoff_ms(retry, 11, 0.999999) > 599000);
  // Huge attempt counts saturate at the cap instead of overflowing.
  for (int attempts : {40, 63, 64, 1000}) {
    auto delay = JobQueue::backoff_ms(retry, attempts, 0.999999);
    CHECK(delay <= 600000);
    CHECK(delay > 599000);
  }
  for (int i = 0; i < 1000; ++i) {
    double r = i / 1000.0;
    for (int attempts = 1; attempts <= 12; ++attempts) {
      auto delay = JobQueue::backoff_ms(retry, attempts, r);
      CHECK(delay >= 0);
      CHECK(delay <= std::min<std::int64_t>(600000, 1000LL << (attempts - 1)));
    }
  }
}

TEST_CASE("JobQueue: job states round-trip through text") {
  for (auto state : {JobState::queued, JobState::running, JobState::succeeded, JobState::dead, JobState::canceled}) {
    CHECK(pw::queue::parse_job_state(pw::queue::to_string(state)) == state);
  }
  CHECK_FALSE(pw::queue::parse_job_state("done"));
}

TEST_CASE_TEMPLATE("JobQueue: every claim gets its own token, and a superseded claim cannot settle, renew or release, even under the same owner", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto id = f.add();
  auto first = f.queue->claim("w1", 1, 1000);
  REQUIRE(first.jobs.size() == 1);
  auto old_claim = pw::queue::token_of(first.jobs[0].job);
  CHECK(old_claim.claim == 1);
  // The worker froze past its lease; on waking, it claims its own job again.
  f.clock.advance_ms(1000);
  auto second = f.queue->claim("w1", 1, 1000);
  REQUIRE(second.jobs.size() == 1);
  REQUIRE(second.expired.size() == 1);
  CHECK(second.expired[0].claim == 1);
  auto new_claim = pw::queue::token_of(second.jobs[0].job);
  CHECK(new_claim.claim == 2);

  CHECK_FALSE(f.queue->complete("w1", {old_claim, R"("stale")"}));
  CHECK(f.queue->fail("w1", {old_claim, "stale failure"}) == FailureOutcome::lost_lease);
  CHECK(f.queue->renew("w1", {old_claim, new_claim}, 1000) == std::vector<ClaimToken>{old_claim});
  CHECK(f.queue->release("w1", {old_claim}) == 0);
  auto job = f.get(id);
  CHECK(job.state == JobState::running);
  CHECK(job.claim == 2);
  CHECK(job.attempts == 2);

  CHECK(f.queue->complete("w1", {new_claim, R"("fresh")"}));
  CHECK(f.get(id).result == R"("fresh")");
}

TEST_CASE_TEMPLATE("JobQueue: cancel + retry of a running job: the canceled run's outcome is refused, the new claim's recorded", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto id = f.add();
  auto canceled_run = pw::queue::token_of(f.queue->claim("w1", 1, kLease).jobs.at(0).job);
  REQUIRE(f.queue->cancel(id));
  REQUIRE(f.queue->retry(id));
  auto new_run = pw::queue::token_of(f.queue->claim("w1", 1, kLease).jobs.at(0).job);
  // retry resets attempts: both runs are attempt 1, only the token tells them apart.
  CHECK(f.get(id).attempts == 1);
  CHECK(new_run.claim == canceled_run.claim + 1);

  CHECK_FALSE(f.queue->complete("w1", {canceled_run, R"("canceled run")"}));
  CHECK(f.queue->renew("w1", {canceled_run}, kLease) == std::vector<ClaimToken>{canceled_run});
  CHECK(f.get(id).state == JobState::running);
  CHECK(f.queue->complete("w1", {new_run, R"("new run")"}));
  CHECK(f.get(id).result == R"("new run")");
}

TEST_CASE("JobQueue: the table refuses values of the wrong type in every column the queue relies on") {
  QueueFixture f;
  auto& db = f.connection;
  const char* base =
      "INSERT INTO jobs (type, payload, priority, state, attempts, max_attempts, run_at, created_at, updated_at) "
      "VALUES ('noop', '{}', 0, 'queued', 0, 10, 1, 1, 1)";
  CHECK_NOTHROW(db.exec(base));
  for (std::string column : {"priority", "attempts", "max_attempts", "run_at", "created_at", "updated_at", "user_id",
                             "lease_expires_at", "started_at", "finished_at", "claim"}) {
    INFO(column);
    // A valid row, but for this one column, which gets text.
    std::map<std::string, std::string> values = {
        {"type", "'noop'"}, {"run_at", "1"}, {"created_at", "1"}, {"updated_at", "1"}};
    values[column] = "'soon'";
    std::string names, literals;
    for (const auto& [name, literal] : values) {
      names += (names.empty() ? "" : ", ") + name;
      literals += (literals.empty() ? "" : ", ") + literal;
    }
    CHECK_THROWS_AS(db.exec("INSERT INTO jobs (" + names + ") VALUES (" + literals + ")"), pw::db::Error);
  }
  for (const char* column : {"type", "payload", "state", "trace_id", "lease_owner", "last_error", "result",
                             "idempotency_key"}) {
    INFO(column);
    std::string sql = std::string("UPDATE jobs SET ") + column + " = X'00ff'";
    CHECK_THROWS_AS(db.exec(sql), pw::db::Error);
  }
  CHECK_THROWS_AS(db.exec("UPDATE jobs SET run_at = 'later'"), pw::db::Error);
}

TEST_CASE("JobQueue: migration 0003 keeps every row, the id sequence and every index, and mends wrong types") {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  config.path = dir.file("old.db");
  pw::db::Connection connection(config);
  const auto& all = pw::migrations::embedded();
  std::vector<pw::migrations::Migration> before_claims;
  for (const auto& migration : all) {
    if (migration.version < 3) before_claims.push_back(migration);
  }
  pw::migrations::Migrator(connection, before_claims).apply_pending();
  auto& db = connection;
  // An operator's hand-written row with a text run_at (it made idle workers
  // spin), a running job, and a pruned job that held the highest id.
  db.exec("INSERT INTO jobs (type, run_at, created_at, updated_at) VALUES ('noop', 5, 1, 1)");
  db.exec("INSERT INTO jobs (type, run_at, created_at, updated_at) VALUES ('noop', 'soon', 1, 1)");
  db.exec("INSERT INTO jobs (type, run_at, created_at, updated_at, state, attempts, lease_owner, lease_expires_at)"
          " VALUES ('sleep', 5, 1, 1, 'running', 1, 'w1', 99)");
  db.exec("INSERT INTO jobs (type, run_at, created_at, updated_at) VALUES ('noop', 5, 1, 1)");
  db.exec("DELETE FROM jobs WHERE id = 4");

  // Up to 0003 only: later migrations add indexes of their own.
  std::vector<pw::migrations::Migration> through_claims = before_claims;
  for (const auto& migration : all) {
    if (migration.version == 3) through_claims.push_back(migration);
  }
  pw::migrations::Migrator(connection, through_claims).apply_pending();
  pw::queue::ManualClock clock;
  pw::queue::JobQueue queue(connection, clock, {});
  // Read with SQL of this schema's time: find() reads columns of later migrations.
  struct Row {
    std::int64_t run_at = 0;
    std::string state;
    std::int64_t claim = 0;
  };
  auto row = [&](std::int64_t id) -> std::optional<Row> {
    pw::db::Statement read(db, "SELECT run_at, state, claim FROM jobs WHERE id = ?1");
    read.bind(1, id);
    if (!read.step()) return std::nullopt;
    return Row{read.int64(0), read.text(1), read.int64(2)};
  };
  CHECK(row(1)->run_at == 5);
  CHECK(row(2)->run_at == 0);  // not an integer: due at once
  auto running = row(3);
  CHECK(running->state == "running");
  CHECK(running->claim == 1);
  CHECK(queue.renew("w1", {pw::queue::ClaimToken{3, running->claim}}, 1000).empty());  // its holder keeps it
  CHECK_FALSE(row(4));
  pw::queue::NewJob job;
  job.type = "noop";
  CHECK(queue.enqueue(job).id == 5);  // never 4 again
  pw::db::Statement indexes(db, "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master"
                                " WHERE type = 'index' AND tbl_name = 'jobs' AND sql IS NOT NULL ORDER BY name)");
  REQUIRE(indexes.step());
  CHECK(indexes.text(0) == "jobs_due,jobs_finished,jobs_idempotency_key,jobs_leases,jobs_ready");
  pw::db::Statement strict(db, "SELECT strict FROM pragma_table_list WHERE name = 'jobs'");
  REQUIRE(strict.step());
  CHECK(strict.int32(0) == 1);
}

TEST_CASE("JobQueue: a lease does not lapse for the time this process could not write, but does once that grace has passed") {
  QueueFixture f;
  auto id = f.add();
  const std::int64_t lease = 2000;
  auto owner = pw::queue::token_of(f.queue->claim("w1", 1, lease).jobs.at(0).job);
  auto claimer_connection = f.open();
  pw::queue::JobQueue claimer(*claimer_connection, f.clock, f.retry);
  pw::queue::LockWaits waits(lease / 10);
  claimer.observe_lock_waits(waits);

  // An outside transaction held the write lock for 5 s (just now, on the
  // monotonic clock): w1's renewals and this process's writes waited alike.
  f.clock.advance_ms(5500);
  auto now = std::chrono::steady_clock::now();
  waits.record(now - std::chrono::seconds(5), now);
  auto judged = claimer.claim("w2", 1, lease);
  CHECK(judged.expired.empty());
  CHECK(judged.jobs.empty());
  // w1's renewal, queued behind the lock, lands now.
  CHECK(f.queue->renew("w1", {owner}, lease).empty());
  CHECK(f.get(id).lease_owner == "w1");

  // A stretch shorter than the tolerance is ordinary contention.
  pw::queue::LockWaits short_waits(lease / 10);
  short_waits.record(now - std::chrono::milliseconds(lease / 10 - 1), now);
  CHECK(short_waits.total_within(std::chrono::hours(1)) == 0);

  // A dead owner still lapses: once it has not renewed for a lease plus the grace.
  f.clock.advance_ms(lease + 5000 + lease / 3);
  // (And once the stretch is older than a lease and a renewal period, it no longer counts.)
  CHECK(waits.total_within(std::chrono::milliseconds(lease + lease / 3), now + std::chrono::seconds(3)) == 0);
  auto later = claimer.claim("w2", 1, lease);
  REQUIRE(later.expired.size() == 1);
  CHECK(later.expired[0].job_id == id);
}

TEST_CASE("JobQueue: with lock waits observed, its own write transactions are recorded once each, wait included") {
  QueueFixture f;
  f.add();
  auto claimer_connection = f.open();
  pw::queue::JobQueue claimer(*claimer_connection, f.clock, f.retry);
  pw::queue::LockWaits waits(10);
  claimer.observe_lock_waits(waits);

  // Another connection holds the write lock for 300 ms: the claim waits for it.
  auto blocker = f.open();
  auto locked = std::make_shared<pw::db::WriteTransaction>(*blocker);
  std::thread release([locked]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    locked->commit();
    locked.reset();
  });
  locked.reset();
  const auto before = std::chrono::steady_clock::now();
  auto claimed = claimer.claim("w1", 1, kLease);
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - before).count();
  release.join();
  REQUIRE(claimed.jobs.size() == 1);
  const auto recorded = waits.total_within(std::chrono::hours(1));
  CHECK(recorded >= 290);
  // Once: the stretch lies within the call, so counted twice it would not fit.
  CHECK(recorded <= took);

  // Writes outside a transaction on the queue's connection count too.
  auto after_claim = waits.total_within(std::chrono::hours(1));
  auto second = std::make_shared<pw::db::WriteTransaction>(*blocker);
  std::thread again([second]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    second->commit();
  });
  second.reset();
  pw::db::Statement(*claimer_connection, "UPDATE jobs SET priority = priority").exec();
  again.join();
  CHECK(waits.total_within(std::chrono::hours(1)) >= after_claim + 90);
}

// ---- the operator console's questions (admin API) ---------------------------

namespace {

template <class F>
std::vector<std::int64_t> listed(F& f, const pw::queue::JobFilter& filter) {
  std::vector<std::int64_t> ids;
  for (const auto& job : f.queue->list(filter)) ids.push_back(job.id);
  return ids;
}

// Claims every ready job for `owner` and fails `id` permanently with `error`,
// handing the others back.
template <class F>
void kill_with(F& f, std::int64_t id, const std::string& error) {
  auto claimed = f.queue->claim("killer", 100, kLease).jobs;
  std::vector<ClaimToken> others;
  for (const auto& c : claimed) {
    if (c.job.id != id) others.push_back(pw::queue::token_of(c.job));
  }
  f.queue->release("killer", others);
  REQUIRE(f.queue->fail("killer", {f.token(id), error, FailureKind::permanent}) == FailureOutcome::dead);
}

}  // namespace

TEST_CASE_TEMPLATE("JobQueue: list filters by creation time, from inclusive, before exclusive", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  const auto t0 = f.clock.now_ms();
  auto first = f.add();
  f.clock.advance_ms(1000);
  auto second = f.add();
  f.clock.advance_ms(1000);
  auto third = f.add();

  pw::queue::JobFilter from;
  from.created_from_ms = t0 + 1000;
  CHECK(listed(f, from) == std::vector<std::int64_t>{third, second});
  pw::queue::JobFilter before;
  before.created_before_ms = t0 + 1000;
  CHECK(listed(f, before) == std::vector<std::int64_t>{first});
  pw::queue::JobFilter window;
  window.created_from_ms = t0;
  window.created_before_ms = t0 + 2000;
  CHECK(listed(f, window) == std::vector<std::int64_t>{second, first});
  window.created_from_ms = t0 + 2001;
  window.created_before_ms.reset();
  CHECK(listed(f, window).empty());
}

TEST_CASE_TEMPLATE("JobQueue: list finds a literal substring of the last error, wildcards included", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto percent = f.add();
  auto plain = f.add();
  auto underscore = f.add();
  auto no_error = f.add();
  kill_with(f, percent, "disk 100% full");
  kill_with(f, plain, "disk 1000 full, retry later");
  kill_with(f, underscore, "bad_value in field");

  pw::queue::JobFilter filter;
  filter.error_contains = "100%";
  CHECK(listed(f, filter) == std::vector<std::int64_t>{percent});
  filter.error_contains = "b_d";  // as a LIKE pattern it would match "bad"
  CHECK(listed(f, filter).empty());
  filter.error_contains = "_";
  CHECK(listed(f, filter) == std::vector<std::int64_t>{underscore});
  filter.error_contains = "%";
  CHECK(listed(f, filter) == std::vector<std::int64_t>{percent});
  filter.error_contains = "disk";
  CHECK(listed(f, filter) == std::vector<std::int64_t>{plain, percent});
  filter.error_contains = "DISK";  // case matters
  CHECK(listed(f, filter).empty());
  filter.error_contains = "full";
  filter.before_id = plain;
  CHECK(listed(f, filter) == std::vector<std::int64_t>{percent});
  CHECK(f.get(no_error).state == JobState::queued);
}

TEST_CASE_TEMPLATE("JobQueue: list by trace id matches it exactly, and every filter combines with the cursor", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto traced = [&](const std::string& type, const std::string& trace) {
    NewJob job;
    job.type = type;
    job.trace_id = trace;
    return f.queue->enqueue(job).id;
  };
  auto a1 = traced("a", "req-1");
  auto a10 = traced("a", "req-10");
  auto b1 = traced("b", "req-1");
  auto a1_again = traced("a", "req-1");
  f.add("a");  // no trace id

  pw::queue::JobFilter filter;
  filter.trace_id = "req-1";
  CHECK(listed(f, filter) == std::vector<std::int64_t>{a1_again, b1, a1});
  filter.type = "a";
  CHECK(listed(f, filter) == std::vector<std::int64_t>{a1_again, a1});
  filter.limit = 1;
  CHECK(listed(f, filter) == std::vector<std::int64_t>{a1_again});
  filter.before_id = a1_again;
  CHECK(listed(f, filter) == std::vector<std::int64_t>{a1});
  filter.before_id = a1;
  CHECK(listed(f, filter).empty());
  filter = {};
  filter.trace_id = "req-1%";
  CHECK(listed(f, filter).empty());
  filter.trace_id = "req-10";
  CHECK(listed(f, filter) == std::vector<std::int64_t>{a10});
  filter.state = JobState::dead;
  CHECK(listed(f, filter).empty());
}

TEST_CASE_TEMPLATE("JobQueue: cancel_matching cancels the newest matching queued and running jobs, at most max", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto running = f.add("a", -1);  // claimed first
  auto done = f.add("a", -1);
  REQUIRE(f.queue->claim("w1", 2, kLease).jobs.size() == 2);
  auto running_token = f.token(running);
  REQUIRE(f.queue->complete("w1", {f.token(done), "null"}));
  auto q1 = f.add("a");
  auto other_type = f.add("b");
  auto q2 = f.add("a");
  auto q3 = f.add("a");
  f.clock.advance_ms(5000);

  pw::queue::JobFilter filter;
  filter.type = "a";
  filter.limit = 1;          // ignored
  filter.before_id = q1;     // ignored
  CHECK(f.queue->cancel_matching(filter, 2) == std::vector<std::int64_t>{q3, q2});
  CHECK(f.get(q1).state == JobState::queued);
  auto rest = f.queue->cancel_matching(filter, 1000);
  CHECK(rest == std::vector<std::int64_t>{q1, running});
  CHECK(f.queue->cancel_matching(filter, 1000).empty());  // nothing eligible is left
  CHECK(f.get(done).state == JobState::succeeded);
  CHECK(f.get(other_type).state == JobState::queued);

  // cancel()'s effects, row by row.
  for (auto id : {q1, q2, q3, running}) {
    auto job = f.get(id);
    CHECK(job.state == JobState::canceled);
    CHECK(job.finished_at_ms == f.clock.now_ms());
    CHECK(job.updated_at_ms == f.clock.now_ms());
    CHECK_FALSE(job.lease_expires_at_ms);
  }
  // The worker that held the running job can no longer settle it.
  CHECK_FALSE(f.queue->complete("w1", {running_token, R"("late")"}));
  CHECK(f.queue->fail("w1", {running_token, "late"}) == FailureOutcome::lost_lease);
  CHECK(f.queue->renew("w1", {running_token}, kLease) == std::vector<ClaimToken>{running_token});
  CHECK(f.get(running).state == JobState::canceled);
  CHECK_FALSE(f.get(running).result);
  CHECK(f.queue->cancel_matching({}, 0).empty());
}

TEST_CASE_TEMPLATE("JobQueue: cancel_matching with a state or error filter touches only what the filter and the action allow", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto dead = f.add();
  kill_with(f, dead, "boom");
  auto running = f.add();
  REQUIRE(f.queue->claim("w1", 1, kLease).jobs.size() == 1);
  auto queued = f.add();

  pw::queue::JobFilter dead_only;
  dead_only.state = JobState::dead;
  CHECK(f.queue->cancel_matching(dead_only, 10).empty());
  CHECK(f.get(dead).state == JobState::dead);
  pw::queue::JobFilter running_only;
  running_only.state = JobState::running;
  CHECK(f.queue->cancel_matching(running_only, 10) == std::vector<std::int64_t>{running});
  CHECK(f.get(queued).state == JobState::queued);
  pw::queue::JobFilter since;
  since.created_from_ms = f.clock.now_ms();
  since.error_contains = "boom";
  CHECK(f.queue->cancel_matching(since, 10).empty());
}

TEST_CASE_TEMPLATE("JobQueue: retry_matching queues the newest matching dead and canceled jobs again, at most max", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto dead_old = f.add("a");
  auto dead_new = f.add("a");
  auto dead_other = f.add("b");
  kill_with(f, dead_old, "timeout talking to x");
  kill_with(f, dead_new, "timeout talking to y");
  kill_with(f, dead_other, "timeout talking to z");
  auto canceled_run = f.add("a");
  auto claimed = f.queue->claim("w1", 1, kLease).jobs;
  REQUIRE(claimed.size() == 1);
  REQUIRE(claimed[0].job.id == canceled_run);
  auto old_token = f.token(canceled_run);
  REQUIRE(f.queue->cancel(canceled_run));
  auto succeeded = f.add("a");
  REQUIRE(f.queue->claim("w1", 1, kLease).jobs.size() == 1);
  REQUIRE(f.queue->complete("w1", {f.token(succeeded), "null"}));
  auto queued = f.add("a");
  f.clock.advance_ms(60000);

  pw::queue::JobFilter queued_only;
  queued_only.state = JobState::queued;
  CHECK(f.queue->retry_matching(queued_only, 10).empty());
  pw::queue::JobFilter canceled_only;
  canceled_only.state = JobState::canceled;
  canceled_only.type = "b";
  CHECK(f.queue->retry_matching(canceled_only, 10).empty());
  CHECK(f.get(dead_other).state == JobState::dead);

  pw::queue::JobFilter filter;
  filter.type = "a";
  CHECK(f.queue->retry_matching(filter, 2) == std::vector<std::int64_t>{canceled_run, dead_new});
  CHECK(f.get(dead_old).state == JobState::dead);
  filter.error_contains = "timeout";
  CHECK(f.queue->retry_matching(filter, 1000) == std::vector<std::int64_t>{dead_old});
  CHECK(f.queue->retry_matching(filter, 1000).empty());
  CHECK(f.get(dead_other).state == JobState::dead);
  CHECK(f.get(succeeded).state == JobState::succeeded);
  CHECK(f.get(queued).state == JobState::queued);

  // retry()'s effects, row by row.
  for (auto id : {dead_old, dead_new, canceled_run}) {
    auto job = f.get(id);
    CHECK(job.state == JobState::queued);
    CHECK(job.attempts == 0);
    CHECK(job.run_at_ms == f.clock.now_ms());
    CHECK_FALSE(job.finished_at_ms);
    CHECK_FALSE(job.lease_owner);
    CHECK_FALSE(job.lease_expires_at_ms);
    CHECK_FALSE(job.result);
  }
  CHECK(f.get(dead_old).last_error == "timeout talking to x");
  // The canceled run's worker cannot settle the job it lost, nor the new claim.
  CHECK_FALSE(f.queue->complete("w1", {old_token, R"("old")"}));
  auto again = f.queue->claim("w2", 10, kLease).jobs;
  CHECK(again.size() == 4);  // the three retried, and the queued one
  CHECK_FALSE(f.queue->complete("w1", {old_token, R"("old")"}));
  CHECK(f.queue->complete("w2", {f.token(canceled_run), R"("new")"}));
  CHECK(f.get(canceled_run).result == R"("new")");
}

TEST_CASE_TEMPLATE("JobQueue: remove deletes a job unless it is running", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto running = f.add("noop", -1);
  REQUIRE(f.queue->claim("w1", 1, kLease).jobs.size() == 1);
  auto queued = f.add();
  auto dead = f.add();
  kill_with(f, dead, "x");
  auto canceled = f.add();
  REQUIRE(f.queue->cancel(canceled));

  CHECK(f.queue->remove(running) == pw::queue::RemoveResult::running);
  CHECK(f.get(running).state == JobState::running);
  CHECK(f.queue->remove(queued) == pw::queue::RemoveResult::removed);
  CHECK(f.queue->remove(dead) == pw::queue::RemoveResult::removed);
  CHECK(f.queue->remove(canceled) == pw::queue::RemoveResult::removed);
  CHECK_FALSE(f.queue->find(queued));
  CHECK_FALSE(f.queue->find(dead));
  CHECK_FALSE(f.queue->find(canceled));
  CHECK(f.queue->remove(queued) == pw::queue::RemoveResult::not_found);
  CHECK(f.queue->remove(999999) == pw::queue::RemoveResult::not_found);
  CHECK(f.queue->claim("w1", 5, kLease).jobs.empty());  // the queued one is really gone
  // Once canceled, the running one may go.
  REQUIRE(f.queue->cancel(running));
  CHECK(f.queue->remove(running) == pw::queue::RemoveResult::removed);
  CHECK(f.queue->list({}).empty());
}

TEST_CASE_TEMPLATE("JobQueue: lease_holders names each worker holding running jobs", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  CHECK(f.queue->lease_holders().empty());
  for (int i = 0; i < 4; ++i) f.add();
  const auto t0 = f.clock.now_ms();
  REQUIRE(f.queue->claim("w-b", 1, 10000).jobs.size() == 1);
  f.clock.advance_ms(1000);
  auto later = f.queue->claim("w-b", 1, 30000).jobs;
  REQUIRE(later.size() == 1);
  f.clock.advance_ms(1000);
  auto a_jobs = f.queue->claim("w-a", 2, 5000).jobs;
  REQUIRE(a_jobs.size() == 2);
  // A finished job keeps its owner's name but holds no lease.
  REQUIRE(f.queue->complete("w-a", {pw::queue::token_of(a_jobs[1].job), "null"}));

  auto holders = f.queue->lease_holders();
  REQUIRE(holders.size() == 2);
  CHECK(holders[0].owner == "w-a");
  CHECK(holders[0].running == 1);
  CHECK(holders[0].oldest_started_at_ms == t0 + 2000);
  CHECK(holders[0].next_lease_expiry_ms == t0 + 2000 + 5000);
  CHECK(holders[1].owner == "w-b");
  CHECK(holders[1].running == 2);
  CHECK(holders[1].oldest_started_at_ms == t0);
  CHECK(holders[1].next_lease_expiry_ms == t0 + 10000);
}

TEST_CASE_TEMPLATE("JobQueue: finished_per_minute counts finished jobs by minute and state since a moment", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  // Start on a minute boundary, so the expected minutes are plain sums.
  const std::int64_t m0 = 1'700'000'040'000;
  REQUIRE(m0 % 60000 == 0);
  f.clock.set_ms(m0 - 60000 + 59999);  // the last millisecond of the minute before
  auto early = f.add();
  REQUIRE(f.queue->claim("w1", 1, kLease).jobs.size() == 1);
  REQUIRE(f.queue->complete("w1", {f.token(early), "null"}));
  f.clock.set_ms(m0);
  auto s1 = f.add();
  auto s2 = f.add();
  auto d1 = f.add();
  auto c1 = f.add();
  auto still_queued = f.add();
  REQUIRE(f.queue->claim("w1", 3, kLease).jobs.size() == 3);
  REQUIRE(f.queue->complete("w1", {f.token(s1), "null"}));
  f.clock.advance_ms(59999);
  REQUIRE(f.queue->complete("w1", {f.token(s2), "null"}));
  REQUIRE(f.queue->cancel(c1));
  f.clock.advance_ms(1);  // the next minute
  REQUIRE(f.queue->fail("w1", {f.token(d1), "x", FailureKind::permanent}) == FailureOutcome::dead);

  using pw::queue::FinishedMinute;
  auto as_tuples = [](const std::vector<FinishedMinute>& minutes) {
    std::vector<std::tuple<std::int64_t, std::string, std::int64_t>> out;
    for (const auto& m : minutes) out.emplace_back(m.minute_ms, m.state, m.count);
    return out;
  };
  using Row = std::tuple<std::int64_t, std::string, std::int64_t>;
  CHECK(as_tuples(f.queue->finished_per_minute(m0)) ==
        std::vector<Row>{{m0, "canceled", 1}, {m0, "succeeded", 2}, {m0 + 60000, "dead", 1}});
  CHECK(as_tuples(f.queue->finished_per_minute(m0 - 1)) ==
        std::vector<Row>{{m0 - 60000, "succeeded", 1}, {m0, "canceled", 1}, {m0, "succeeded", 2},
                         {m0 + 60000, "dead", 1}});
  CHECK(as_tuples(f.queue->finished_per_minute(m0 + 60000)) == std::vector<Row>{{m0 + 60000, "dead", 1}});
  CHECK(f.queue->finished_per_minute(m0 + 60001).empty());
  // A retried job is no longer finished.
  REQUIRE(f.queue->retry(d1));
  CHECK(f.queue->finished_per_minute(m0 + 60000).empty());
  CHECK(f.get(still_queued).state == JobState::queued);
}

TEST_CASE_TEMPLATE("JobQueue: active_counts counts queued and running jobs by type and never finished ones", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  using Counts = std::map<std::string, std::map<std::string, std::int64_t>>;
  CHECK(f.queue->active_counts().empty());
  auto ok = f.add("a", -3);
  auto dead = f.add("a", -2);
  auto canceled = f.add("c");
  REQUIRE(f.queue->claim("w1", 2, kLease).jobs.size() == 2);
  REQUIRE(f.queue->complete("w1", {f.token(ok), "null"}));
  REQUIRE(f.queue->fail("w1", {f.token(dead), "x", FailureKind::permanent}) == FailureOutcome::dead);
  REQUIRE(f.queue->cancel(canceled));
  f.add("b", -1);
  REQUIRE(f.queue->claim("w1", 1, kLease).jobs.size() == 1);
  f.add("a");
  f.add("b");
  f.add("b", 0, f.clock.now_ms() + 60'000);  // scheduled: queued, though not yet due

  // Type "c" has only a canceled job: it does not appear at all.
  CHECK(f.queue->active_counts() == Counts{{"a", {{"queued", 1}}}, {"b", {{"running", 1}, {"queued", 2}}}});
  // The same numbers as the full count's active states.
  auto all = f.queue->counts();
  CHECK(all["a"]["queued"] == 1);
  CHECK(all["b"]["queued"] == 2);
  CHECK(all["b"]["running"] == 1);
  // A retried job is active again.
  REQUIRE(f.queue->retry(dead));
  CHECK(f.queue->active_counts() == Counts{{"a", {{"queued", 2}}}, {"b", {{"running", 1}, {"queued", 2}}}});
}

TEST_CASE_TEMPLATE("JobQueue: counts include every finished state, and follow retries and removals", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto ok = f.add("a", -2);
  auto dead = f.add("a", -1);
  auto canceled = f.add("b");
  REQUIRE(f.queue->claim("w1", 2, kLease).jobs.size() == 2);
  REQUIRE(f.queue->complete("w1", {f.token(ok), "null"}));
  REQUIRE(f.queue->fail("w1", {f.token(dead), "x", FailureKind::permanent}) == FailureOutcome::dead);
  REQUIRE(f.queue->cancel(canceled));
  auto running = f.add("b", -5);
  REQUIRE(f.queue->claim("w1", 1, kLease).jobs.size() == 1);
  f.add("b");

  using Counts = std::map<std::string, std::map<std::string, std::int64_t>>;
  CHECK(f.queue->counts() == Counts{{"a", {{"succeeded", 1}, {"dead", 1}}},
                                    {"b", {{"canceled", 1}, {"running", 1}, {"queued", 1}}}});
  REQUIRE(f.queue->retry(dead));
  REQUIRE(f.queue->remove(canceled) == pw::queue::RemoveResult::removed);
  CHECK(f.queue->counts() ==
        Counts{{"a", {{"succeeded", 1}, {"queued", 1}}}, {"b", {{"running", 1}, {"queued", 1}}}});
  CHECK(f.get(running).state == JobState::running);
}
