#include "queue/job_queue.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>

#include <nlohmann/json.hpp>

#include "db/statement.hpp"

namespace pw::queue {

std::string_view to_string(JobState state) {
  switch (state) {
    case JobState::queued: return "queued";
    case JobState::running: return "running";
    case JobState::succeeded: return "succeeded";
    case JobState::dead: return "dead";
    case JobState::canceled: return "canceled";
  }
  return "queued";
}

std::optional<JobState> parse_job_state(std::string_view text) {
  if (text == "queued") return JobState::queued;
  if (text == "running") return JobState::running;
  if (text == "succeeded") return JobState::succeeded;
  if (text == "dead") return JobState::dead;
  if (text == "canceled") return JobState::canceled;
  return std::nullopt;
}

namespace {

// Column list shared by every query that reads whole jobs; read_job() maps it.
constexpr const char* kJobColumns =
    "id, type, payload, trace_id, user_id, priority, state, attempts, max_attempts, run_at, "
    "lease_owner, lease_expires_at, last_error, result, idempotency_key, created_at, updated_at, "
    "started_at, finished_at, claim";

Job read_job(const db::Statement& row) {
  Job job;
  job.id = row.int64(0);
  job.type = row.text(1);
  job.payload = row.text(2);
  job.trace_id = row.optional_text(3);
  job.user_id = row.optional_int64(4);
  job.priority = row.int32(5);
  job.state = parse_job_state(row.text(6)).value_or(JobState::queued);
  job.attempts = row.int32(7);
  job.max_attempts = row.int32(8);
  job.run_at_ms = row.int64(9);
  job.lease_owner = row.optional_text(10);
  job.lease_expires_at_ms = row.optional_int64(11);
  job.last_error = row.optional_text(12);
  job.result = row.optional_text(13);
  job.idempotency_key = row.optional_text(14);
  job.created_at_ms = row.int64(15);
  job.updated_at_ms = row.int64(16);
  job.started_at_ms = row.optional_int64(17);
  job.finished_at_ms = row.optional_int64(18);
  job.claim = row.int64(19);
  return job;
}

using db::InUse;

// The WHERE terms of a JobFilter (before_id and user_id only when asked),
// each one numbered parameter (?1-?9, see bind_filter); unused numbers stay
// unbound. Terms are written so the planner can use migration 0006's
// partial indexes (last_error IS NOT NULL for jobs_errors, for instance).
std::string filter_terms(const JobFilter& filter, bool paged) {
  std::string sql;
  if (filter.state) sql += " AND state = ?1";
  if (filter.type) sql += " AND type = ?2";
  if (filter.user_id) sql += " AND user_id = ?3";
  if (paged && filter.before_id) sql += " AND id < ?4";
  // instr(), not LIKE: the text is a literal, wildcards and all.
  if (filter.error_contains) sql += " AND last_error IS NOT NULL AND instr(last_error, ?6) > 0";
  if (filter.trace_id) sql += " AND trace_id = ?7";
  if (filter.created_from_ms) sql += " AND created_at >= ?8";
  if (filter.created_before_ms) sql += " AND created_at < ?9";
  return sql;
}

void bind_filter(db::Statement& query, const JobFilter& filter, bool paged) {
  if (filter.state) query.bind(1, to_string(*filter.state));
  if (filter.type) query.bind(2, *filter.type);
  if (filter.user_id) query.bind(3, *filter.user_id);
  if (paged && filter.before_id) query.bind(4, *filter.before_id);
  if (filter.error_contains) query.bind(6, *filter.error_contains);
  if (filter.trace_id) query.bind(7, *filter.trace_id);
  if (filter.created_from_ms) query.bind(8, *filter.created_from_ms);
  if (filter.created_before_ms) query.bind(9, *filter.created_before_ms);
}

double random01() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

}  // namespace

// For the controlled claims of job_queue_controls.cpp.
Job read_claimed_job(const db::Statement& row) { return read_job(row); }

namespace {

// What find() and list() read: kJobColumns, then the uniqueness key.
constexpr const char* kUniqueKeyColumn = ", unique_key";

Job read_job_and_key(const db::Statement& row) {
  Job job = read_job(row);
  job.unique_key = row.optional_text(20);
  return job;
}

}  // namespace

// Every statement the queue runs often, prepared once per JobQueue.
// Hot statements name their index (INDEXED BY): without ANALYZE statistics
// the planner prefers jobs_state_type's equality on state and then sorts every
// queued row for each claim, which is slow exactly when the backlog is large.
struct JobQueue::Statements {
  explicit Statements(db::Connection& connection) : connection(connection) {}

  db::Statement& get(std::unique_ptr<db::Statement>& slot, std::string_view sql) {
    if (!slot) slot = std::make_unique<db::Statement>(connection, sql);
    return *slot;
  }

