// canceled_claims(): which of a worker's claims in hand were canceled while
// they ran, the read behind prompt cancellation. On both drivers.
#include <doctest/doctest.h>

#include <algorithm>

#include "unit/queue/queue_fixture.hpp"

using pw::queue::ClaimToken;

TEST_CASE_TEMPLATE("JobQueue: canceled_claims names exactly the claims whose job was canceled, not an older or newer claim of it", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  f.add();
  const auto b = f.add();
  f.add();
  auto claimed = f.queue->claim("w", 3, 30000);
  REQUIRE(claimed.jobs.size() == 3);
  std::vector<ClaimToken> held;
  for (const auto& job : claimed.jobs) held.push_back(pw::queue::token_of(job.job));
  CHECK(f.queue->canceled_claims(held).empty());
  CHECK(f.queue->canceled_claims({}).empty());

  REQUIRE(f.queue->cancel(b));
  auto canceled = f.queue->canceled_claims(held);
  REQUIRE(canceled.size() == 1);
  CHECK(canceled.front().job_id == b);
  CHECK(canceled.front().claim == f.get(b).claim);

  // A claim number the job does not have now is not this cancel's.
  CHECK(f.queue->canceled_claims({{b, f.get(b).claim + 1}, {b, f.get(b).claim - 1}}).empty());
  // Retried and claimed again: the old claim is no longer "canceled" (its
  // renewal reports it lost), and the new one runs.
  REQUIRE(f.queue->retry(b));
  auto again = f.queue->claim("w", 1, 30000);
  REQUIRE(again.jobs.size() == 1);
  CHECK(f.queue->canceled_claims(held).empty());
  CHECK(f.queue->canceled_claims({pw::queue::token_of(again.jobs.front().job)}).empty());
}
