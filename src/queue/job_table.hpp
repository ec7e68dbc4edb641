// The job table's contract, whatever database holds it: what the worker, the
// API and the operator commands may ask of it. Two implementations, one per
// driver: queue::JobQueue (SQLite, job_queue.hpp, where each operation's
// meaning is spelled out) and queue::PostgresJobQueue. The job table's unit
// tests run every case against both.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "queue/controls.hpp"
#include "queue/job.hpp"

namespace pw::queue {

struct ClaimedJob {
  Job job;  // state running, attempts already counts this claim
};

// A running job whose lease lapsed (its worker presumed dead), found and
// settled by claim(): the lapse counted as a failed attempt.
struct ExpiredLease {
  std::int64_t job_id = 0;
  std::string type;
  std::optional<std::string> trace_id;
  std::string previous_owner;
  std::int64_t claim = 0;  // the lapsed claim
  int attempts = 0;
  int max_attempts = 0;
  bool dead = false;  // out of attempts; otherwise queued again
  std::int64_t overdue_ms = 0;  // how long ago the lease ran out
  // How long past its end the lease was still taken as held: the time the
  // judging worker could not write lately (SQLite; 0 on PostgreSQL).
  std::int64_t grace_ms = 0;
};

struct ClaimResult {
  std::vector<ClaimedJob> jobs;  // in claim order: priority, run_at, id
  std::vector<ExpiredLease> expired;
  // Types whose ready jobs this claim left for want of rate-limit tokens
  // (controls.hpp): each one jobs_rate_limited_total{type} for the worker.
  std::vector<std::string> rate_limited;
};

enum class FailureKind { retryable, permanent };

// What became of a failed attempt.
enum class FailureOutcome { requeued, dead, lost_lease };

struct Completion {
  ClaimToken token;
  std::string result = "null";  // JSON text
};

struct Failure {
  ClaimToken token;
  std::string error;
  FailureKind kind = FailureKind::retryable;
};

struct JobFilter {
  std::optional<JobState> state;
  std::optional<std::string> type;
  std::optional<std::int64_t> user_id;
  std::optional<std::int64_t> before_id;  // pagination: ids smaller than this
  std::optional<std::int64_t> created_from_ms;    // created_at >= this
  std::optional<std::int64_t> created_before_ms;  // created_at < this
  std::optional<std::string> error_contains;      // literal substring of last_error
  std::optional<std::string> trace_id;
  int limit = 50;
};

enum class RemoveResult { removed, not_found, running };

// A worker that holds leases now: the running jobs naming it as lease owner.
struct LeaseHolder {
  std::string owner;
  std::int64_t running = 0;
  std::int64_t oldest_started_at_ms = 0;
  std::int64_t next_lease_expiry_ms = 0;
};

// Jobs that finished in one minute, by final state.
struct FinishedMinute {
  std::int64_t minute_ms = 0;  // start of the minute
  std::string state;
  std::int64_t count = 0;
};

// The message recorded on a job whose lease expired.
inline constexpr const char* kLeaseExpiredError = "lease expired (worker presumed dead)";

// The payload a job is stored with, the same on every driver: it must be
// JSON (std::invalid_argument otherwise), and the request id travels in it as
// `trace_id`. Nothing when the payload goes in as given (no trace id, or not
// an object), so the common case copies nothing.
std::optional<std::string> payload_to_store(const NewJob& job);

// The states a uniqueness window names (all five when it names none), as
// text, each once. std::invalid_argument for an empty key or a duration that
// is not positive, so both drivers refuse the same windows.
std::vector<std::string> unique_states(const Uniqueness& unique);

// RETURNING gives rows in no promised order; jobs are handed out in claim
// order (priority, run_at, id).
void sort_in_claim_order(ClaimResult& result);

class JobTable {
 public:
  virtual ~JobTable() = default;

  virtual EnqueueResult enqueue(const NewJob& job) = 0;
  // For callers that hold a write transaction on the same connection (a
  // storage::Session's): the job commits, or vanishes, with their rows.
  virtual EnqueueResult enqueue_in_transaction(const NewJob& job) = 0;
  virtual std::vector<EnqueueResult> enqueue_many(const std::vector<NewJob>& jobs) = 0;