  db::Connection& connection;
  std::unique_ptr<db::Statement> insert, find_by_key, expired, expire, claim, ready_types, ready_of_type,
      claim_ids, renew, complete, fail_read,
      fail_write, release, data_version, next_run, next_lease, find, cancel, retry, finished_types, prune;
};

JobQueue::JobQueue(db::Connection& connection, const Clock& clock, config::RetryConfig retry)
    : m_connection(connection),
      m_clock(clock),
      m_retry(retry),
      m_statements(std::make_unique<Statements>(connection)) {}

JobQueue::JobQueue(std::unique_ptr<db::Connection> connection, const Clock& clock, config::RetryConfig retry)
    : m_owned(std::move(connection)),
      m_connection(*m_owned),
      m_clock(clock),
      m_retry(retry),
      m_statements(std::make_unique<Statements>(*m_owned)) {}

JobQueue::~JobQueue() = default;

// ---- enqueue -------------------------------------------------------------

namespace {

// The newest job holding `job`'s uniqueness window, if any. Atomic with the
// insert that follows because every enqueue runs in a write transaction
// (BEGIN IMMEDIATE: one writer at a time), so no other enqueue can insert
// between this read and the insert. One seek per state in jobs_unique
// (migration 0012); jobs without a key are not in that index.
std::optional<std::int64_t> window_holder(db::Connection& connection, const NewJob& job, std::int64_t now) {
  const auto states = unique_states(*job.unique);
  // A statement of the connection's cache (a lookup, not a parse), kept
  // out of Statements: it is not on the common path.
  db::Statement find(connection,
                     "SELECT id FROM jobs INDEXED BY jobs_unique WHERE unique_key = ?1 AND type = ?2"
                     " AND state IN (?3, ?4, ?5, ?6, ?7) AND created_at > ?8 ORDER BY id DESC LIMIT 1");
  find.bind_unowned(1, job.unique->key);
  find.bind_unowned(2, job.type);
  for (std::size_t i = 0; i < states.size(); ++i) find.bind(static_cast<int>(i) + 3, states[i]);
  const auto& window = job.unique->for_ms;
  find.bind(8, window ? now - *window : std::numeric_limits<std::int64_t>::min());
  if (!find.step()) return std::nullopt;
  return find.int64(0);
}

}  // namespace

EnqueueResult JobQueue::enqueue(const NewJob& job) {
  auto timer = m_connection.time_query();
  return db::write(m_connection, [&] { return enqueue_in_transaction(job); });
}

EnqueueResult JobQueue::enqueue_in_transaction(const NewJob& job) {
  // Checked here rather than by a CHECK (json_valid(...)) in the table: the
  // same guarantee at a fraction of SQLite's cost per row.
  const std::optional<std::string> rewritten = payload_to_store(job);
  const std::string* payload = rewritten ? &*rewritten : &job.payload;
  std::int64_t now = m_clock.now_ms();
  if (job.unique) {
    if (auto holder = window_holder(m_connection, job, now)) return EnqueueResult{*holder, false};
  }
  {
    // ON CONFLICT DO NOTHING: a repeated idempotency key inserts nothing
    // (no change), and the existing job is looked up below. NULL keys never
    // conflict. (No RETURNING: it costs more per row than reading the rowid.)
    // A job with a window has a statement of its own (from the connection's
    // cache), so the common one stays as it was.
    std::optional<db::Statement> unique_insert;
    if (job.unique) {
      unique_insert.emplace(m_connection,
                            "INSERT INTO jobs (type, payload, trace_id, user_id, priority, max_attempts, run_at, "
                            "idempotency_key, created_at, updated_at, unique_key) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10) "
                            "ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING");
    }
    InUse insert(unique_insert ? *unique_insert : m_statements->get(
        m_statements->insert,
        "INSERT INTO jobs (type, payload, trace_id, user_id, priority, max_attempts, run_at, "
        "idempotency_key, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) "
        "ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"));
    insert->bind_unowned(1, job.type);
    insert->bind_unowned(2, *payload);
    insert->bind(3, job.trace_id);
    insert->bind(4, job.user_id);
    insert->bind(5, job.priority);
    insert->bind(6, job.max_attempts.value_or(m_retry.default_max_attempts));
    insert->bind(7, job.run_at_ms.value_or(now));
    insert->bind(8, job.idempotency_key);
    insert->bind(9, now);
    if (job.unique) insert->bind_unowned(10, job.unique->key);
    if (insert->exec() == 1) return EnqueueResult{m_connection.last_insert_rowid(), true};
  }
  InUse find(m_statements->get(m_statements->find_by_key,
                               "SELECT id FROM jobs WHERE idempotency_key = ?1 AND idempotency_key IS NOT NULL"));
  find->bind_unowned(1, *job.idempotency_key);
  if (!find->step()) {
    throw std::logic_error("job insert was skipped but no job holds its idempotency key");
  }
  return EnqueueResult{find->int64(0), false};
}

std::vector<EnqueueResult> JobQueue::enqueue_many(const std::vector<NewJob>& jobs) {
  std::vector<EnqueueResult> results;
  results.reserve(jobs.size());
  auto timer = m_connection.time_query();
  db::write(m_connection, [&] {
    for (const auto& job : jobs) results.push_back(enqueue_in_transaction(job));
  });
  return results;
}

// ---- claim and lease -----------------------------------------------------

void JobQueue::observe_lock_waits(LockWaits& waits) {
  m_lock_waits = &waits;
  m_connection.observe_holds(waits.recorder());
}

std::int64_t JobQueue::lapse_grace_ms(std::int64_t lease_ms, LockWaits::Instant asked_for_lock_at) const {
  if (!m_lock_waits) return 0;
  const std::int64_t renewal_period = lease_ms / 3;
  auto now = std::chrono::steady_clock::now();
  std::int64_t unavailable =
      m_lock_waits->total_within(std::chrono::milliseconds(lease_ms + renewal_period), now);
  // This transaction's own wait has not been recorded yet.
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - asked_for_lock_at).count();
  if (waited >= m_lock_waits->tolerance_ms()) unavailable += waited;
  return unavailable > 0 ? unavailable + renewal_period : 0;
}

