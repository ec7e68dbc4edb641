#include "queue/job_queue.hpp"

#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>

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

std::optional<std::string> optional_text(const SQLite::Column& column) {
  if (column.isNull()) return std::nullopt;
  return column.getString();
}

std::optional<std::int64_t> optional_int(const SQLite::Column& column) {
  if (column.isNull()) return std::nullopt;
  return column.getInt64();
}

Job read_job(SQLite::Statement& row) {
  Job job;
  job.id = row.getColumn(0).getInt64();
  job.type = row.getColumn(1).getString();
  job.payload = row.getColumn(2).getString();
  job.trace_id = optional_text(row.getColumn(3));
  job.user_id = optional_int(row.getColumn(4));
  job.priority = row.getColumn(5).getInt();
  job.state = parse_job_state(row.getColumn(6).getString()).value_or(JobState::queued);
  job.attempts = row.getColumn(7).getInt();
  job.max_attempts = row.getColumn(8).getInt();
  job.run_at_ms = row.getColumn(9).getInt64();
  job.lease_owner = optional_text(row.getColumn(10));
  job.lease_expires_at_ms = optional_int(row.getColumn(11));
  job.last_error = optional_text(row.getColumn(12));
  job.result = optional_text(row.getColumn(13));
  job.idempotency_key = optional_text(row.getColumn(14));
  job.created_at_ms = row.getColumn(15).getInt64();
  job.updated_at_ms = row.getColumn(16).getInt64();
  job.started_at_ms = optional_int(row.getColumn(17));
  job.finished_at_ms = optional_int(row.getColumn(18));
  job.claim = row.getColumn(19).getInt64();
  return job;
}

void bind_optional(SQLite::Statement& statement, int index, const std::optional<std::string>& value) {
  if (value) {
    statement.bindNoCopy(index, *value);
  } else {
    statement.bind(index);
  }
}

void bind_optional(SQLite::Statement& statement, int index, const std::optional<std::int64_t>& value) {
  if (value) {
    statement.bind(index, static_cast<int64_t>(*value));
  } else {
    statement.bind(index);
  }
}

// Resets a cached statement when the scope ends, so it never holds a read
// snapshot open (which would pin the WAL and block checkpoints).
class Using {
 public:
  explicit Using(SQLite::Statement& statement) : m_statement(statement) {}
  ~Using() {
    // No binding may outlive the strings it points to (bindNoCopy).
    m_statement.tryReset();
    try {
      m_statement.clearBindings();
    } catch (...) {
      // sqlite3_clear_bindings cannot fail; nothing to do in a destructor.
    }
  }
  Using(const Using&) = delete;
  Using& operator=(const Using&) = delete;
  SQLite::Statement* operator->() { return &m_statement; }
  SQLite::Statement& operator*() { return m_statement; }

 private:
  SQLite::Statement& m_statement;
};

bool is_busy(const SQLite::Exception& e) {
  return e.getErrorCode() == SQLITE_BUSY || e.getErrorCode() == SQLITE_LOCKED;
}

// Opens a write transaction. The busy timeout already waits for the write
// lock; should BUSY still escape (a very long writer elsewhere), BEGIN is
// retried with a short backoff. Retrying BEGIN is always safe: nothing has
// been done yet.
void begin_write(std::optional<db::WriteTransaction>& tx, db::Connection& connection) {
  for (int attempt = 0;; ++attempt) {
    try {
      tx.emplace(connection);
      return;
    } catch (const SQLite::Exception& e) {
      if (!is_busy(e) || attempt >= 50) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(100, 1 + attempt * 5)));
    }
  }
}

double random01() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

}  // namespace

// Every statement the queue runs often, prepared once per JobQueue.
// Hot statements name their index (INDEXED BY): without ANALYZE statistics
// the planner prefers jobs_state_type's equality on state and then sorts every
// queued row for each claim, which is slow exactly when the backlog is large.
struct JobQueue::Statements {
  explicit Statements(SQLite::Database& database) : db(database) {}

  SQLite::Statement& get(std::unique_ptr<SQLite::Statement>& slot, const char* sql) {
    if (!slot) slot = std::make_unique<SQLite::Statement>(db, sql);
    return *slot;
  }

