// The job table's contract (queue/job_queue.hpp) on PostgreSQL: the same
// states, fencing and outcomes, in PostgreSQL's SQL. Like the SQLite queue it
// works on one connection owned by one thread; every statement is prepared
// once per connection.
//
// What differs, and why:
// - Claims take ready rows with FOR UPDATE SKIP LOCKED in one statement:
//   workers on many hosts claim side by side, never the same row, and never
//   wait for each other (there is no database-wide write lock to queue on).
// - Outcomes are settled many at once: each kind is one statement over
//   arrays (unnest), guarded per row by state, owner and claim token.
// - "Now" is the server's clock (pw_now_ms(), migrations/postgres/0001) unless
//   the queue was given a clock that is not the real one (tests): leases and
//   due times then agree across hosts whose clocks do not.
// - A transaction that loses a race (serialization failure, deadlock) is run
//   again, a few times, before its db::Error (busy) reaches the caller.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "db/postgres/connection.hpp"
#include "queue/clock.hpp"
#include "queue/job.hpp"
#include "queue/job_table.hpp"

namespace pw::queue {

// The channel on which a job due now is announced (NOTIFY, sent by the
// enqueueing transaction, so only on commit); idle workers LISTEN on it.
inline constexpr const char* kJobsChannel = "pw_jobs";

// At most one notification per `interval` from one process, shared by all
// its queues: under a stream of enqueues one notification wakes every idle
// worker, and what is enqueued in between is claimed with the next one (or
// by the workers' fallback poll when nothing follows).
class NotifyLimiter {
 public:
  explicit NotifyLimiter(std::chrono::milliseconds interval) : m_interval(interval) {}
  bool admit();

 private:
  std::chrono::steady_clock::duration m_interval;
  std::atomic<std::chrono::steady_clock::rep> m_last{std::numeric_limits<std::chrono::steady_clock::rep>::min()};
};

class PostgresJobQueue final : public JobTable {
 public:
  PostgresJobQueue(db::postgres::Connection& connection, const Clock& clock, config::RetryConfig retry);
  // On a connection of its own, closed with the queue.
  PostgresJobQueue(std::unique_ptr<db::postgres::Connection> connection, const Clock& clock,
                   config::RetryConfig retry);

  // A job due now is announced on kJobsChannel, through `limiter` when set
  // (otherwise every such enqueue notifies).
  void notify_through(NotifyLimiter* limiter) { m_notify_limiter = limiter; }

  EnqueueResult enqueue(const NewJob& job) override;
  // For callers that hold a db::postgres::Transaction on this connection.
  EnqueueResult enqueue_in_transaction(const NewJob& job) override;
  std::vector<EnqueueResult> enqueue_many(const std::vector<NewJob>& jobs) override;

  ClaimResult claim(const std::string& owner, int limit, std::int64_t lease_ms) override;
  ClaimResult claim(const std::string& owner, int limit, std::int64_t lease_ms,
                    const std::vector<std::string>& skip_types) override;
  std::vector<ClaimToken> renew(const std::string& owner, const std::vector<ClaimToken>& claims,
                                std::int64_t lease_ms) override;
  std::vector<ClaimToken> canceled_claims(const std::vector<ClaimToken>& claims) override;

  bool complete(const std::string& owner, const Completion& completion) override;
  std::vector<bool> complete_many(const std::string& owner, const std::vector<Completion>& completions) override;
  FailureOutcome fail(const std::string& owner, const Failure& failure) override;
  std::vector<FailureOutcome> fail_many(const std::string& owner, const std::vector<Failure>& failures) override;
  std::size_t release(const std::string& owner, const std::vector<ClaimToken>& claims) override;
  Outcomes settle(const std::string& owner, const std::vector<Completion>& completions,
                            const std::vector<Failure>& failures, const std::vector<ClaimToken>& releases,
                            const Refill& refill) override;

  bool cancel(std::int64_t job_id) override;
  bool retry(std::int64_t job_id) override;
  RemoveResult remove(std::int64_t job_id) override;
  std::vector<std::int64_t> cancel_matching(const JobFilter& filter, int max) override;
  std::vector<std::int64_t> retry_matching(const JobFilter& filter, int max) override;

  std::optional<Job> find(std::int64_t job_id) override;
  std::vector<Job> list(const JobFilter& filter) override;
  std::map<std::string, std::map<std::string, std::int64_t>> counts() override;
  std::map<std::string, std::map<std::string, std::int64_t>> active_counts() override;
  std::map<std::string, std::int64_t> ready_counts() override;
  std::map<std::string, double> oldest_ready_age_seconds() override;
  std::optional<std::int64_t> next_due_ms() override;
  std::vector<LeaseHolder> lease_holders() override;
  std::vector<FinishedMinute> finished_per_minute(std::int64_t since_ms) override;

  std::int64_t prune(std::int64_t retention_ms, int batch = 1000) override;

  // Operator controls (postgres_job_queue_controls.cpp): each its own transaction.
  std::vector<TypeControl> controls() override;
  void set_paused(const std::string& type, bool paused) override;
  void set_rate_limit(const std::string& type, std::optional<double> per_second) override;

 private:
  // As JobQueue's (job_queue.hpp); `now` gets the statement's time.
  std::vector<TypeControl> read_controls(std::int64_t& now);
  bool claim_controlled(const std::string& owner, int limit, std::int64_t lease_ms,
                        const std::vector<std::string>& skip_types, ClaimResult& result,
                        std::vector<std::string>& skip);
  std::optional<std::int64_t> next_due_controlled();
  // Whether this queue's last look found any control: next_due_ms() then
  // asks with them, else in one round trip as before (a control set since
  // costs at most one claim that finds nothing).
  bool m_controls_seen = true;
  // The clock's time when it is not the real one; nothing (the server's) otherwise.
  std::optional<std::int64_t> fixed_now() const;
  std::vector<std::int64_t> update_matching(const std::string& set, const char* states, const JobFilter& filter,
                                            int max);
  void claim_in_transaction(const std::string& owner, int limit, std::int64_t lease_ms, ClaimResult& result,
                            const std::vector<std::string>& skip_types = {});
  // The connection for a read outside any transaction, opened again first
  // if its session is gone (a server restart): a Transaction does that by
  // itself, a bare read does not, and a loop that only reads (the claimer
  // asking which types are ready) would otherwise fail on it forever.
  db::postgres::Connection& reading();
  // Runs `work` in a transaction, again when it loses a race.
  template <class Work>
  auto transact(Work&& work);

  std::unique_ptr<db::postgres::Connection> m_owned;  // before m_connection, which may refer to it
  db::postgres::Connection& m_connection;
  const Clock& m_clock;
  config::RetryConfig m_retry;
  NotifyLimiter* m_notify_limiter = nullptr;
};

}  // namespace pw::queue