ClaimResult JobQueue::claim(const std::string& owner, int limit, std::int64_t lease_ms) {
  return claim(owner, limit, lease_ms, {});
}

ClaimResult JobQueue::claim(const std::string& owner, int limit, std::int64_t lease_ms,
                            const std::vector<std::string>& skip_types) {
  ClaimResult result;
  auto timer = m_connection.time_query();
  const auto asked_for_lock_at = std::chrono::steady_clock::now();
  // BEGIN IMMEDIATE: take the write lock up front so two workers never claim one row.
  db::write(m_connection, [&] {
    claim_in_transaction(owner, limit, lease_ms, m_clock.now_ms(), asked_for_lock_at, result, skip_types);
  });
  sort_in_claim_order(result);
  return result;
}

void JobQueue::claim_in_transaction(const std::string& owner, int limit, std::int64_t lease_ms, std::int64_t now,
                                    LockWaits::Instant asked_for_lock_at, ClaimResult& result,
                                    const std::vector<std::string>& skip_types) {
  const std::int64_t lapsed_before = now - lapse_grace_ms(lease_ms, asked_for_lock_at);
  {
    // The lapse of a lease is a failed attempt; the job keeps its run_at and
    // so its place in line. Read first (for the caller's logs: who held it),
    // then settle, both under the write lock.
    InUse expired(m_statements->get(
        m_statements->expired,
        "SELECT id, type, trace_id, attempts, max_attempts, lease_owner, claim, lease_expires_at"
        " FROM jobs INDEXED BY jobs_leases "
        "WHERE state = 'running' AND lease_expires_at <= ?1"));
    expired->bind(1, lapsed_before);
    while (expired->step()) {
      ExpiredLease lapsed;
      lapsed.job_id = expired->int64(0);
      lapsed.type = expired->text(1);
      lapsed.trace_id = expired->optional_text(2);
      lapsed.attempts = expired->int32(3);
      lapsed.max_attempts = expired->int32(4);
      lapsed.dead = lapsed.attempts >= lapsed.max_attempts;
      lapsed.previous_owner = expired->text(5);
      lapsed.claim = expired->int64(6);
      lapsed.overdue_ms = now - expired->int64(7);
      lapsed.grace_ms = now - lapsed_before;
      result.expired.push_back(std::move(lapsed));
    }
  }
  if (!result.expired.empty()) {
    InUse expire(m_statements->get(
        m_statements->expire,
        "UPDATE jobs SET "
        " state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,"
        " last_error = ?2,"
        " lease_owner = CASE WHEN attempts >= max_attempts THEN lease_owner ELSE NULL END,"
        " lease_expires_at = NULL, updated_at = ?1,"
        " finished_at = CASE WHEN attempts >= max_attempts THEN ?1 ELSE NULL END "
        "WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_leases"
        "             WHERE state = 'running' AND lease_expires_at <= ?3)"));
    expire->bind(1, now);
    expire->bind(3, lapsed_before);
    expire->bind_unowned(2, kLeaseExpiredError);
    expire->exec();
  }
  // Paused and rate-limited types (job_queue_controls.cpp): the limited
  // types' jobs are claimed there, within their buckets, and all of them
  // are passed over by the claim below.
  std::vector<std::string> controlled_skip;
  const std::vector<std::string>* skip = &skip_types;
  if (limit > 0 && claim_controlled(owner, limit, lease_ms, now, skip_types, result, controlled_skip)) {
    skip = &controlled_skip;
    limit -= static_cast<int>(result.jobs.size());
  }
  if (limit > 0 && !skip->empty()) {
    claim_passing_over(owner, limit, lease_ms, now, *skip, result);
  } else if (limit > 0) {
    InUse claim(m_statements->get(
        m_statements->claim,
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, claim = claim + 1, lease_owner = ?1,"
        " lease_expires_at = ?2, started_at = ?3, updated_at = ?3 "
        "WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_ready WHERE state = 'queued' AND run_at <= ?3"
        "             ORDER BY priority, run_at, id LIMIT ?4) "
        "RETURNING id, type, payload, trace_id, user_id, priority, state, attempts, max_attempts,"
        " run_at, lease_owner, lease_expires_at, last_error, result, idempotency_key, created_at,"
        " updated_at, started_at, finished_at, claim"));
    claim->bind_unowned(1, owner);
    claim->bind(2, now + lease_ms);
    claim->bind(3, now);
    claim->bind(4, limit);
    while (claim->step()) result.jobs.push_back(ClaimedJob{read_job(*claim)});
  }
}

