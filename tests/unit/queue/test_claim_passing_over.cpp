// A claim that passes over some types (a worker holding a type's limit; the
// queue controls): it reads each other type's ready jobs from
// jobs_ready_by_type and merges them, so it must hand out exactly what one
// walk of the whole line in claim order would, minus the types passed over.
// On both drivers, as a claim and as the refill riding on a settle.
#include <doctest/doctest.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "unit/queue/queue_fixture.hpp"

namespace {

constexpr std::int64_t kLease = 30000;

std::vector<std::int64_t> ids_of(const pw::queue::ClaimResult& claimed) {
  std::vector<std::int64_t> ids;
  for (const auto& claim : claimed.jobs) ids.push_back(claim.job.id);
  return ids;
}

}  // namespace

TEST_CASE_TEMPLATE("JobQueue: a claim passing over types takes the other types' jobs in claim order across them (priority, run_at, id), none scheduled later", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  const std::int64_t now = f.clock.now_ms();
  // The passed-over type heads the line, as it does when a type stays full.
  std::vector<std::int64_t> slow;
  for (int i = 0; i < 50; ++i) slow.push_back(f.add("webhook.deliver"));
  const auto a_late = f.add("a", 0, now - 1000);
  const auto b_urgent = f.add("b", -5);
  const auto c_first = f.add("c", 0, now - 5000);
  const auto a_plain = f.add("a");
  const auto b_plain = f.add("b");
  f.add("b", 0, now + 60000);  // not due: never claimed now
  const auto c_plain = f.add("c");

  auto first = f.queue->claim("w1", 4, kLease, {"webhook.deliver"});
  CHECK(ids_of(first) == std::vector<std::int64_t>{b_urgent, c_first, a_late, a_plain});
  for (const auto& claim : first.jobs) CHECK(claim.job.state == pw::queue::JobState::running);

  // The rest come through a settle's refill the same way; the job not yet
  // due stays, and so do the passed-over ones.
  auto settled = f.queue->settle("w1", {{f.token(b_urgent), "null"}}, {}, {},
                                 {.limit = 10, .lease_ms = kLease, .skip_types = {"webhook.deliver", "a"}});
  CHECK(ids_of(settled.claimed) == std::vector<std::int64_t>{b_plain, c_plain});
  CHECK(f.get(b_urgent).state == pw::queue::JobState::succeeded);
  for (auto id : slow) CHECK(f.get(id).state == pw::queue::JobState::queued);

  // Nothing of any other type left: an empty claim, and the line as it was.
  CHECK(f.queue->claim("w2", 10, kLease, {"webhook.deliver"}).jobs.empty());
  // Without anything passed over, the head of the line goes first.
  auto plain = f.queue->claim("w2", 2, kLease);
  CHECK(ids_of(plain) == std::vector<std::int64_t>{slow[0], slow[1]});
}

TEST_CASE_TEMPLATE("JobQueue: a claim passing over every type there is takes nothing, and one passing over an unknown type is an ordinary claim", F, pw::test::QueueFixture, pw::test::PostgresQueueFixture) {
  F f;
  const auto a = f.add("a");
  const auto b = f.add("b");
  CHECK(f.queue->claim("w1", 10, kLease, {"a", "b"}).jobs.empty());
  CHECK(f.get(a).state == pw::queue::JobState::queued);
  auto claimed = f.queue->claim("w1", 10, kLease, {"no.such.type"});
  CHECK(ids_of(claimed) == std::vector<std::int64_t>{a, b});
}