  SQLite::Database& db;
  std::unique_ptr<SQLite::Statement> insert, find_by_key, expired, expire, claim, renew, complete, fail_read,
      fail_write, release, data_version, next_run, next_lease, find, cancel, retry, prune;
};

JobQueue::JobQueue(db::Connection& connection, const Clock& clock, config::RetryConfig retry)
    : m_connection(connection),
      m_clock(clock),
      m_retry(retry),
      m_statements(std::make_unique<Statements>(connection.sql())) {}

JobQueue::~JobQueue() = default;

// ---- enqueue -------------------------------------------------------------

EnqueueResult JobQueue::enqueue(const NewJob& job) {
  auto timer = m_connection.time_query();
  std::optional<db::WriteTransaction> tx;
  begin_write(tx, m_connection);
  EnqueueResult result = enqueue_in_transaction(job);
  tx->commit();
  return result;
}

EnqueueResult JobQueue::enqueue_in_transaction(const NewJob& job) {
  // Checked here rather than by a CHECK (json_valid(...)) in the table: the
  // same guarantee at a fraction of SQLite's cost per row.
  if (!nlohmann::json::accept(job.payload)) {
    throw std::invalid_argument("job payload is not valid JSON (type " + job.type + ")");
  }
  std::int64_t now = m_clock.now_ms();
  {
    // ON CONFLICT DO NOTHING: a repeated idempotency key inserts nothing
    // (no change), and the existing job is looked up below. NULL keys never
    // conflict. (No RETURNING: it costs more per row than reading the rowid.)
    Using insert(m_statements->get(
        m_statements->insert,
        "INSERT INTO jobs (type, payload, trace_id, user_id, priority, max_attempts, run_at, "
        "idempotency_key, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) "
        "ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"));
    insert->bindNoCopy(1, job.type);
    insert->bindNoCopy(2, job.payload);
    bind_optional(*insert, 3, job.trace_id);
    bind_optional(*insert, 4, job.user_id);
    insert->bind(5, job.priority);
    insert->bind(6, job.max_attempts.value_or(m_retry.default_max_attempts));
    insert->bind(7, static_cast<int64_t>(job.run_at_ms.value_or(now)));
    bind_optional(*insert, 8, job.idempotency_key);
    insert->bind(9, static_cast<int64_t>(now));
    if (insert->exec() == 1) return EnqueueResult{m_connection.sql().getLastInsertRowid(), true};
  }
  Using find(m_statements->get(m_statements->find_by_key,
                               "SELECT id FROM jobs WHERE idempotency_key = ?1 AND idempotency_key IS NOT NULL"));
  find->bindNoCopy(1, *job.idempotency_key);
  if (!find->executeStep()) {
    throw std::logic_error("job insert was skipped but no job holds its idempotency key");
  }
  return EnqueueResult{find->getColumn(0).getInt64(), false};
}

std::vector<EnqueueResult> JobQueue::enqueue_many(const std::vector<NewJob>& jobs) {
  std::vector<EnqueueResult> results;
  results.reserve(jobs.size());
  auto timer = m_connection.time_query();
  std::optional<db::WriteTransaction> tx;
  begin_write(tx, m_connection);
  for (const auto& job : jobs) results.push_back(enqueue_in_transaction(job));
  tx->commit();
  return results;
}

// ---- claim and lease -----------------------------------------------------

// Records one write transaction, from asking for the lock to its end
// (commit, or an exception), in the queue's LockWaits.
class JobQueue::WriteStretch {
 public:
  explicit WriteStretch(const JobQueue& queue) : m_queue(queue), m_start(std::chrono::steady_clock::now()) {}
  ~WriteStretch() {
    if (m_queue.m_lock_waits) m_queue.m_lock_waits->record(m_start, std::chrono::steady_clock::now());
  }
  WriteStretch(const WriteStretch&) = delete;
  WriteStretch& operator=(const WriteStretch&) = delete;
  LockWaits::Instant start() const { return m_start; }

