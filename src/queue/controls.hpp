// Operator controls per job type, kept in the job table's database
// (migration 0011_queue_controls) and obeyed by every claim in its own
// transaction, whichever worker or host makes it:
//
// - A paused type is passed over by claims and the completer's refills; its
//   queued jobs wait, running ones finish.
// - A rate limit lets at most `rate_per_second` jobs of the type be claimed
//   per second across all workers: a token bucket that refills at that rate
//   up to bucket_capacity(), spent by the claims that take the type's jobs
//   under the claim's write lock (SQLite) or the bucket row's lock
//   (PostgreSQL).
//
// What follows is the arithmetic both drivers share; the SQL is in
// job_queue_controls.cpp and postgres_job_queue_controls.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pw::queue {

struct TypeControl {
  std::string type;
  bool paused = false;
  std::optional<double> rate_per_second;  // nothing: no limit
  double tokens = 0;                      // in the bucket at refilled_at_ms
  std::int64_t refilled_at_ms = 0;
  bool held = false;  // the last claim left ready jobs of the type for want of tokens
  std::int64_t updated_at_ms = 0;
};

// A tenth of a second's worth of jobs, at least one: small enough that a
// burst after a quiet spell adds little to the rate over any second, large
// enough that a worker polling every few milliseconds spends whole batches.
double bucket_capacity(double rate_per_second);

// The bucket's tokens at `now_ms`, refilled since refilled_at_ms.
double tokens_at(const TypeControl& control, std::int64_t now_ms);

// When the bucket next holds a whole token (now_ms when it already does).
std::int64_t next_token_ms(const TypeControl& control, std::int64_t now_ms);

// What a claim does with the controls it read, before it takes any job.
struct ClaimPlan {
  // The caller's skip_types, the paused types and every rate-limited type:
  // the ordinary claim passes them all over (the limited ones are claimed
  // apart, `allowance` jobs at most each).
  std::vector<std::string> skip_types;
  struct Limited {
    std::string type;
    int allowance = 0;  // whole tokens now (no more than the claim's limit)
    double tokens = 0;  // fractional tokens now
    bool held = false;  // as stored
  };
  std::vector<Limited> limited;  // unpaused limited types the caller has room for
};
ClaimPlan plan_claim(const std::vector<TypeControl>& controls, const std::vector<std::string>& skip_types,
                     int limit, std::int64_t now_ms);

// next_due_ms() with controls: the types whose queued jobs say nothing of
// when a claim could take one (paused, or held back with an empty bucket),
// and the earliest moment a held-back type gets its next token.
struct DueExclusions {
  std::vector<std::string> types;
  std::optional<std::int64_t> next_token_ms;
};
DueExclusions due_exclusions(const std::vector<TypeControl>& controls, std::int64_t now_ms);

}  // namespace pw::queue
