// The job table's contract. Every SQL statement about jobs lives in
// src/queue/. A JobQueue works on one connection, owned by one thread; it is
// cheap to construct (statements are prepared on first use and then cached
// for the life of the JobQueue, so a long-lived one never recompiles them).
//
// Writes run in BEGIN IMMEDIATE transactions (db::write): the write lock is
// taken up front, so concurrent writers queue on the busy timeout instead of
// failing. Methods throw db::Error only for real database failures.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "db/connection.hpp"
#include "queue/clock.hpp"
#include "queue/job.hpp"
#include "queue/job_table.hpp"
#include "queue/lock_waits.hpp"

namespace pw::queue {

// The job table on SQLite (see job_table.hpp for the contract both drivers keep).
class JobQueue final : public JobTable {
 public:
  JobQueue(db::Connection& connection, const Clock& clock, config::RetryConfig retry);
  // On a connection of its own, closed with the queue.
  JobQueue(std::unique_ptr<db::Connection> connection, const Clock& clock, config::RetryConfig retry);
  ~JobQueue() override;
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  // Runs in its own write transaction. Throws std::invalid_argument when the
  // payload is not valid JSON (nothing is written).
  EnqueueResult enqueue(const NewJob& job) override;
  // For callers that already hold a db::WriteTransaction on this connection
  // and want the job to commit or roll back with their own writes.
  EnqueueResult enqueue_in_transaction(const NewJob& job) override;
  // All in one transaction: all or nothing.
  std::vector<EnqueueResult> enqueue_many(const std::vector<NewJob>& jobs) override;

  // In one transaction: first settles running jobs whose lease lapsed (the
  // lapse counts as a failed attempt: queued again, keeping their place in
  // line, or dead when out of attempts), then claims up to `limit` ready jobs
  // (queued and run_at <= now) in order of priority, run_at, id, with a lease
  // for `owner` until now + lease_ms.
  //
  // A lease lapsed when it expired before now - grace. The grace is 0 unless
  // this process could not write for a while lately (lock_waits): then it
  // is the time it could not write during the last lease_ms * 4/3 (this
  // transaction's own wait for the lock included), plus one renewal period
  // (lease_ms / 3), so live owners, whose renewals waited for the same lock,
  // get a full renewal period after the lock frees before anyone judges them.
  ClaimResult claim(const std::string& owner, int limit, std::int64_t lease_ms) override;
  ClaimResult claim(const std::string& owner, int limit, std::int64_t lease_ms,
                    const std::vector<std::string>& skip_types) override;

  // Lapses are then judged with the grace `waits` holds (see claim()), and
  // the queue's connection reports each stretch it waited for the write lock
  // or held it there (db::HoldObserver), as the process's other connections
  // do. Without it, the grace is 0.
  void observe_lock_waits(LockWaits& waits);

  // Extends the leases of the claims `owner` still holds among `claims` to
  // now + lease_ms, in one statement; returns the claims no longer held
  // (canceled, taken over after a lapse, or superseded by a newer claim).
  std::vector<ClaimToken> renew(const std::string& owner, const std::vector<ClaimToken>& claims,
                                std::int64_t lease_ms) override;
  std::vector<ClaimToken> canceled_claims(const std::vector<ClaimToken>& claims) override;

  // Each guarded by state = running, the claim token and lease_owner = owner:
  // a run whose claim was superseded (its lease lapsed and the job was
  // claimed again, even by the same worker; or it was canceled and retried)
  // cannot overwrite the outcome of the claim that replaced it.
  // complete: true when applied. complete_many: one flag per completion.
  bool complete(const std::string& owner, const Completion& completion) override;
  std::vector<bool> complete_many(const std::string& owner, const std::vector<Completion>& completions) override;
  // A retryable failure goes back to queued after backoff_ms(attempts), or to
  // dead once attempts reach max_attempts; a permanent one goes to dead.
  FailureOutcome fail(const std::string& owner, const Failure& failure) override;
  std::vector<FailureOutcome> fail_many(const std::string& owner, const std::vector<Failure>& failures) override;
  // Hands unfinished jobs back to queued without charging the attempt
  // (shutdown). Returns how many were handed back.
  std::size_t release(const std::string& owner, const std::vector<ClaimToken>& claims) override;

  // All of a worker's outcomes in one transaction (the worker's batched
  // completer), and optionally a claim of up to `refill.limit` jobs for the
  // room they free, exactly as claim() would: one commit where a busy worker
  // would otherwise need two. Any vector may be empty.
  Outcomes settle(const std::string& owner, const std::vector<Completion>& completions,
                  const std::vector<Failure>& failures, const std::vector<ClaimToken>& releases,
                  const Refill& refill) override;