// Claim order over the types not passed over, without walking the rows of
// those that are (migration 0013): the ready types are found by seeking
// from one to the next in jobs_ready_by_type, each type's first `limit`
// due jobs read in claim order, and the first `limit` of them all taken.
// A type whose jobs are all scheduled later costs a walk of its rows.
void JobQueue::claim_passing_over(const std::string& owner, int limit, std::int64_t lease_ms, std::int64_t now,
                                  const std::vector<std::string>& skip, ClaimResult& result) {
  std::vector<std::string> types;
  {
    InUse ready_types(m_statements->get(
        m_statements->ready_types,
        "WITH RECURSIVE t(type) AS ("
        " SELECT (SELECT type FROM jobs INDEXED BY jobs_ready_by_type WHERE state = 'queued' ORDER BY type LIMIT 1)"
        " UNION ALL"
        " SELECT (SELECT type FROM jobs INDEXED BY jobs_ready_by_type WHERE state = 'queued' AND type > t.type"
        "         ORDER BY type LIMIT 1) FROM t WHERE t.type IS NOT NULL) "
        "SELECT type FROM t WHERE type IS NOT NULL"));
    while (ready_types->step()) {
      std::string type = ready_types->text(0);
      if (std::find(skip.begin(), skip.end(), type) == skip.end()) types.push_back(std::move(type));
    }
  }
  struct Candidate {
    std::int64_t priority, run_at, id;
    auto operator<=>(const Candidate&) const = default;
  };
  std::vector<Candidate> candidates;
  for (const auto& type : types) {
    InUse of_type(m_statements->get(
        m_statements->ready_of_type,
        "SELECT priority, run_at, id FROM jobs INDEXED BY jobs_ready_by_type"
        " WHERE state = 'queued' AND type = ?1 AND run_at <= ?2 ORDER BY priority, run_at, id LIMIT ?3"));
    of_type->bind_unowned(1, type);
    of_type->bind(2, now);
    of_type->bind(3, limit);
    while (of_type->step()) candidates.push_back({of_type->int64(0), of_type->int64(1), of_type->int64(2)});
  }
  if (candidates.empty()) return;
  std::sort(candidates.begin(), candidates.end());
  if (static_cast<int>(candidates.size()) > limit) candidates.resize(static_cast<std::size_t>(limit));
  std::string ids = "[";
  for (std::size_t i = 0; i < candidates.size(); ++i) ids += (i ? "," : "") + std::to_string(candidates[i].id);
  ids += ']';
  InUse claim(m_statements->get(
      m_statements->claim_ids,
      "UPDATE jobs SET state = 'running', attempts = attempts + 1, claim = claim + 1, lease_owner = ?1,"
      " lease_expires_at = ?2, started_at = ?3, updated_at = ?3 "
      "WHERE id IN (SELECT value FROM json_each(?4)) AND state = 'queued' "
      "RETURNING id, type, payload, trace_id, user_id, priority, state, attempts, max_attempts,"
      " run_at, lease_owner, lease_expires_at, last_error, result, idempotency_key, created_at,"
      " updated_at, started_at, finished_at, claim"));
  claim->bind_unowned(1, owner);
  claim->bind(2, now + lease_ms);
  claim->bind(3, now);
  claim->bind(4, ids);
  const std::size_t first = result.jobs.size();
  while (claim->step()) result.jobs.push_back(ClaimedJob{read_job(*claim)});
  // Handed out in claim order, as the single-statement claim hands them.
  std::sort(result.jobs.begin() + static_cast<std::ptrdiff_t>(first), result.jobs.end(),
            [](const ClaimedJob& a, const ClaimedJob& b) {
              return std::tie(a.job.priority, a.job.run_at_ms, a.job.id) <
                     std::tie(b.job.priority, b.job.run_at_ms, b.job.id);
            });
}

namespace {

// [[id, claim], ...], for json_each in the statements that take a worker's claims.
std::string claims_json(const std::vector<ClaimToken>& claims) {
  std::string out = "[";
  for (std::size_t i = 0; i < claims.size(); ++i) {
    if (i) out += ',';
    out += '[' + std::to_string(claims[i].job_id) + ',' + std::to_string(claims[i].claim) + ']';
  }
  out += ']';
  return out;
}

}  // namespace

std::vector<ClaimToken> JobQueue::renew(const std::string& owner, const std::vector<ClaimToken>& claims,
                                        std::int64_t lease_ms) {
  if (claims.empty()) return {};
  // One statement renews every claim still held.
  const std::string held_json = claims_json(claims);
  std::vector<ClaimToken> held;
  held.reserve(claims.size());
  auto timer = m_connection.time_query();
  db::write(m_connection, [&] {
    std::int64_t now = m_clock.now_ms();
    InUse renew(m_statements->get(
        m_statements->renew,
        "UPDATE jobs SET lease_expires_at = ?1, updated_at = ?2 "
        "FROM (SELECT value ->> 0 AS id, value ->> 1 AS claim FROM json_each(?3)) AS held "
        "WHERE jobs.id = held.id AND jobs.claim = held.claim AND jobs.state = 'running' AND jobs.lease_owner = ?4 "
        "RETURNING jobs.id, jobs.claim"));
    renew->bind(1, now + lease_ms);
    renew->bind(2, now);
    renew->bind_unowned(3, held_json);
    renew->bind_unowned(4, owner);
    while (renew->step()) held.push_back({renew->int64(0), renew->int64(1)});
  });
  std::sort(held.begin(), held.end());
  std::vector<ClaimToken> lost;
  for (const auto& claim : claims) {
    if (!std::binary_search(held.begin(), held.end(), claim)) lost.push_back(claim);
  }
  return lost;
}

