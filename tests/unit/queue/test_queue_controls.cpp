// Queue controls (queue/controls.hpp): paused types and rate limits, obeyed
// by claims and refills. Every case runs on both drivers; time is a
// ManualClock, so the token bucket is measured over simulated seconds.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "unit/queue/queue_fixture.hpp"

using pw::queue::ClaimResult;
using pw::queue::Completion;
using pw::queue::JobTable;

namespace {

constexpr std::int64_t kLease = 30000;

std::map<std::string, int> types_of(const ClaimResult& claimed) {
  std::map<std::string, int> out;
  for (const auto& job : claimed.jobs) ++out[job.job.type];
  return out;
}

bool held_back(const ClaimResult& claimed, const std::string& type) {
  return std::find(claimed.rate_limited.begin(), claimed.rate_limited.end(), type) != claimed.rate_limited.end();
}

}  // namespace

TEST_CASE("queue controls: bucket arithmetic: refills at the rate up to a tenth of a second's worth, at least one job") {
  pw::queue::TypeControl control;
  control.rate_per_second = 50;
  control.tokens = 0;
  control.refilled_at_ms = 1000;
  CHECK(pw::queue::bucket_capacity(50) == doctest::Approx(5));
  CHECK(pw::queue::bucket_capacity(2) == doctest::Approx(1));
  CHECK(pw::queue::tokens_at(control, 1000) == doctest::Approx(0));
  CHECK(pw::queue::tokens_at(control, 1020) == doctest::Approx(1));
  CHECK(pw::queue::tokens_at(control, 5000) == doctest::Approx(5));
  // A clock that went back refills nothing.
  CHECK(pw::queue::tokens_at(control, 500) == doctest::Approx(0));
  CHECK(pw::queue::next_token_ms(control, 1000) == 1020);
  CHECK(pw::queue::next_token_ms(control, 1030) == 1030);
}

TEST_CASE("queue controls: rate limits as operators write them") {
  using pw::config::parse_rate_limit;
  CHECK(parse_rate_limit("50") == std::optional<std::optional<double>>(50.0));
  CHECK(parse_rate_limit("0.5") == std::optional<std::optional<double>>(0.5));
  CHECK(parse_rate_limit("off") == std::optional<std::optional<double>>(std::optional<double>{}));
  CHECK(parse_rate_limit("0") == std::optional<std::optional<double>>(std::optional<double>{}));
  CHECK_FALSE(parse_rate_limit("-1").has_value());
  CHECK_FALSE(parse_rate_limit("").has_value());
  CHECK_FALSE(parse_rate_limit("fast").has_value());
  CHECK_FALSE(parse_rate_limit("50/s").has_value());
  CHECK_FALSE(parse_rate_limit("0.0001").has_value());
  CHECK_FALSE(parse_rate_limit("nan").has_value());
}

TEST_CASE_TEMPLATE("queue controls: a paused type is not claimed, its running jobs settle, and after resume it is claimed in its place in line", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  const auto running = f.add("noop");
  auto first = f.queue->claim("w1", 1, kLease);
  REQUIRE(first.jobs.size() == 1);
  const auto a = f.add("noop");
  const auto b = f.add("noop");
  const auto c = f.add("sleep");
  f.queue->set_paused("noop", true);
  auto controls = f.queue->controls();
  REQUIRE(controls.size() == 1);
  CHECK(controls[0].type == "noop");
  CHECK(controls[0].paused);
  CHECK_FALSE(controls[0].rate_per_second.has_value());

  auto claimed = f.queue->claim("w2", 10, kLease);
  REQUIRE(claimed.jobs.size() == 1);
  CHECK(claimed.jobs[0].job.id == c);
  // Queued noop jobs are due at no time while paused: only the leases are.
  CHECK(f.queue->next_due_ms() == f.clock.now_ms() + kLease);
  // The running one finishes as usual.
  CHECK(f.queue->complete("w1", Completion{f.token(running), "null"}));
  f.clock.advance_ms(60000);
  CHECK(types_of(f.queue->claim("w2", 10, kLease)).count("noop") == 0);
  CHECK(f.get(a).state == pw::queue::JobState::queued);

  f.queue->set_paused("noop", false);
  CHECK(f.queue->controls().empty());  // a row with nothing in force goes
  auto resumed = f.queue->claim("w2", 10, kLease);
  REQUIRE(resumed.jobs.size() == 2);
  CHECK(resumed.jobs[0].job.id == a);
  CHECK(resumed.jobs[1].job.id == b);
}

TEST_CASE_TEMPLATE("queue controls: the completer's refill honours a pause", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  const auto a = f.add("noop");
  f.add("noop");
  f.add("noop");
  auto first = f.queue->claim("w1", 1, kLease);
  REQUIRE(first.jobs.size() == 1);
  CHECK(first.jobs[0].job.id == a);
  f.queue->set_paused("noop", true);
  auto outcomes = f.queue->settle("w1", {Completion{f.token(a), "null"}}, {}, {}, JobTable::Refill{5, kLease, {}});
  CHECK(outcomes.completed == std::vector<bool>{true});
  CHECK(outcomes.claimed.jobs.empty());
  f.queue->set_paused("noop", false);
  auto refilled = f.queue->settle("w1", {}, {}, {}, JobTable::Refill{5, kLease, {}});
  CHECK(refilled.claimed.jobs.size() == 2);
}

