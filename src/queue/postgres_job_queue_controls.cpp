// The operator controls on PostgreSQL (controls.hpp). A claim reads the
// pauses with a plain SELECT (READ COMMITTED: whatever was committed before
// it) and locks the buckets it spends with FOR UPDATE SKIP LOCKED: two
// workers never spend one token, and one that finds a bucket in another's
// claim passes the type over this once instead of queueing behind it.
#include <algorithm>
#include <cmath>

#include "queue/postgres_job_queue.hpp"

namespace pw::queue {

using db::postgres::Params;
using db::postgres::Rows;

// postgres_job_queue.cpp's reading of a whole job (its kJobColumns, in order).
Job read_claimed_job(const Rows& rows, int row);

namespace {

constexpr const char* kNow = "COALESCE($1::bigint, pw_now_ms())";
constexpr const char* kJobColumns =
    "j.id, j.type, j.payload, j.trace_id, j.user_id, j.priority, j.state, j.attempts, j.max_attempts, j.run_at, "
    "j.lease_owner, j.lease_expires_at, j.last_error, j.result, j.idempotency_key, j.created_at, j.updated_at, "
    "j.started_at, j.finished_at, j.claim";

std::string sql(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto part : parts) out += part;
  return out;
}

// Columns 0-6 of a control row.
TypeControl read_control(const Rows& rows, int row) {
  TypeControl control;
  control.type = rows.text(row, 0);
  control.paused = rows.int64(row, 1) != 0;
  if (auto rate = rows.optional_int64(row, 2)) control.rate_per_second = static_cast<double>(*rate) / 1000.0;
  control.tokens = static_cast<double>(rows.int64(row, 3)) / 1e6;
  control.refilled_at_ms = rows.int64(row, 4);
  control.held = rows.int64(row, 5) != 0;
  control.updated_at_ms = rows.int64(row, 6);
  return control;
}

std::int64_t to_millionths(double tokens) { return std::llround(std::max(0.0, tokens) * 1e6); }

constexpr const char* kTidy =
    "DELETE FROM job_type_controls WHERE type = $1 AND paused = 0 AND rate_per_1000s IS NULL";

}  // namespace

std::vector<TypeControl> PostgresJobQueue::read_controls(std::int64_t& now) {
  // Also read outside any transaction (controls(), next_due_controlled()):
  // reading() opens again a session the server ended; inside a claim's
  // transaction it refuses, as the statement itself would fail.
  auto rows = reading().prepared(
      "pw_controls",
      sql({"SELECT type, paused, rate_per_1000s, token_millionths, refilled_at, held, updated_at, ", kNow,
           " FROM job_type_controls ORDER BY type"}),
      Params().add(fixed_now()));
  std::vector<TypeControl> out;
  for (int i = 0; i < rows.size(); ++i) {
    out.push_back(read_control(rows, i));
    now = rows.int64(i, 7);
  }
  return out;
}

std::vector<TypeControl> PostgresJobQueue::controls() {
  std::int64_t now = 0;
  return read_controls(now);
}

// Operator writes of one row each: a plain transaction (a lost race is the
// operator's to repeat, as with any command that fails).
void PostgresJobQueue::set_paused(const std::string& type, bool paused) {
  db::postgres::Transaction transaction(m_connection);
  {
    m_connection.prepared(
        "pw_set_paused",
        sql({"INSERT INTO job_type_controls (type, paused, updated_at) VALUES ($2, $3, ", kNow, ") "
             "ON CONFLICT (type) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at"}),
        Params().add(fixed_now()).add(type).add(paused ? 1 : 0));
    m_connection.prepared("pw_tidy_control", kTidy, Params().add(type));
    // Resumed jobs are news to idle workers, as an enqueue is (on commit).
    if (!paused) m_connection.prepared("pw_notify", "SELECT pg_notify($1, '')", Params().add(kJobsChannel));
  }
  transaction.commit();
}

void PostgresJobQueue::set_rate_limit(const std::string& type, std::optional<double> per_second) {
  std::optional<std::int64_t> rate;
  if (per_second) rate = std::max<std::int64_t>(1, std::llround(*per_second * 1000.0));
  // A new limit starts with a full bucket, as if the type had been quiet.
  const std::int64_t full = rate ? to_millionths(bucket_capacity(static_cast<double>(*rate) / 1000.0)) : 0;
  db::postgres::Transaction transaction(m_connection);
  {
    m_connection.prepared(
        "pw_set_rate_limit",
        sql({"INSERT INTO job_type_controls (type, rate_per_1000s, token_millionths, refilled_at, held, updated_at)"
             " VALUES ($2, $3, $4, ", kNow, ", 0, ", kNow, ") "
             "ON CONFLICT (type) DO UPDATE SET rate_per_1000s = excluded.rate_per_1000s,"
             " token_millionths = excluded.token_millionths, refilled_at = excluded.refilled_at,"
             " held = 0, updated_at = excluded.updated_at"}),
        Params().add(fixed_now()).add(type).add(rate).add(full));
    m_connection.prepared("pw_tidy_control", kTidy, Params().add(type));
    m_connection.prepared("pw_notify", "SELECT pg_notify($1, '')", Params().add(kJobsChannel));
  }
  transaction.commit();
}