std::vector<ClaimToken> JobQueue::canceled_claims(const std::vector<ClaimToken>& claims) {
  if (claims.empty()) return {};
  const std::string held_json = claims_json(claims);
  auto timer = m_connection.time_query();
  // Prepared per call: the worker asks a few times a second, not per job.
  db::Statement read(m_connection,
                     "SELECT jobs.id, jobs.claim FROM jobs "
                     "JOIN (SELECT value ->> 0 AS id, value ->> 1 AS claim FROM json_each(?1)) AS held "
                     "ON jobs.id = held.id AND jobs.claim = held.claim WHERE jobs.state = 'canceled'");
  read.bind_unowned(1, held_json);
  std::vector<ClaimToken> canceled;
  while (read.step()) canceled.push_back({read.int64(0), read.int64(1)});
  return canceled;
}

// ---- outcomes ------------------------------------------------------------

bool JobQueue::complete(const std::string& owner, const Completion& completion) {
  return settle(owner, {completion}, {}, {}, Refill{}).completed.front();
}

std::vector<bool> JobQueue::complete_many(const std::string& owner, const std::vector<Completion>& completions) {
  return settle(owner, completions, {}, {}, Refill{}).completed;
}

FailureOutcome JobQueue::fail(const std::string& owner, const Failure& failure) {
  return settle(owner, {}, {failure}, {}, Refill{}).failed.front();
}

std::vector<FailureOutcome> JobQueue::fail_many(const std::string& owner, const std::vector<Failure>& failures) {
  return settle(owner, {}, failures, {}, Refill{}).failed;
}

std::size_t JobQueue::release(const std::string& owner, const std::vector<ClaimToken>& claims) {
  auto released = settle(owner, {}, {}, claims, Refill{}).released;
  return static_cast<std::size_t>(std::count(released.begin(), released.end(), true));
}

JobQueue::Outcomes JobQueue::settle(const std::string& owner, const std::vector<Completion>& completions,
                                    const std::vector<Failure>& failures,
                                    const std::vector<ClaimToken>& releases, const Refill& refill) {
  Outcomes outcomes;
  if (completions.empty() && failures.empty() && releases.empty() && refill.limit <= 0) return outcomes;
  outcomes.completed.reserve(completions.size());
  outcomes.failed.reserve(failures.size());
  outcomes.released.reserve(releases.size());
  auto timer = m_connection.time_query();
  const auto asked_for_lock_at = std::chrono::steady_clock::now();
  db::write(m_connection, [&] {
    settle_in_transaction(owner, completions, failures, releases, refill, asked_for_lock_at, outcomes);
  });
  sort_in_claim_order(outcomes.claimed);
  return outcomes;
}

void JobQueue::settle_in_transaction(const std::string& owner, const std::vector<Completion>& completions,
                                     const std::vector<Failure>& failures, const std::vector<ClaimToken>& releases,
                                     const Refill& refill, LockWaits::Instant asked_for_lock_at, Outcomes& outcomes) {
  std::int64_t now = m_clock.now_ms();
  if (!completions.empty()) {
    InUse complete(m_statements->get(
        m_statements->complete,
        "UPDATE jobs SET state = 'succeeded', result = ?1, lease_expires_at = NULL,"
        " updated_at = ?2, finished_at = ?2 "
        "WHERE id = ?3 AND claim = ?5 AND state = 'running' AND lease_owner = ?4"));
    complete->bind(2, now);
    complete->bind_unowned(4, owner);
    for (const auto& completion : completions) {
      complete->bind_unowned(1, completion.result);
      complete->bind(3, completion.token.job_id);
      complete->bind(5, completion.token.claim);
      complete->exec();
      outcomes.completed.push_back(m_connection.changes() == 1);
      complete->reset();
    }
  }
  for (const auto& failure : failures) outcomes.failed.push_back(fail_in_transaction(owner, failure, now));
  if (!releases.empty()) {
    // attempts - 1: the claim that is handed back is not charged.
    InUse release(m_statements->get(
        m_statements->release,
        "UPDATE jobs SET state = 'queued', attempts = attempts - 1, lease_owner = NULL,"
        " lease_expires_at = NULL, updated_at = ?1 "
        "WHERE id = ?2 AND claim = ?4 AND state = 'running' AND lease_owner = ?3"));
    release->bind(1, now);
    release->bind_unowned(3, owner);
    for (const auto& claim : releases) {
      release->bind(2, claim.job_id);
      release->bind(4, claim.claim);
      release->exec();
      outcomes.released.push_back(m_connection.changes() == 1);
      release->reset();
    }
  }
  // After the outcomes, so a job that just failed with no backoff can be
  // claimed again at once.
  if (refill.limit > 0) {
    claim_in_transaction(owner, refill.limit, refill.lease_ms, now, asked_for_lock_at, outcomes.claimed,
                         refill.skip_types);
  }
}