TEST_CASE_TEMPLATE("queue controls: a rate limit of 50/s lets two workers together claim 50 jobs per simulated second, no more", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  auto other = f.other();
  std::vector<pw::queue::NewJob> jobs(800);
  for (std::size_t i = 0; i < jobs.size(); ++i) jobs[i].type = i < 700 ? "noop" : "sleep";
  f.queue->enqueue_many(jobs);
  f.queue->set_rate_limit("noop", 50.0);
  auto controls = f.queue->controls();
  REQUIRE(controls.size() == 1);
  CHECK(controls[0].rate_per_second == doctest::Approx(50));
  CHECK_FALSE(controls[0].paused);

  const std::int64_t start = f.clock.now_ms();
  std::vector<std::int64_t> noop_claims_at;  // simulated ms of each noop claimed
  int sleeps = 0;
  int held = 0;
  // 10 simulated seconds, both workers asking every 20 ms for up to 8 jobs.
  for (std::int64_t step = 0; step < 500; ++step) {
    for (JobTable* worker : {static_cast<JobTable*>(f.queue.get()), static_cast<JobTable*>(other.queue.get())}) {
      auto claimed = worker->claim(worker == f.queue.get() ? "w1" : "w2", 8, kLease);
      for (const auto& job : claimed.jobs) {
        if (job.job.type == "noop") {
          noop_claims_at.push_back(f.clock.now_ms() - start);
        } else {
          ++sleeps;
        }
      }
      if (held_back(claimed, "noop")) ++held;
    }
    f.clock.advance_ms(20);
  }
  // A full bucket (5) at the start, then 50 per second.
  CHECK(noop_claims_at.size() >= 500);
  CHECK(noop_claims_at.size() <= 505);
  // Over any second, at most the rate plus the bucket.
  for (std::size_t i = 0; i < noop_claims_at.size(); ++i) {
    auto window_end = std::lower_bound(noop_claims_at.begin(), noop_claims_at.end(), noop_claims_at[i] + 1000);
    CHECK(window_end - (noop_claims_at.begin() + static_cast<std::ptrdiff_t>(i)) <= 55);
  }
  // The limit held back noop alone: every other job was claimed.
  CHECK(sleeps == 100);
  CHECK(held > 0);

  // Off: the rest at once.
  f.queue->set_rate_limit("noop", std::nullopt);
  CHECK(f.queue->controls().empty());
  CHECK(f.queue->claim("w1", 1000, kLease).jobs.size() == 700 - noop_claims_at.size());
}

TEST_CASE_TEMPLATE("queue controls: a held-back type is due when its next token arrives, and a worker without room spends no token", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  f.add("noop");
  f.add("noop");
  f.add("noop");
  f.queue->set_rate_limit("noop", 2.0);  // a bucket of one job, a token every 500 ms
  // A worker with no room for noop leaves the bucket as it was.
  auto passing = f.queue->claim("w1", 10, kLease, {"noop"});
  CHECK(passing.jobs.empty());
  CHECK(passing.rate_limited.empty());

  auto first = f.queue->claim("w1", 10, kLease);
  CHECK(first.jobs.size() == 1);
  CHECK(held_back(first, "noop"));
  const std::int64_t now = f.clock.now_ms();
  // Not "due now" (the jobs are ready, but no claim could take one), nor
  // never: when the next token arrives (before the lease expiry).
  CHECK(f.queue->next_due_ms() == now + 500);
  f.clock.advance_ms(499);
  CHECK(f.queue->claim("w2", 10, kLease).jobs.empty());
  f.clock.advance_ms(1);
  CHECK(f.queue->claim("w2", 10, kLease).jobs.size() == 1);
  f.clock.advance_ms(500);
  auto last = f.queue->claim("w2", 10, kLease);
  CHECK(last.jobs.size() == 1);
  // The bucket is empty but nothing is left: nothing held back, nothing due
  // but the leases.
  CHECK_FALSE(held_back(last, "noop"));
  CHECK(f.queue->next_due_ms() == now + kLease);
}

TEST_CASE_TEMPLATE("queue controls: a paused type's rate limit spends nothing, and pause and limit are kept apart", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  f.add("noop");
  f.queue->set_rate_limit("noop", 10.0);
  f.queue->set_paused("noop", true);
  CHECK(f.queue->claim("w1", 10, kLease).jobs.empty());
  // Resuming keeps the limit; lifting the limit keeps nothing else in force.
  f.queue->set_paused("noop", false);
  auto controls = f.queue->controls();
  REQUIRE(controls.size() == 1);
  CHECK_FALSE(controls[0].paused);
  CHECK(controls[0].rate_per_second == doctest::Approx(10));
  CHECK(f.queue->claim("w1", 10, kLease).jobs.size() == 1);
  f.queue->set_rate_limit("noop", std::nullopt);
  CHECK(f.queue->controls().empty());
}
