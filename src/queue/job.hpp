// What a job is: the row of the job table, as the rest of the system sees it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pw::queue {

// queued -> running -> succeeded; a failed attempt goes back to queued with a
// backoff until max_attempts, then dead; canceled on request.
enum class JobState { queued, running, succeeded, dead, canceled };

std::string_view to_string(JobState state);
std::optional<JobState> parse_job_state(std::string_view text);

// A uniqueness window: while a job of the same type and key is in the
// window, enqueueing returns that job (EnqueueResult{id, created = false})
// instead of inserting another. A job is in the window when it is in one of
// `states` (all five when empty) and, if `for_ms` is given, was created less
// than for_ms ago. Unlike an idempotency key, which is unique for as long as
// its row lives, the key may be used again once no job holds the window:
// "at most one world.simulate per world queued or running" is
// {key "world:42", states {queued, running}}. The check and the insert are
// atomic on both drivers (see docs/job-queue.md, "Uniqueness windows").
struct Uniqueness {
  std::string key;
  std::optional<std::int64_t> for_ms;  // > 0
  std::vector<JobState> states;        // empty: any state
};

struct NewJob {
  std::string type;
  std::string payload = "{}";  // JSON text
  std::optional<std::string> trace_id;
  std::optional<std::int64_t> user_id;  // the user who asked for it, if any
  int priority = 0;                     // smaller runs first
  std::optional<int> max_attempts;      // default: RetryConfig::default_max_attempts
  std::optional<std::int64_t> run_at_ms;  // default: now
  std::optional<std::string> idempotency_key;
  std::optional<Uniqueness> unique;
};

struct Job {
  std::int64_t id = 0;
  std::string type;
  std::string payload;
  std::optional<std::string> trace_id;
  std::optional<std::int64_t> user_id;
  int priority = 0;
  JobState state = JobState::queued;
  int attempts = 0;  // claims so far, including the running one
  int max_attempts = 0;
  std::int64_t run_at_ms = 0;
  std::optional<std::string> lease_owner;  // holder of a running job; who finished a finished one
  std::optional<std::int64_t> lease_expires_at_ms;
  std::optional<std::string> last_error;
  std::optional<std::string> result;  // JSON text
  std::optional<std::string> idempotency_key;
  // The key of its uniqueness window (NewJob::unique), if it was enqueued
  // with one. Read by find() and list(), for operators; claims leave it out.
  std::optional<std::string> unique_key;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::optional<std::int64_t> started_at_ms;  // when the latest attempt was claimed
  std::optional<std::int64_t> finished_at_ms;
  // Claims of this job so far (never reset, not even by a retry): the
  // latest claim's fencing token.
  std::int64_t claim = 0;
};

// What a job's recorded error means to a reader. Every failed attempt
// records its error in last_error, and a later attempt that succeeds leaves
// it there: for a succeeded job it is history, not the outcome.
struct JobErrors {
  std::optional<std::string> last_error;     // the error that stands: none once the job succeeded
  std::optional<std::string> earlier_error;  // a succeeded job's last failed attempt, if any
};

inline JobErrors errors_of(const Job& job) {
  if (job.state == JobState::succeeded) return {std::nullopt, job.last_error};
  return {job.last_error, std::nullopt};
}

// One claim of one job. Every change a worker makes to a job it claimed is
// guarded by this token, so no other claim's run can touch it.
struct ClaimToken {
  std::int64_t job_id = 0;
  std::int64_t claim = 0;
  friend bool operator==(const ClaimToken&, const ClaimToken&) = default;
  friend auto operator<=>(const ClaimToken&, const ClaimToken&) = default;
};

inline ClaimToken token_of(const Job& job) { return {job.id, job.claim}; }

struct EnqueueResult {
  std::int64_t id;
  bool created;  // false when the idempotency key named an existing job
};

}  // namespace pw::queue