FailureOutcome JobQueue::fail_in_transaction(const std::string& owner, const Failure& failure, std::int64_t now) {
  int attempts = 0;
  int max_attempts = 0;
  {
    InUse read(m_statements->get(
        m_statements->fail_read,
        "SELECT attempts, max_attempts FROM jobs WHERE id = ?1 AND claim = ?3 AND state = 'running'"
        " AND lease_owner = ?2"));
    read->bind(1, failure.token.job_id);
    read->bind_unowned(2, owner);
    read->bind(3, failure.token.claim);
    if (!read->step()) return FailureOutcome::lost_lease;
    attempts = read->int32(0);
    max_attempts = read->int32(1);
  }
  bool dead = failure.kind == FailureKind::permanent || attempts >= max_attempts;
  InUse write(m_statements->get(
      m_statements->fail_write,
      "UPDATE jobs SET state = ?1, last_error = ?2, run_at = ?3, updated_at = ?4,"
      " lease_owner = CASE WHEN ?1 = 'dead' THEN lease_owner ELSE NULL END,"
      " lease_expires_at = NULL, finished_at = CASE WHEN ?1 = 'dead' THEN ?4 ELSE NULL END "
      "WHERE id = ?5 AND claim = ?7 AND state = 'running' AND lease_owner = ?6"));
  write->bind(1, dead ? "dead" : "queued");
  write->bind_unowned(2, failure.error);
  write->bind(3, dead ? now : now + backoff_ms(m_retry, attempts, random01()));
  write->bind(4, now);
  write->bind(5, failure.token.job_id);
  write->bind_unowned(6, owner);
  write->bind(7, failure.token.claim);
  write->exec();
  return dead ? FailureOutcome::dead : FailureOutcome::requeued;
}

std::int64_t JobQueue::backoff_ms(const config::RetryConfig& retry, int attempts, double random01) {
  int exponent = std::clamp(attempts - 1, 0, 62);
  // base * 2^exponent, saturating at the cap without overflowing.
  std::int64_t ceiling = retry.backoff_cap_ms;
  if (exponent < 62 && retry.backoff_base_ms <= (retry.backoff_cap_ms >> exponent)) {
    ceiling = std::min(retry.backoff_cap_ms, retry.backoff_base_ms << exponent);
  }
  double r = std::clamp(random01, 0.0, 1.0);
  auto delay = static_cast<std::int64_t>(std::floor(r * static_cast<double>(ceiling)));
  return std::clamp<std::int64_t>(delay, 0, ceiling);
}

// ---- operator actions ----------------------------------------------------

bool JobQueue::cancel(std::int64_t job_id) {
  auto timer = m_connection.time_query();
  return db::write(m_connection, [&] {
    InUse cancel(m_statements->get(
        m_statements->cancel,
        "UPDATE jobs SET state = 'canceled', lease_expires_at = NULL, updated_at = ?1, finished_at = ?1 "
        "WHERE id = ?2 AND state IN ('queued', 'running')"));
    cancel->bind(1, m_clock.now_ms());
    cancel->bind(2, job_id);
    return cancel->exec() == 1;
  });
}

bool JobQueue::retry(std::int64_t job_id) {
  auto timer = m_connection.time_query();
  return db::write(m_connection, [&] {
    // The last error is kept for the record until the next attempt replaces it.
    InUse retry(m_statements->get(
        m_statements->retry,
        "UPDATE jobs SET state = 'queued', attempts = 0, run_at = ?1, lease_owner = NULL,"
        " lease_expires_at = NULL, result = NULL, updated_at = ?1, finished_at = NULL "
        "WHERE id = ?2 AND state IN ('dead', 'canceled')"));
    retry->bind(1, m_clock.now_ms());
    retry->bind(2, job_id);
    return retry->exec() == 1;
  });
}

RemoveResult JobQueue::remove(std::int64_t job_id) {
  auto timer = m_connection.time_query();
  return db::write(m_connection, [&] {
    db::Statement remove(m_connection, "DELETE FROM jobs WHERE id = ?1 AND state <> 'running'");
    remove.bind(1, job_id);
    if (remove.exec() == 1) return RemoveResult::removed;
    db::Statement exists(m_connection, "SELECT 1 FROM jobs WHERE id = ?1");
    exists.bind(1, job_id);
    return exists.step() ? RemoveResult::running : RemoveResult::not_found;
  });
}

namespace {

// Runs `update` (whose ?10 is now and ?5 the most rows to touch, and which
// returns the ids it changed) and hands back those ids, newest first.
std::vector<std::int64_t> update_matching(db::Connection& connection, const std::string& sql,
                                          const JobFilter& filter, int max, std::int64_t now) {
  std::vector<std::int64_t> ids;
  if (max <= 0) return ids;
  db::write(connection, [&] {
    db::Statement update(connection, sql);
    bind_filter(update, filter, false);
    update.bind(5, max);
    update.bind(10, now);
    while (update.step()) ids.push_back(update.int64(0));
  });
  std::sort(ids.rbegin(), ids.rend());
  return ids;
}

}  // namespace

std::vector<std::int64_t> JobQueue::cancel_matching(const JobFilter& filter, int max) {
  auto timer = m_connection.time_query();
  // The SET list is cancel()'s: the claim stays, so the job's worker, whose
  // every outcome is guarded by state = 'running', can no longer settle it.
  // Candidates come from the partial indexes of queued and running jobs, so
  // the write lock is held for as long as the live jobs take to read, never
  // for a walk through the finished ones (the whole table when none match).
  const std::string terms = filter_terms(filter, false);
  return update_matching(
      m_connection,
      "UPDATE jobs SET state = 'canceled', lease_expires_at = NULL, updated_at = ?10, finished_at = ?10 "
      "WHERE id IN (SELECT id FROM (SELECT id FROM jobs INDEXED BY jobs_ready_by_type WHERE state = 'queued'" + terms +
          " UNION ALL SELECT id FROM jobs INDEXED BY jobs_leases WHERE state = 'running'" + terms +
          ") ORDER BY id DESC LIMIT ?5) RETURNING id",
      filter, max, m_clock.now_ms());
}