 private:
  const JobQueue& m_queue;
  LockWaits::Instant m_start;
};

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
  ClaimResult result;
  auto timer = m_connection.time_query();
  WriteStretch stretch(*this);
  std::optional<db::WriteTransaction> tx;
  // BEGIN IMMEDIATE: take the write lock up front so two workers never claim one row.
  begin_write(tx, m_connection);
  claim_in_transaction(owner, limit, lease_ms, m_clock.now_ms(), stretch.start(), result);
  tx->commit();
  sort_in_claim_order(result);
  return result;
}

void JobQueue::sort_in_claim_order(ClaimResult& result) {
  // RETURNING gives rows in no promised order; hand them out in claim order.
  std::sort(result.jobs.begin(), result.jobs.end(), [](const ClaimedJob& a, const ClaimedJob& b) {
    return std::tie(a.job.priority, a.job.run_at_ms, a.job.id) <
           std::tie(b.job.priority, b.job.run_at_ms, b.job.id);
  });
}

void JobQueue::claim_in_transaction(const std::string& owner, int limit, std::int64_t lease_ms, std::int64_t now,
                                    LockWaits::Instant asked_for_lock_at, ClaimResult& result) {
  const std::int64_t lapsed_before = now - lapse_grace_ms(lease_ms, asked_for_lock_at);
  {
    // The lapse of a lease is a failed attempt; the job keeps its run_at and
    // so its place in line. Read first (for the caller's logs: who held it),
    // then settle, both under the write lock.
    Using expired(m_statements->get(
        m_statements->expired,
        "SELECT id, type, trace_id, attempts, max_attempts, lease_owner, claim FROM jobs INDEXED BY jobs_leases "
        "WHERE state = 'running' AND lease_expires_at <= ?1"));
    expired->bind(1, static_cast<int64_t>(lapsed_before));
    while (expired->executeStep()) {
      ExpiredLease lapsed;
      lapsed.job_id = expired->getColumn(0).getInt64();
      lapsed.type = expired->getColumn(1).getString();
      lapsed.trace_id = optional_text(expired->getColumn(2));
      lapsed.attempts = expired->getColumn(3).getInt();
      lapsed.max_attempts = expired->getColumn(4).getInt();
      lapsed.dead = lapsed.attempts >= lapsed.max_attempts;
      lapsed.previous_owner = expired->getColumn(5).getString();
      lapsed.claim = expired->getColumn(6).getInt64();
      result.expired.push_back(std::move(lapsed));
    }
  }
  if (!result.expired.empty()) {
    Using expire(m_statements->get(
        m_statements->expire,
        "UPDATE jobs SET "
        " state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,"
        " last_error = ?2,"
        " lease_owner = CASE WHEN attempts >= max_attempts THEN lease_owner ELSE NULL END,"
        " lease_expires_at = NULL, updated_at = ?1,"
        " finished_at = CASE WHEN attempts >= max_attempts THEN ?1 ELSE NULL END "
        "WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_leases"
        "             WHERE state = 'running' AND lease_expires_at <= ?3)"));
    expire->bind(1, static_cast<int64_t>(now));
    expire->bind(3, static_cast<int64_t>(lapsed_before));
    expire->bindNoCopy(2, kLeaseExpiredError);
    expire->exec();
  }
  if (limit > 0) {
    Using claim(m_statements->get(
        m_statements->claim,
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, claim = claim + 1, lease_owner = ?1,"
        " lease_expires_at = ?2, started_at = ?3, updated_at = ?3 "
        "WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_ready WHERE state = 'queued' AND run_at <= ?3"
        "             ORDER BY priority, run_at, id LIMIT ?4) "
        "RETURNING id, type, payload, trace_id, user_id, priority, state, attempts, max_attempts,"
        " run_at, lease_owner, lease_expires_at, last_error, result, idempotency_key, created_at,"
        " updated_at, started_at, finished_at, claim"));
    claim->bindNoCopy(1, owner);
    claim->bind(2, static_cast<int64_t>(now + lease_ms));
    claim->bind(3, static_cast<int64_t>(now));
    claim->bind(4, limit);
    while (claim->executeStep()) result.jobs.push_back(ClaimedJob{read_job(*claim)});
  }
}