  virtual ClaimResult claim(const std::string& owner, int limit, std::int64_t lease_ms) = 0;
  // claim() passing over ready jobs of `skip_types` (types a worker has no
  // room for): they keep their place in line for whoever has room.
  virtual ClaimResult claim(const std::string& owner, int limit, std::int64_t lease_ms,
                            const std::vector<std::string>& skip_types) = 0;
  virtual std::vector<ClaimToken> renew(const std::string& owner, const std::vector<ClaimToken>& claims,
                                        std::int64_t lease_ms) = 0;
  // Of these claims, the ones whose job was canceled while they ran (a
  // cancel keeps the claim number): a read, cheap enough for the worker to
  // ask several times a second, so a cancel reaches a running handler
  // promptly rather than at the next renewal.
  virtual std::vector<ClaimToken> canceled_claims(const std::vector<ClaimToken>& claims) = 0;

  virtual bool complete(const std::string& owner, const Completion& completion) = 0;
  virtual std::vector<bool> complete_many(const std::string& owner, const std::vector<Completion>& completions) = 0;
  virtual FailureOutcome fail(const std::string& owner, const Failure& failure) = 0;
  virtual std::vector<FailureOutcome> fail_many(const std::string& owner, const std::vector<Failure>& failures) = 0;
  virtual std::size_t release(const std::string& owner, const std::vector<ClaimToken>& claims) = 0;

  struct Refill {
    int limit = 0;
    std::int64_t lease_ms = 0;
    std::vector<std::string> skip_types;  // as claim()'s
  };
  struct Outcomes {
    std::vector<bool> completed;
    std::vector<FailureOutcome> failed;
    std::vector<bool> released;
    ClaimResult claimed;
  };
  virtual Outcomes settle(const std::string& owner, const std::vector<Completion>& completions,
                          const std::vector<Failure>& failures, const std::vector<ClaimToken>& releases,
                          const Refill& refill) = 0;

  virtual bool cancel(std::int64_t job_id) = 0;
  virtual bool retry(std::int64_t job_id) = 0;
  // Deletes a job that is not running (a running one must be canceled first).
  virtual RemoveResult remove(std::int64_t job_id) = 0;
  // cancel()/retry() for up to `max` jobs matching `filter` (its limit and
  // before_id ignored), newest first, in one transaction; only jobs whose
  // state allows the action are touched. Returns the ids changed.
  virtual std::vector<std::int64_t> cancel_matching(const JobFilter& filter, int max) = 0;
  virtual std::vector<std::int64_t> retry_matching(const JobFilter& filter, int max) = 0;

  virtual std::optional<Job> find(std::int64_t job_id) = 0;
  virtual std::vector<Job> list(const JobFilter& filter) = 0;
  virtual std::map<std::string, std::map<std::string, std::int64_t>> counts() = 0;
  // counts() for the active states only (queued, running), type -> state ->
  // count: read from the partial indexes of queued (jobs_ready_by_type on SQLite,
  // jobs_due on PostgreSQL) and running jobs (jobs_leases), so its
  // cost follows the backlog, not the table (finished rows are never read).
  virtual std::map<std::string, std::map<std::string, std::int64_t>> active_counts() = 0;
  virtual std::map<std::string, std::int64_t> ready_counts() = 0;
  virtual std::map<std::string, double> oldest_ready_age_seconds() = 0;
  virtual std::optional<std::int64_t> next_due_ms() = 0;
  virtual std::vector<LeaseHolder> lease_holders() = 0;
  // Finished jobs per minute and state since since_ms (finished_at >= it), oldest first.
  virtual std::vector<FinishedMinute> finished_per_minute(std::int64_t since_ms) = 0;

  virtual std::int64_t prune(std::int64_t retention_ms, int batch = 1000) = 0;

  // Operator controls per type (controls.hpp), by type. A pause or a limit
  // set here is obeyed by the next claim of every worker.
  virtual std::vector<TypeControl> controls() = 0;
  virtual void set_paused(const std::string& type, bool paused) = 0;
  // Nothing removes the limit. A new limit starts with a full bucket.
  virtual void set_rate_limit(const std::string& type, std::optional<double> per_second) = 0;
};

}  // namespace pw::queue