std::vector<std::int64_t> JobQueue::retry_matching(const JobFilter& filter, int max) {
  auto timer = m_connection.time_query();
  // retry()'s SET list. Candidates come from jobs_stopped (whose WHERE
  // clause the state test repeats), so the write lock is held for as long as
  // the dead and canceled jobs take to read, never for a walk through the
  // succeeded ones (measured on a million jobs, 15,000 of them stopped: no
  // match for a type costs 58 ms this way, 147 ms through jobs_type).
  return update_matching(
      m_connection,
      "UPDATE jobs SET state = 'queued', attempts = 0, run_at = ?10, lease_owner = NULL,"
      " lease_expires_at = NULL, result = NULL, updated_at = ?10, finished_at = NULL "
      "WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_stopped WHERE (state = 'dead' OR state = 'canceled')" +
          filter_terms(filter, false) + " ORDER BY id DESC LIMIT ?5) RETURNING id",
      filter, max, m_clock.now_ms());
}

// ---- reading -------------------------------------------------------------

std::optional<Job> JobQueue::find(std::int64_t job_id) {
  auto timer = m_connection.time_query();
  InUse find(m_statements->get(m_statements->find,
                               (std::string("SELECT ") + kJobColumns + kUniqueKeyColumn + " FROM jobs WHERE id = ?1")
                                   .c_str()));
  find->bind(1, job_id);
  if (!find->step()) return std::nullopt;
  return read_job_and_key(*find);
}

std::vector<Job> JobQueue::list(const JobFilter& filter) {
  std::string sql =
      std::string("SELECT ") + kJobColumns + kUniqueKeyColumn + " FROM jobs WHERE 1" + filter_terms(filter, true) +
      " ORDER BY id DESC LIMIT ?5";
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, sql);
  bind_filter(query, filter, true);
  query.bind(5, std::max(0, filter.limit));
  std::vector<Job> jobs;
  while (query.step()) jobs.push_back(read_job_and_key(query));
  return jobs;
}

namespace {

// Queued and running jobs by type, each half from its partial index alone;
// counts() adds the finished ones to it in the same statement.
constexpr const char* kActiveCounts =
    "SELECT type, 'queued', count(*) FROM jobs INDEXED BY jobs_ready_by_type WHERE state = 'queued' GROUP BY type "
    "UNION ALL SELECT type, 'running', count(*) FROM jobs INDEXED BY jobs_leases WHERE state = 'running' GROUP BY type";

std::map<std::string, std::map<std::string, std::int64_t>> read_counts(db::Statement& query) {
  std::map<std::string, std::map<std::string, std::int64_t>> out;
  while (query.step()) out[query.text(0)][query.text(1)] += query.int64(2);
  return out;
}

}  // namespace

std::map<std::string, std::map<std::string, std::int64_t>> JobQueue::counts() {
  auto timer = m_connection.time_query();
  // Never reads finished rows: they are counted from jobs_finished_counts
  // (migration 0006) alone, queued ones from jobs_ready_by_type; running ones are few.
  db::Statement query(m_connection, std::string("SELECT type, state, count(*) FROM jobs INDEXED BY jobs_finished_counts"
                                                " WHERE finished_at IS NOT NULL GROUP BY type, state UNION ALL ") +
                                        kActiveCounts);
  return read_counts(query);
}

std::map<std::string, std::map<std::string, std::int64_t>> JobQueue::active_counts() {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, kActiveCounts);
  return read_counts(query);
}

std::map<std::string, std::int64_t> JobQueue::ready_counts() {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection,
                          "SELECT type, count(*) FROM jobs INDEXED BY jobs_ready_by_type"
                          " WHERE state = 'queued' AND run_at <= ?1 GROUP BY type");
  query.bind(1, m_clock.now_ms());
  std::map<std::string, std::int64_t> out;
  while (query.step()) out[query.text(0)] = query.int64(1);
  return out;
}

std::map<std::string, double> JobQueue::oldest_ready_age_seconds() {
  auto timer = m_connection.time_query();
  std::int64_t now = m_clock.now_ms();
  db::Statement query(m_connection,
                          "SELECT type, min(run_at) FROM jobs INDEXED BY jobs_ready_by_type"
                          " WHERE state = 'queued' AND run_at <= ?1 GROUP BY type");
  query.bind(1, now);
  std::map<std::string, double> out;
  while (query.step()) {
    out[query.text(0)] = static_cast<double>(now - query.int64(1)) / 1000.0;
  }
  return out;
}