bool PostgresJobQueue::claim_controlled(const std::string& owner, int limit, std::int64_t lease_ms,
                                        const std::vector<std::string>& skip_types, ClaimResult& result,
                                        std::vector<std::string>& skip) {
  std::int64_t now = 0;
  std::vector<TypeControl> controls = read_controls(now);
  m_controls_seen = !controls.empty();
  if (controls.empty()) return false;
  ClaimPlan plan = plan_claim(controls, skip_types, limit, now);
  skip = std::move(plan.skip_types);
  if (plan.limited.empty()) return true;
  // The buckets this claim may spend, locked and read afresh; one another
  // claim holds is left to it.
  std::vector<std::string> wanted;
  for (const auto& limited : plan.limited) wanted.push_back(limited.type);
  auto locked = m_connection.prepared(
      "pw_lock_buckets",
      "SELECT type, paused, rate_per_1000s, token_millionths, refilled_at, held, updated_at FROM job_type_controls"
      " WHERE type = ANY($1::text[]) AND paused = 0 AND rate_per_1000s IS NOT NULL"
      " ORDER BY type FOR UPDATE SKIP LOCKED",
      Params().add_array(wanted));
  std::vector<TypeControl> buckets;
  for (int i = 0; i < locked.size(); ++i) buckets.push_back(read_control(locked, i));
  // The limited types are claimed first: their buckets bound how many, and
  // a full batch of other types would otherwise crowd them out for good.
  int room = limit;
  for (const auto& limited : plan_claim(buckets, {}, limit, now).limited) {
    const int want = std::min(limited.allowance, room);
    int taken = 0;
    if (want > 0) {
      auto claimed = m_connection.prepared(
          "pw_claim_type",
          sql({"WITH n AS (SELECT ", kNow, " AS now),"
               " ready AS (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= (SELECT now FROM n)"
               "           AND type = $5 ORDER BY priority, run_at, id LIMIT $3 FOR UPDATE OF jobs SKIP LOCKED) "
               "UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, claim = j.claim + 1, lease_owner = $2,"
               " lease_expires_at = n.now + $4, started_at = n.now, updated_at = n.now "
               "FROM ready, n WHERE j.id = ready.id RETURNING ", kJobColumns}),
          Params().add(fixed_now()).add(owner).add(want).add(lease_ms).add(limited.type));
      for (int i = 0; i < claimed.size(); ++i) result.jobs.push_back(ClaimedJob{read_claimed_job(claimed, i)});
      taken = claimed.size();
      room -= taken;
    }
    // Held back: the bucket, not the caller's room, ran out with ready jobs left.
    bool held = false;
    if (taken == limited.allowance && want == limited.allowance) {
      auto ready = m_connection.prepared(
          "pw_type_ready",
          sql({"SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'queued' AND run_at <= ", kNow, " AND type = $2)"}),
          Params().add(fixed_now()).add(limited.type));
      held = ready.boolean(0, 0);
    }
    if (held) result.rate_limited.push_back(limited.type);
    if (taken == 0 && held == limited.held) continue;  // the stored bucket still says it all
    m_connection.prepared(
        "pw_spend_bucket",
        "UPDATE job_type_controls SET token_millionths = $2, refilled_at = $3, held = $4 WHERE type = $1",
        Params().add(limited.type).add(to_millionths(limited.tokens - taken)).add(now).add(held ? 1 : 0));
  }
  return true;
}

std::optional<std::int64_t> PostgresJobQueue::next_due_controlled() {
  std::int64_t now = 0;
  std::vector<TypeControl> controls = read_controls(now);
  m_controls_seen = !controls.empty();
  DueExclusions excluded = due_exclusions(controls, now);
  // A paused type's running jobs still lapse, and a lapse is settled by a claim.
  // The types seeked one to the next in jobs_ready_by_type; the excluded
  // ones are passed over without reading their rows, each other type's read
  // for its earliest run_at (a type is ordered by priority first). Asked
  // only when a claim came back short, so those rows are mostly not yet due.
  auto rows = reading().prepared(
      "pw_next_due_controlled",
      "WITH RECURSIVE t AS ("
      " (SELECT type FROM jobs WHERE state = 'queued' ORDER BY type, priority, run_at, id LIMIT 1)"
      " UNION ALL"
      " SELECT (SELECT q.type FROM jobs q WHERE q.state = 'queued' AND q.type > t.type"
      "         ORDER BY q.type, q.priority, q.run_at, q.id LIMIT 1) FROM t WHERE t.type IS NOT NULL) "
      "SELECT least((SELECT min((SELECT min(q.run_at) FROM jobs q WHERE q.state = 'queued'"
      "                          AND q.type >= t.type AND q.type <= t.type))"
      "              FROM t WHERE t.type IS NOT NULL AND NOT (t.type = ANY($1::text[]))),"
      " (SELECT min(lease_expires_at) FROM jobs WHERE state = 'running'))",
      Params().add_array(excluded.types));
  std::optional<std::int64_t> next = rows.optional_int64(0, 0);
  if (excluded.next_token_ms && (!next || *excluded.next_token_ms < *next)) next = excluded.next_token_ms;
  return next;
}

}  // namespace pw::queue