std::vector<ClaimToken> JobQueue::renew(const std::string& owner, const std::vector<ClaimToken>& claims,
                                        std::int64_t lease_ms) {
  if (claims.empty()) return {};
  // [[id, claim], ...]: one statement renews every claim still held.
  std::string held_json = "[";
  for (std::size_t i = 0; i < claims.size(); ++i) {
    if (i) held_json += ',';
    held_json += '[' + std::to_string(claims[i].job_id) + ',' + std::to_string(claims[i].claim) + ']';
  }
  held_json += ']';
  std::vector<ClaimToken> held;
  held.reserve(claims.size());
  auto timer = m_connection.time_query();
  WriteStretch stretch(*this);
  std::optional<db::WriteTransaction> tx;
  begin_write(tx, m_connection);
  std::int64_t now = m_clock.now_ms();
  {
    Using renew(m_statements->get(
        m_statements->renew,
        "UPDATE jobs SET lease_expires_at = ?1, updated_at = ?2 "
        "FROM (SELECT value ->> 0 AS id, value ->> 1 AS claim FROM json_each(?3)) AS held "
        "WHERE jobs.id = held.id AND jobs.claim = held.claim AND jobs.state = 'running' AND jobs.lease_owner = ?4 "
        "RETURNING jobs.id, jobs.claim"));
    renew->bind(1, static_cast<int64_t>(now + lease_ms));
    renew->bind(2, static_cast<int64_t>(now));
    renew->bindNoCopy(3, held_json);
    renew->bindNoCopy(4, owner);
    while (renew->executeStep()) held.push_back({renew->getColumn(0).getInt64(), renew->getColumn(1).getInt64()});
  }
  tx->commit();
  std::sort(held.begin(), held.end());
  std::vector<ClaimToken> lost;
  for (const auto& claim : claims) {
    if (!std::binary_search(held.begin(), held.end(), claim)) lost.push_back(claim);
  }
  return lost;
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
  WriteStretch stretch(*this);
  std::optional<db::WriteTransaction> tx;
  begin_write(tx, m_connection);
  std::int64_t now = m_clock.now_ms();
  auto& database = m_connection.sql();
  if (!completions.empty()) {
    Using complete(m_statements->get(
        m_statements->complete,
        "UPDATE jobs SET state = 'succeeded', result = ?1, lease_expires_at = NULL,"
        " updated_at = ?2, finished_at = ?2 "
        "WHERE id = ?3 AND claim = ?5 AND state = 'running' AND lease_owner = ?4"));
    complete->bind(2, static_cast<int64_t>(now));
    complete->bindNoCopy(4, owner);
    for (const auto& completion : completions) {
      complete->bindNoCopy(1, completion.result);
      complete->bind(3, static_cast<int64_t>(completion.token.job_id));
      complete->bind(5, static_cast<int64_t>(completion.token.claim));
      complete->exec();
      outcomes.completed.push_back(database.getChanges() == 1);
      complete->reset();
    }
  }
  for (const auto& failure : failures) outcomes.failed.push_back(fail_in_transaction(owner, failure, now));
  if (!releases.empty()) {
    // attempts - 1: the claim that is handed back is not charged.
    Using release(m_statements->get(
        m_statements->release,
        "UPDATE jobs SET state = 'queued', attempts = attempts - 1, lease_owner = NULL,"
        " lease_expires_at = NULL, updated_at = ?1 "
        "WHERE id = ?2 AND claim = ?4 AND state = 'running' AND lease_owner = ?3"));
    release->bind(1, static_cast<int64_t>(now));
    release->bindNoCopy(3, owner);
    for (const auto& claim : releases) {
      release->bind(2, static_cast<int64_t>(claim.job_id));
      release->bind(4, static_cast<int64_t>(claim.claim));
      release->exec();
      outcomes.released.push_back(database.getChanges() == 1);
      release->reset();
    }
  }
  // After the outcomes, so a job that just failed with no backoff can be
  // claimed again at once.
  if (refill.limit > 0) {
    claim_in_transaction(owner, refill.limit, refill.lease_ms, now, stretch.start(), outcomes.claimed);
  }
  tx->commit();
  sort_in_claim_order(outcomes.claimed);
  return outcomes;
}