std::optional<std::int64_t> JobQueue::next_due_ms() {
  // A paused type's queued jobs are due at no time; a held-back limited
  // type's, when its next token arrives (job_queue_controls.cpp).
  if (std::vector<TypeControl> controls = read_controls(); !controls.empty()) return next_due_controlled(controls);
  std::optional<std::int64_t> next;
  auto consider = [&](std::unique_ptr<db::Statement>& slot, const char* sql) {
    InUse query(m_statements->get(slot, sql));
    if (query->step() && !query->is_null(0)) {
      std::int64_t at = query->int64(0);
      if (!next || at < *next) next = at;
    }
  };
  // No "after now" filter: a moment that passed between the caller's claim
  // and this query must still be named, or nothing would wake the caller for
  // it. The lease from the first entry of jobs_leases; the run from the
  // first entry of each priority's run in jobs_ready, the priorities found
  // by seeking from one to the next (migration 0013 dropped the index
  // ordered by run_at alone: one index fewer for every enqueue and claim).
  consider(m_statements->next_run,
           "WITH RECURSIVE p(priority) AS ("
           " SELECT (SELECT priority FROM jobs INDEXED BY jobs_ready WHERE state = 'queued' ORDER BY priority LIMIT 1)"
           " UNION ALL"
           " SELECT (SELECT priority FROM jobs INDEXED BY jobs_ready WHERE state = 'queued' AND priority > p.priority"
           "         ORDER BY priority LIMIT 1) FROM p WHERE p.priority IS NOT NULL) "
           "SELECT min((SELECT run_at FROM jobs INDEXED BY jobs_ready WHERE state = 'queued' AND priority = p.priority"
           "            ORDER BY run_at LIMIT 1)) FROM p WHERE p.priority IS NOT NULL");
  consider(m_statements->next_lease,
           "SELECT min(lease_expires_at) FROM jobs INDEXED BY jobs_leases WHERE state = 'running'");
  return next;
}

std::vector<LeaseHolder> JobQueue::lease_holders() {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection,
                      "SELECT COALESCE(lease_owner, ''), count(*), min(started_at), min(lease_expires_at)"
                      " FROM jobs INDEXED BY jobs_leases WHERE state = 'running'"
                      " GROUP BY lease_owner ORDER BY lease_owner");
  std::vector<LeaseHolder> out;
  while (query.step()) {
    out.push_back(LeaseHolder{query.text(0), query.int64(1), query.optional_int64(2).value_or(0),
                              query.optional_int64(3).value_or(0)});
  }
  return out;
}

// The types that have finished jobs, found by seeking from one to the next
// in jobs_finished_counts (type, state, finished_at): a handful of seeks.
// The finished jobs of a type are then read one (type, state) range at a
// time, by finished_at. Migration 0015 dropped the index ordered by
// finished_at alone, one index fewer for every job that finishes.
std::vector<std::string> JobQueue::finished_types() {
  InUse types(m_statements->get(
      m_statements->finished_types,
      "WITH RECURSIVE t(type) AS ("
      " SELECT (SELECT type FROM jobs INDEXED BY jobs_finished_counts WHERE finished_at IS NOT NULL"
      "         ORDER BY type LIMIT 1)"
      " UNION ALL"
      " SELECT (SELECT type FROM jobs INDEXED BY jobs_finished_counts WHERE finished_at IS NOT NULL AND type > t.type"
      "         ORDER BY type LIMIT 1) FROM t WHERE t.type IS NOT NULL) "
      "SELECT type FROM t WHERE type IS NOT NULL"));
  std::vector<std::string> out;
  while (types->step()) out.push_back(types->text(0));
  return out;
}

std::vector<FinishedMinute> JobQueue::finished_per_minute(std::int64_t since_ms) {
  auto timer = m_connection.time_query();
  std::map<std::pair<std::int64_t, std::string>, std::int64_t> minutes;
  // finished_at is set exactly for these three states.
  db::Statement query(m_connection,
                      "SELECT finished_at / 60000 * 60000 AS minute, state, count(*)"
                      " FROM jobs INDEXED BY jobs_finished_counts WHERE type = ?1"
                      " AND state IN ('canceled', 'dead', 'succeeded') AND finished_at IS NOT NULL"
                      " AND finished_at >= ?2 GROUP BY minute, state");
  query.bind(2, since_ms);
  for (const auto& type : finished_types()) {
    query.bind_unowned(1, type);
    while (query.step()) minutes[{query.int64(0), query.text(1)}] += query.int64(2);
    query.reset();
  }
  std::vector<FinishedMinute> out;
  out.reserve(minutes.size());
  for (const auto& [key, count] : minutes) out.push_back(FinishedMinute{key.first, key.second, count});
  return out;
}

std::int64_t JobQueue::data_version() {
  InUse query(m_statements->get(m_statements->data_version, "PRAGMA data_version"));
  query->step();
  return query->int64(0);
}

// ---- housekeeping --------------------------------------------------------

std::int64_t JobQueue::prune(std::int64_t retention_ms, int batch) {
  batch = std::max(1, batch);
  std::vector<std::string> types;
  {
    auto timer = m_connection.time_query();
    types = finished_types();
  }
  std::int64_t total = 0;
  for (const auto& type : types) {
    for (;;) {
      auto timer = m_connection.time_query();
      const int deleted = db::write(m_connection, [&] {
        // finished_at is set exactly for succeeded, dead and canceled jobs.
        InUse prune(m_statements->get(
            m_statements->prune,
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_finished_counts WHERE type = ?3"
            " AND state IN ('canceled', 'dead', 'succeeded') AND finished_at IS NOT NULL AND finished_at < ?1"
            " LIMIT ?2)"));
        prune->bind(1, m_clock.now_ms() - retention_ms);
        prune->bind(2, batch);
        prune->bind_unowned(3, type);
        return prune->exec();
      });
      total += deleted;
      if (deleted < batch) break;
    }
  }
  return total;
}

}  // namespace pw::queue