  // Operator actions. cancel: queued or running -> canceled. retry: dead or
  // canceled -> queued now, with a fresh attempt budget. Return false when
  // the job is not in a state that allows it (or does not exist).
  bool cancel(std::int64_t job_id) override;
  bool retry(std::int64_t job_id) override;
  // Deletes a job unless it is running (its worker would lose track of it).
  RemoveResult remove(std::int64_t job_id) override;
  // cancel()/retry() on up to `max` jobs matching the filter, newest first,
  // with exactly their per-row effects, in one write transaction. A canceled
  // running job keeps its claim but leaves state running, so its worker's
  // guarded outcome no longer applies.
  std::vector<std::int64_t> cancel_matching(const JobFilter& filter, int max) override;
  std::vector<std::int64_t> retry_matching(const JobFilter& filter, int max) override;

  std::optional<Job> find(std::int64_t job_id) override;
  // Newest first. error_contains is a literal substring (no wildcards).
  std::vector<Job> list(const JobFilter& filter) override;

  // type -> state -> count
  std::map<std::string, std::map<std::string, std::int64_t>> counts() override;
  std::map<std::string, std::map<std::string, std::int64_t>> active_counts() override;
  // type -> number of ready jobs (queued and due)
  std::map<std::string, std::int64_t> ready_counts() override;
  // type -> age in seconds of the oldest ready job (how long it has been due)
  std::map<std::string, double> oldest_ready_age_seconds() override;

  // The earliest moment something becomes claimable without any commit
  // announcing it: the first queued job's run_at or running job's lease
  // expiry. It may already have passed (it came due after the caller's last
  // claim read the clock); the caller should then claim at once. Nothing
  // when there is neither.
  std::optional<std::int64_t> next_due_ms() override;

  // The owners of running jobs, by owner.
  std::vector<LeaseHolder> lease_holders() override;
  std::vector<FinishedMinute> finished_per_minute(std::int64_t since_ms) override;

  // SQLite's PRAGMA data_version on this connection: changes whenever another
  // connection commits. A cheap "is there anything new?" check for idle workers.
  std::int64_t data_version();

  // Deletes succeeded/dead/canceled jobs finished before now - retention_ms,
  // in batches of `batch` rows, each its own short transaction, so it never
  // holds the write lock for long. Returns the number deleted.
  std::int64_t prune(std::int64_t retention_ms, int batch = 1000) override;

  // Operator controls (job_queue_controls.cpp): each its own write transaction.
  std::vector<TypeControl> controls() override;
  void set_paused(const std::string& type, bool paused) override;
  void set_rate_limit(const std::string& type, std::optional<double> per_second) override;

  // Backoff before attempt `attempts + 1`: full jitter over
  // min(cap, base * 2^(attempts-1)). `random01` in [0, 1).
  static std::int64_t backoff_ms(const config::RetryConfig& retry, int attempts, double random01);

 private:
  std::vector<std::string> finished_types();
  struct Statements;
  FailureOutcome fail_in_transaction(const std::string& owner, const Failure& failure, std::int64_t now);
  void claim_in_transaction(const std::string& owner, int limit, std::int64_t lease_ms, std::int64_t now,
                            LockWaits::Instant asked_for_lock_at, ClaimResult& result,
                            const std::vector<std::string>& skip_types = {});
  void settle_in_transaction(const std::string& owner, const std::vector<Completion>& completions,
                             const std::vector<Failure>& failures, const std::vector<ClaimToken>& releases,
                             const Refill& refill, LockWaits::Instant asked_for_lock_at, Outcomes& outcomes);
  // The claim when some types are passed over (job_queue.cpp).
  void claim_passing_over(const std::string& owner, int limit, std::int64_t lease_ms, std::int64_t now,
                          const std::vector<std::string>& skip, ClaimResult& result);
  // Claims the rate-limited types' jobs their buckets allow and spends the
  // tokens; false (and nothing done) when no type has a control. Otherwise
  // `skip` is what the rest of the claim passes over (see ClaimPlan).
  bool claim_controlled(const std::string& owner, int limit, std::int64_t lease_ms, std::int64_t now,
                        const std::vector<std::string>& skip_types, ClaimResult& result,
                        std::vector<std::string>& skip);
  std::vector<TypeControl> read_controls();
  // next_due_ms() when some type has a control (see controls.hpp).
  std::optional<std::int64_t> next_due_controlled(const std::vector<TypeControl>& controls);
  std::int64_t lapse_grace_ms(std::int64_t lease_ms, LockWaits::Instant asked_for_lock_at) const;

  std::unique_ptr<db::Connection> m_owned;  // before m_connection, which may refer to it
  db::Connection& m_connection;
  const Clock& m_clock;
  config::RetryConfig m_retry;
  std::unique_ptr<Statements> m_statements;
  LockWaits* m_lock_waits = nullptr;
};

}  // namespace pw::queue