FailureOutcome JobQueue::fail_in_transaction(const std::string& owner, const Failure& failure, std::int64_t now) {
  int attempts = 0;
  int max_attempts = 0;
  {
    Using read(m_statements->get(
        m_statements->fail_read,
        "SELECT attempts, max_attempts FROM jobs WHERE id = ?1 AND claim = ?3 AND state = 'running'"
        " AND lease_owner = ?2"));
    read->bind(1, static_cast<int64_t>(failure.token.job_id));
    read->bindNoCopy(2, owner);
    read->bind(3, static_cast<int64_t>(failure.token.claim));
    if (!read->executeStep()) return FailureOutcome::lost_lease;
    attempts = read->getColumn(0).getInt();
    max_attempts = read->getColumn(1).getInt();
  }
  bool dead = failure.kind == FailureKind::permanent || attempts >= max_attempts;
  Using write(m_statements->get(
      m_statements->fail_write,
      "UPDATE jobs SET state = ?1, last_error = ?2, run_at = ?3, updated_at = ?4,"
      " lease_owner = CASE WHEN ?1 = 'dead' THEN lease_owner ELSE NULL END,"
      " lease_expires_at = NULL, finished_at = CASE WHEN ?1 = 'dead' THEN ?4 ELSE NULL END "
      "WHERE id = ?5 AND claim = ?7 AND state = 'running' AND lease_owner = ?6"));
  write->bind(1, dead ? "dead" : "queued");
  write->bindNoCopy(2, failure.error);
  write->bind(3, static_cast<int64_t>(dead ? now : now + backoff_ms(m_retry, attempts, random01())));
  write->bind(4, static_cast<int64_t>(now));
  write->bind(5, static_cast<int64_t>(failure.token.job_id));
  write->bindNoCopy(6, owner);
  write->bind(7, static_cast<int64_t>(failure.token.claim));
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
  std::optional<db::WriteTransaction> tx;
  begin_write(tx, m_connection);
  std::int64_t now = m_clock.now_ms();
  int changed;
  {
    Using cancel(m_statements->get(
        m_statements->cancel,
        "UPDATE jobs SET state = 'canceled', lease_expires_at = NULL, updated_at = ?1, finished_at = ?1 "
        "WHERE id = ?2 AND state IN ('queued', 'running')"));
    cancel->bind(1, static_cast<int64_t>(now));
    cancel->bind(2, static_cast<int64_t>(job_id));
    changed = cancel->exec();
  }
  tx->commit();
  return changed == 1;
}

bool JobQueue::retry(std::int64_t job_id) {
  auto timer = m_connection.time_query();
  std::optional<db::WriteTransaction> tx;
  begin_write(tx, m_connection);
  std::int64_t now = m_clock.now_ms();
  int changed;
  {
    // The last error is kept for the record until the next attempt replaces it.
    Using retry(m_statements->get(
        m_statements->retry,
        "UPDATE jobs SET state = 'queued', attempts = 0, run_at = ?1, lease_owner = NULL,"
        " lease_expires_at = NULL, result = NULL, updated_at = ?1, finished_at = NULL "
        "WHERE id = ?2 AND state IN ('dead', 'canceled')"));
    retry->bind(1, static_cast<int64_t>(now));
    retry->bind(2, static_cast<int64_t>(job_id));
    changed = retry->exec();
  }
  tx->commit();
  return changed == 1;
}

// ---- reading -------------------------------------------------------------

std::optional<Job> JobQueue::find(std::int64_t job_id) {
  auto timer = m_connection.time_query();
  Using find(m_statements->get(m_statements->find,
                               (std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?1").c_str()));
  find->bind(1, static_cast<int64_t>(job_id));
  if (!find->executeStep()) return std::nullopt;
  return read_job(*find);
}

std::vector<Job> JobQueue::list(const JobFilter& filter) {
  std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE 1";
  if (filter.state) sql += " AND state = :state";
  if (filter.type) sql += " AND type = :type";
  if (filter.user_id) sql += " AND user_id = :user_id";
  if (filter.before_id) sql += " AND id < :before_id";
  sql += " ORDER BY id DESC LIMIT :limit";
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(), sql);
  std::string state = filter.state ? std::string(to_string(*filter.state)) : std::string();
  if (filter.state) query.bind(":state", state);
  if (filter.type) query.bind(":type", *filter.type);
  if (filter.user_id) query.bind(":user_id", static_cast<int64_t>(*filter.user_id));
  if (filter.before_id) query.bind(":before_id", static_cast<int64_t>(*filter.before_id));
  query.bind(":limit", std::max(0, filter.limit));
  std::vector<Job> jobs;
  while (query.executeStep()) jobs.push_back(read_job(query));
  return jobs;
}

std::map<std::string, std::map<std::string, std::int64_t>> JobQueue::counts() {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(), "SELECT type, state, count(*) FROM jobs GROUP BY type, state");
  std::map<std::string, std::map<std::string, std::int64_t>> out;
  while (query.executeStep()) {
    out[query.getColumn(0).getString()][query.getColumn(1).getString()] = query.getColumn(2).getInt64();
  }
  return out;
}

std::map<std::string, std::int64_t> JobQueue::ready_counts() {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(),
                          "SELECT type, count(*) FROM jobs INDEXED BY jobs_due"
                          " WHERE state = 'queued' AND run_at <= ?1 GROUP BY type");
  query.bind(1, static_cast<int64_t>(m_clock.now_ms()));
  std::map<std::string, std::int64_t> out;
  while (query.executeStep()) out[query.getColumn(0).getString()] = query.getColumn(1).getInt64();
  return out;
}

std::map<std::string, double> JobQueue::oldest_ready_age_seconds() {
  auto timer = m_connection.time_query();
  std::int64_t now = m_clock.now_ms();
  SQLite::Statement query(m_connection.sql(),
                          "SELECT type, min(run_at) FROM jobs INDEXED BY jobs_due"
                          " WHERE state = 'queued' AND run_at <= ?1 GROUP BY type");
  query.bind(1, static_cast<int64_t>(now));
  std::map<std::string, double> out;
  while (query.executeStep()) {
    out[query.getColumn(0).getString()] = static_cast<double>(now - query.getColumn(1).getInt64()) / 1000.0;
  }
  return out;
}

std::optional<std::int64_t> JobQueue::next_due_ms() {
  std::optional<std::int64_t> next;
  auto consider = [&](std::unique_ptr<SQLite::Statement>& slot, const char* sql) {
    Using query(m_statements->get(slot, sql));
    if (query->executeStep() && !query->getColumn(0).isNull()) {
      std::int64_t at = query->getColumn(0).getInt64();
      if (!next || at < *next) next = at;
    }
  };
  // No "after now" filter: a moment that passed between the caller's claim
  // and this query must still be named, or nothing would wake the caller for
  // it. Both are answered from the first entry of a partial index.
  consider(m_statements->next_run, "SELECT min(run_at) FROM jobs INDEXED BY jobs_due WHERE state = 'queued'");
  consider(m_statements->next_lease,
           "SELECT min(lease_expires_at) FROM jobs INDEXED BY jobs_leases WHERE state = 'running'");
  return next;
}

std::int64_t JobQueue::data_version() {
  Using query(m_statements->get(m_statements->data_version, "PRAGMA data_version"));
  query->executeStep();
  return query->getColumn(0).getInt64();
}

// ---- housekeeping --------------------------------------------------------

std::int64_t JobQueue::prune(std::int64_t retention_ms, int batch) {
  std::int64_t total = 0;
  for (;;) {
    auto timer = m_connection.time_query();
    WriteStretch stretch(*this);
    std::optional<db::WriteTransaction> tx;
    begin_write(tx, m_connection);
    int deleted;
    {
      // finished_at is set exactly for succeeded, dead and canceled jobs; the
      // state test says so again for the reader.
      Using prune(m_statements->get(
          m_statements->prune,
          "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_finished WHERE finished_at < ?1"
          " AND state IN ('succeeded', 'dead', 'canceled') LIMIT ?2)"));
      prune->bind(1, static_cast<int64_t>(m_clock.now_ms() - retention_ms));
      prune->bind(2, std::max(1, batch));
      deleted = prune->exec();
    }
    tx->commit();
    total += deleted;
    if (deleted < std::max(1, batch)) return total;
  }
}

}  // namespace pw::queue
