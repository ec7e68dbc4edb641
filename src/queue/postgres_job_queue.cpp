#include "queue/postgres_job_queue.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <type_traits>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace pw::queue {

using db::postgres::Params;
using db::postgres::Rows;

namespace {

// Every statement names its "now" as $1: NULL for the server's clock.
constexpr const char* kNow = "COALESCE($1::bigint, pw_now_ms())";

constexpr const char* kJobColumns =
    "j.id, j.type, j.payload, j.trace_id, j.user_id, j.priority, j.state, j.attempts, j.max_attempts, j.run_at, "
    "j.lease_owner, j.lease_expires_at, j.last_error, j.result, j.idempotency_key, j.created_at, j.updated_at, "
    "j.started_at, j.finished_at, j.claim";

Job read_job(const Rows& rows, int row) {
  Job job;
  job.id = rows.int64(row, 0);
  job.type = rows.text(row, 1);
  job.payload = rows.text(row, 2);
  job.trace_id = rows.optional_text(row, 3);
  job.user_id = rows.optional_int64(row, 4);
  job.priority = rows.int32(row, 5);
  job.state = parse_job_state(rows.view(row, 6)).value_or(JobState::queued);
  job.attempts = rows.int32(row, 7);
  job.max_attempts = rows.int32(row, 8);
  job.run_at_ms = rows.int64(row, 9);
  job.lease_owner = rows.optional_text(row, 10);
  job.lease_expires_at_ms = rows.optional_int64(row, 11);
  job.last_error = rows.optional_text(row, 12);
  job.result = rows.optional_text(row, 13);
  job.idempotency_key = rows.optional_text(row, 14);
  job.created_at_ms = rows.int64(row, 15);
  job.updated_at_ms = rows.int64(row, 16);
  job.started_at_ms = rows.optional_int64(row, 17);
  job.finished_at_ms = rows.optional_int64(row, 18);
  job.claim = rows.int64(row, 19);
  return job;
}

std::string sql(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto part : parts) out += part;
  return out;
}

// Which of `tokens` the statement's RETURNING id, claim named.
std::vector<bool> applied(const std::vector<ClaimToken>& tokens, const Rows& rows) {
  std::vector<ClaimToken> hit;
  hit.reserve(static_cast<std::size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) hit.push_back({rows.int64(i, 0), rows.int64(i, 1)});
  std::sort(hit.begin(), hit.end());
  std::vector<bool> out;
  out.reserve(tokens.size());
  for (const auto& token : tokens) out.push_back(std::binary_search(hit.begin(), hit.end(), token));
  return out;
}

template <class T, class Get>
std::vector<T> column(const std::vector<ClaimToken>& tokens, Get get) {
  std::vector<T> out;
  out.reserve(tokens.size());
  for (const auto& token : tokens) out.push_back(get(token));
  return out;
}

// The WHERE terms of a JobFilter, numbering their parameters from
// params.size() + 1 on: only the filters given appear, so every statement is
// planned for its own filters (a catch-all "$n IS NULL OR ..." would be
// planned once for all and use no index).
std::string filter_terms(const JobFilter& filter, bool paged, Params& params) {
  std::string sql;
  auto next = [&] { return "$" + std::to_string(params.size()); };
  if (filter.state) {
    params.add(to_string(*filter.state));
    sql += " AND j.state = " + next();
  }
  if (filter.type) {
    params.add(*filter.type);
    sql += " AND j.type = " + next();
  }
  if (filter.user_id) {
    params.add(*filter.user_id);
    sql += " AND j.user_id = " + next();
  }
  if (paged && filter.before_id) {
    params.add(*filter.before_id);
    sql += " AND j.id < " + next() + "::bigint";
  }
  if (filter.error_contains) {
    // strpos(), not LIKE: the text is a literal, wildcards and all.
    params.add(*filter.error_contains);
    sql += " AND j.last_error IS NOT NULL AND strpos(j.last_error, " + next() + "::text) > 0";
  }
  if (filter.trace_id) {
    params.add(*filter.trace_id);
    sql += " AND j.trace_id = " + next();
  }
  if (filter.created_from_ms) {
    params.add(*filter.created_from_ms);
    sql += " AND j.created_at >= " + next() + "::bigint";
  }
  if (filter.created_before_ms) {
    params.add(*filter.created_before_ms);
    sql += " AND j.created_at < " + next() + "::bigint";
  }
  return sql;
}

}  // namespace

// For the controlled claims of postgres_job_queue_controls.cpp.
Job read_claimed_job(const Rows& rows, int row) { return read_job(rows, row); }

namespace {

// What find() and list() read: kJobColumns, then the uniqueness key.
constexpr const char* kUniqueKeyColumn = ", j.unique_key";

Job read_job_and_key(const Rows& rows, int row) {
  Job job = read_job(rows, row);
  job.unique_key = rows.optional_text(row, 20);
  return job;
}

}  // namespace

bool NotifyLimiter::admit() {
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  auto last = m_last.load(std::memory_order_relaxed);
  // Near the minimum of rep, now - last would overflow: treat it as "never".
  bool due = last == std::numeric_limits<std::chrono::steady_clock::rep>::min() || now - last >= m_interval.count();
  return due && m_last.compare_exchange_strong(last, now, std::memory_order_relaxed);
}

PostgresJobQueue::PostgresJobQueue(db::postgres::Connection& connection, const Clock& clock,
                                   config::RetryConfig retry)
    : m_connection(connection), m_clock(clock), m_retry(retry) {}

PostgresJobQueue::PostgresJobQueue(std::unique_ptr<db::postgres::Connection> connection, const Clock& clock,
                                   config::RetryConfig retry)
    : m_owned(std::move(connection)), m_connection(*m_owned), m_clock(clock), m_retry(retry) {}

std::optional<std::int64_t> PostgresJobQueue::fixed_now() const {
  if (m_clock.is_real()) return std::nullopt;
  return m_clock.now_ms();
}

template <class Work>
auto PostgresJobQueue::transact(Work&& work) {
  // A lost race (40001, 40P01) is safe to run again: the transaction rolled
  // back whole. A few tries with a short, growing pause, then the caller
  // hears busy like any other.
  for (int attempt = 1;; ++attempt) {
    try {
      db::postgres::Transaction transaction(m_connection);
      if constexpr (std::is_void_v<std::invoke_result_t<Work&>>) {
        work();
        transaction.commit();
        return;
      } else {
        auto result = work();
        transaction.commit();
        return result;
      }
    } catch (const db::Error& error) {
      if (error.fault() != db::Fault::busy || attempt >= 5 || !m_connection.healthy()) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(attempt * attempt));
    }
  }
}

// ---- enqueue -------------------------------------------------------------------

namespace {

// The advisory lock class of uniqueness windows: pg_advisory_xact_lock's
// two-int4 form, whose keys never meet the one-bigint keys (the migrator's).
constexpr std::int32_t kUniqueLockClass = 0x50570055;  // "PW", "U"

// The newest job holding `job`'s uniqueness window, if any, with the window
// locked until this transaction ends. READ COMMITTED alone would let two
// transactions both find nothing and both insert, and no unique index can
// stand in (the window is the enqueuer's: a duration and states), so every
// enqueue of one type and key first takes a transaction-scoped advisory lock
// on a hash of them: the second waits until the first commits (or rolls
// back). The check is a statement of its own after the lock, because a READ
// COMMITTED statement sees what was committed before it started: folded into
// the locking statement it would miss the commit it waited for. (A hash
// collision only makes two keys wait for each other.) Needs READ COMMITTED,
// as every transaction of this driver is: a REPEATABLE READ snapshot taken
// earlier would not see the holder's commit.
std::optional<std::int64_t> window_holder(db::postgres::Connection& connection, const NewJob& job,
                                          std::optional<std::int64_t> fixed_now) {
  const auto states = unique_states(*job.unique);
  connection.prepared("pw_unique_lock",
                      "SELECT pg_advisory_xact_lock($1::integer, hashtext($2::text || chr(31) || $3::text))",
                      Params().add(kUniqueLockClass).add(job.type).add(job.unique->key));
  auto holder = connection.prepared(
      "pw_unique_holder",
      // OFFSET 0 fences the filter from the ORDER BY, so no estimate can
      // make the plan walk the primary key backwards (newest first) and
      // filter every row on the way, a scan of the table when no job holds
      // the window: the rows of the key come from jobs_unique, then sort.
      sql({"SELECT id FROM (SELECT id FROM jobs WHERE unique_key = $2 AND type = $3 AND state = ANY($4::text[])"
           " AND created_at > ", kNow, " - $5::bigint OFFSET 0) AS held ORDER BY id DESC LIMIT 1"}),
      Params()
          .add(fixed_now)
          .add(job.unique->key)
          .add(job.type)
          .add_array(states)
          .add(job.unique->for_ms.value_or(std::numeric_limits<std::int64_t>::max() / 2)));
  if (holder.empty()) return std::nullopt;
  return holder.int64(0, 0);
}

}  // namespace

EnqueueResult PostgresJobQueue::enqueue(const NewJob& job) {
  return transact([&] { return enqueue_in_transaction(job); });
}

EnqueueResult PostgresJobQueue::enqueue_in_transaction(const NewJob& job) {
  const std::optional<std::string> rewritten = payload_to_store(job);
  const std::string& payload = rewritten ? *rewritten : job.payload;
  if (job.unique) {
    if (auto holder = window_holder(m_connection, job, fixed_now())) {
      return EnqueueResult{*holder, false};
    }
  }
  // ON CONFLICT DO NOTHING: a repeated idempotency key inserts nothing and
  // returns no row; the existing job is read below. (A concurrent insert of
  // the same key makes this one wait for that commit, so the read finds it.)
  // A job with a window has a statement of its own (its key in unique_key),
  // so the common one stays as it was.
  Params params;
  params.add(fixed_now())
      .add(job.type)
      .add(payload)
      .add(job.trace_id)
      .add(job.user_id)
      .add(job.priority)
      .add(job.max_attempts.value_or(m_retry.default_max_attempts))
      .add(job.run_at_ms)
      .add(job.idempotency_key);
  if (job.unique) params.add(job.unique->key);
  auto inserted = m_connection.prepared(
      job.unique ? "pw_enqueue_unique" : "pw_enqueue",
      sql({"INSERT INTO jobs (type, payload, trace_id, user_id, priority, max_attempts, run_at, idempotency_key,"
           " created_at, updated_at", job.unique ? ", unique_key" : "",
           ") SELECT $2, $3, $4, $5, $6, $7, COALESCE($8::bigint, n.now), $9, n.now, n.now", job.unique ? ", $10" : "",
           " FROM (SELECT ", kNow, " AS now) n"
           " ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id"}),
      params);
  if (!inserted.empty()) {
    bool due_now = !job.run_at_ms || *job.run_at_ms <= m_clock.now_ms();
    if (due_now && (m_notify_limiter == nullptr || m_notify_limiter->admit())) {
      m_connection.prepared("pw_notify", "SELECT pg_notify($1, '')", Params().add(kJobsChannel));
    }
    return EnqueueResult{inserted.int64(0, 0), true};
  }
  auto existing = m_connection.prepared("pw_enqueue_existing",
                                        "SELECT id FROM jobs WHERE idempotency_key = $1 AND idempotency_key IS NOT NULL",
                                        Params().add(job.idempotency_key));
  if (existing.empty()) throw std::logic_error("job insert was skipped but no job holds its idempotency key");
  return EnqueueResult{existing.int64(0, 0), false};
}

std::vector<EnqueueResult> PostgresJobQueue::enqueue_many(const std::vector<NewJob>& jobs) {
  const bool keyed = std::any_of(jobs.begin(), jobs.end(),
                                 [](const NewJob& job) { return job.idempotency_key || job.unique; });
  return transact([&] {
    std::vector<EnqueueResult> results;
    results.reserve(jobs.size());
    // A job with an idempotency key or a uniqueness window may meet one
    // already there (or its twin in the batch): those go one by one, each
    // finding its existing job.
    if (keyed || jobs.empty()) {
      for (const auto& job : jobs) results.push_back(enqueue_in_transaction(job));
      return results;
    }
    std::vector<std::string> types;
    std::vector<std::string> payloads;
    std::vector<std::optional<std::string>> trace_ids;
    std::vector<std::optional<std::string>> user_ids;
    std::vector<std::int64_t> priorities;
    std::vector<std::int64_t> max_attempts;
    std::vector<std::optional<std::string>> run_ats;
    bool due_now = false;
    const std::int64_t now = m_clock.now_ms();
    for (const auto& job : jobs) {
      auto rewritten = payload_to_store(job);
      types.push_back(job.type);
      payloads.push_back(rewritten ? std::move(*rewritten) : job.payload);
      trace_ids.push_back(job.trace_id);
      user_ids.push_back(job.user_id ? std::optional<std::string>(std::to_string(*job.user_id)) : std::nullopt);
      priorities.push_back(job.priority);
      max_attempts.push_back(job.max_attempts.value_or(m_retry.default_max_attempts));
      run_ats.push_back(job.run_at_ms ? std::optional<std::string>(std::to_string(*job.run_at_ms)) : std::nullopt);
      due_now = due_now || !job.run_at_ms || *job.run_at_ms <= now;
    }
    // The whole batch in one statement. Identity values are drawn as the
    // rows are inserted, in the batch's order, so the ids sorted are the
    // jobs' ids in the order given.
    auto inserted = m_connection.prepared(
        "pw_enqueue_many",
        sql({"INSERT INTO jobs (type, payload, trace_id, user_id, priority, max_attempts, run_at, created_at,"
             " updated_at) SELECT j.type, j.payload, j.trace_id, j.user_id, j.priority, j.max_attempts,"
             " COALESCE(j.run_at, n.now), n.now, n.now FROM (SELECT ", kNow, " AS now) n,"
             " unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::integer[], $7::integer[], $8::bigint[])"
             " WITH ORDINALITY AS j (type, payload, trace_id, user_id, priority, max_attempts, run_at, position)"
             " ORDER BY j.position RETURNING id"}),
        Params()
            .add(fixed_now())
            .add_array(types)
            .add_array(payloads)
            .add_array(trace_ids)
            .add_array(user_ids)
            .add_array(priorities)
            .add_array(max_attempts)
            .add_array(run_ats));
    if (static_cast<std::size_t>(inserted.size()) != jobs.size()) {
      throw std::logic_error("a batch enqueue inserted " + std::to_string(inserted.size()) + " of " +
                             std::to_string(jobs.size()) + " jobs");
    }
    std::vector<std::int64_t> ids;
    ids.reserve(jobs.size());
    for (int row = 0; row < inserted.size(); ++row) ids.push_back(inserted.int64(row, 0));
    std::sort(ids.begin(), ids.end());
    for (auto id : ids) results.push_back(EnqueueResult{id, true});
    if (due_now && (m_notify_limiter == nullptr || m_notify_limiter->admit())) {
      m_connection.prepared("pw_notify", "SELECT pg_notify($1, '')", Params().add(kJobsChannel));
    }
    return results;
  });
}

// ---- claim and lease -------------------------------------------------------------

ClaimResult PostgresJobQueue::claim(const std::string& owner, int limit, std::int64_t lease_ms) {
  return claim(owner, limit, lease_ms, {});
}

ClaimResult PostgresJobQueue::claim(const std::string& owner, int limit, std::int64_t lease_ms,
                                    const std::vector<std::string>& skip_types) {
  auto result = transact([&] {
    ClaimResult claimed;
    claim_in_transaction(owner, limit, lease_ms, claimed, skip_types);
    return claimed;
  });
  sort_in_claim_order(result);
  return result;
}

void PostgresJobQueue::claim_in_transaction(const std::string& owner, int limit, std::int64_t lease_ms,
                                            ClaimResult& result, const std::vector<std::string>& skip_types) {
  // A lapsed lease is a failed attempt: queued again in its place in line,
  // or dead when out of attempts. SKIP LOCKED: a row another worker is
  // settling right now is left to it.
  auto lapsed = m_connection.prepared(
      "pw_expire",
      sql({"WITH n AS (SELECT ", kNow, " AS now),"
           " lapsed AS (SELECT id, lease_owner AS previous_owner, lease_expires_at AS expired_at FROM jobs"
           "            WHERE state = 'running' AND lease_expires_at <= (SELECT now FROM n)"
           "            ORDER BY id FOR UPDATE OF jobs SKIP LOCKED) "
           "UPDATE jobs j SET"
           " state = CASE WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'queued' END,"
           " last_error = $2,"
           " lease_owner = CASE WHEN j.attempts >= j.max_attempts THEN j.lease_owner ELSE NULL END,"
           " lease_expires_at = NULL, updated_at = n.now,"
           " finished_at = CASE WHEN j.attempts >= j.max_attempts THEN n.now ELSE NULL END "
           "FROM lapsed, n WHERE j.id = lapsed.id "
           "RETURNING j.id, j.type, j.trace_id, j.attempts, j.max_attempts, lapsed.previous_owner, j.claim,"
           " n.now - lapsed.expired_at"}),
      Params().add(fixed_now()).add(kLeaseExpiredError));
  for (int i = 0; i < lapsed.size(); ++i) {
    ExpiredLease expired;
    expired.job_id = lapsed.int64(i, 0);
    expired.type = lapsed.text(i, 1);
    expired.trace_id = lapsed.optional_text(i, 2);
    expired.attempts = lapsed.int32(i, 3);
    expired.max_attempts = lapsed.int32(i, 4);
    expired.dead = expired.attempts >= expired.max_attempts;
    expired.previous_owner = lapsed.optional_text(i, 5).value_or("");
    expired.claim = lapsed.int64(i, 6);
    expired.overdue_ms = lapsed.int64(i, 7);
    result.expired.push_back(std::move(expired));
  }
  if (limit <= 0) return;
  // Paused and rate-limited types (postgres_job_queue_controls.cpp): the
  // limited types' jobs are claimed there, within their buckets, and all of
  // them are passed over below.
  std::vector<std::string> controlled_skip;
  const bool controlled = claim_controlled(owner, limit, lease_ms, skip_types, result, controlled_skip);
  if (controlled) limit -= static_cast<int>(result.jobs.size());
  if (limit <= 0) return;
  const std::vector<std::string>& skip = controlled ? controlled_skip : skip_types;
  if (!skip.empty()) {
    // Passing over the types the caller has no room for, without walking
    // their rows (they collect at the head of the line while a type stays
    // full): the ready types found by seeking from one to the next in
    // jobs_ready_by_type (migration 0013), each other type's first $3 due
    // jobs locked in claim order, and the first $3 of them all claimed. The
    // few locked and not taken are free again at commit. The type is
    // bounded rather than equated, and leads the ORDER BY: told it is one
    // value, the planner drops it from the order and walks jobs_ready with
    // the type as a filter, the very walk this statement is here to avoid.
    // The seeks order by the whole key for the same reason: ordered by type
    // alone, they may walk jobs_type past every finished row.
    auto claimed = m_connection.prepared(
        "pw_claim_passing_over",
        sql({"WITH RECURSIVE n AS (SELECT ", kNow, " AS now),"
             " types AS ((SELECT type FROM jobs WHERE state = 'queued' ORDER BY type, priority, run_at, id LIMIT 1)"
             "   UNION ALL"
             "   SELECT (SELECT q.type FROM jobs q WHERE q.state = 'queued' AND q.type > t.type"
             "           ORDER BY q.type, q.priority, q.run_at, q.id LIMIT 1)"
             "   FROM types t WHERE t.type IS NOT NULL),"
             " candidates AS (SELECT c.id, c.priority, c.run_at FROM types t CROSS JOIN LATERAL"
             "   (SELECT id, priority, run_at FROM jobs WHERE state = 'queued' AND type >= t.type AND type <= t.type"
             "    AND run_at <= (SELECT now FROM n) ORDER BY type, priority, run_at, id LIMIT $3"
             "    FOR UPDATE OF jobs SKIP LOCKED) c"
             "   WHERE t.type IS NOT NULL AND NOT (t.type = ANY($5::text[]))),"
             " ready AS (SELECT id FROM candidates ORDER BY priority, run_at, id LIMIT $3) "
             "UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, claim = j.claim + 1, lease_owner = $2,"
             " lease_expires_at = n.now + $4, started_at = n.now, updated_at = n.now "
             "FROM ready, n WHERE j.id = ready.id RETURNING ", kJobColumns}),
        Params().add(fixed_now()).add(owner).add(limit).add(lease_ms).add_array(skip));
    for (int i = 0; i < claimed.size(); ++i) result.jobs.push_back(ClaimedJob{read_job(claimed, i)});
    return;
  }
  // Walks jobs_ready in claim order; rows other claimers hold are skipped,
  // so many workers claim side by side without waiting for each other.
  auto claimed = m_connection.prepared(
      "pw_claim",
      sql({"WITH n AS (SELECT ", kNow, " AS now),"
           " ready AS (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= (SELECT now FROM n)"
           "           ORDER BY priority, run_at, id LIMIT $3 FOR UPDATE OF jobs SKIP LOCKED) "
           "UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, claim = j.claim + 1, lease_owner = $2,"
           " lease_expires_at = n.now + $4, started_at = n.now, updated_at = n.now "
           "FROM ready, n WHERE j.id = ready.id RETURNING ", kJobColumns}),
      Params().add(fixed_now()).add(owner).add(limit).add(lease_ms));
  for (int i = 0; i < claimed.size(); ++i) result.jobs.push_back(ClaimedJob{read_job(claimed, i)});
}

std::vector<ClaimToken> PostgresJobQueue::renew(const std::string& owner, const std::vector<ClaimToken>& claims,
                                                std::int64_t lease_ms) {
  if (claims.empty()) return {};
  // The fenced statements below (renew, complete, fail, release) write
  // "(j.state = 'running') IS TRUE", the same test, so that the planner
  // cannot answer it from jobs_leases: with statistics taken while few jobs
  // ran (a fresh table, a quiet hour) it would walk every running row of
  // this worker once per claim named, hundreds times hundreds, instead of
  // looking each claim up by id (measured: 9.7 ms against 5.3 ms for 99
  // completions with 256 held).
  auto held = transact([&] {
    return m_connection.prepared(
        "pw_renew",
        sql({"WITH n AS (SELECT ", kNow, " AS now) "
             "UPDATE jobs j SET lease_expires_at = n.now + $4, updated_at = n.now "
             "FROM unnest($2::bigint[], $3::bigint[]) AS held(id, claim), n "
             "WHERE j.id = held.id AND j.claim = held.claim AND (j.state = 'running') IS TRUE AND j.lease_owner = $5 "
             "RETURNING j.id, j.claim"}),
        Params()
            .add(fixed_now())
            .add_array(column<std::int64_t>(claims, [](const ClaimToken& t) { return t.job_id; }))
            .add_array(column<std::int64_t>(claims, [](const ClaimToken& t) { return t.claim; }))
            .add(lease_ms)
            .add(owner));
  });
  auto kept = applied(claims, held);
  std::vector<ClaimToken> lost;
  for (std::size_t i = 0; i < claims.size(); ++i) {
    if (!kept[i]) lost.push_back(claims[i]);
  }
  return lost;
}

std::vector<ClaimToken> PostgresJobQueue::canceled_claims(const std::vector<ClaimToken>& claims) {
  if (claims.empty()) return {};
  auto rows = reading().prepared(
      "pw_canceled_claims",
      "SELECT j.id, j.claim FROM jobs j JOIN unnest($1::bigint[], $2::bigint[]) AS held(id, claim)"
      " ON j.id = held.id AND j.claim = held.claim WHERE j.state = 'canceled'",
      Params()
          .add_array(column<std::int64_t>(claims, [](const ClaimToken& t) { return t.job_id; }))
          .add_array(column<std::int64_t>(claims, [](const ClaimToken& t) { return t.claim; })));
  std::vector<ClaimToken> canceled;
  for (int i = 0; i < rows.size(); ++i) canceled.push_back({rows.int64(i, 0), rows.int64(i, 1)});
  return canceled;
}

// ---- outcomes ----------------------------------------------------------------------

bool PostgresJobQueue::complete(const std::string& owner, const Completion& completion) {
  return settle(owner, {completion}, {}, {}, {}).completed.front();
}

std::vector<bool> PostgresJobQueue::complete_many(const std::string& owner,
                                                  const std::vector<Completion>& completions) {
  return settle(owner, completions, {}, {}, {}).completed;
}

FailureOutcome PostgresJobQueue::fail(const std::string& owner, const Failure& failure) {
  return settle(owner, {}, {failure}, {}, {}).failed.front();
}

std::vector<FailureOutcome> PostgresJobQueue::fail_many(const std::string& owner,
                                                        const std::vector<Failure>& failures) {
  return settle(owner, {}, failures, {}, {}).failed;
}

std::size_t PostgresJobQueue::release(const std::string& owner, const std::vector<ClaimToken>& claims) {
  auto released = settle(owner, {}, {}, claims, {}).released;
  return static_cast<std::size_t>(std::count(released.begin(), released.end(), true));
}

JobTable::Outcomes PostgresJobQueue::settle(const std::string& owner, const std::vector<Completion>& completions,
                                            const std::vector<Failure>& failures,
                                            const std::vector<ClaimToken>& releases, const Refill& refill) {
  Outcomes outcomes;
  if (completions.empty() && failures.empty() && releases.empty() && refill.limit <= 0) return outcomes;
  outcomes = transact([&] {
    Outcomes recorded;
    if (!completions.empty()) {
      std::vector<ClaimToken> tokens;
      std::vector<std::string> results;
      for (const auto& completion : completions) {
        tokens.push_back(completion.token);
        results.push_back(completion.result);
      }
      auto rows = m_connection.prepared(
          "pw_complete",
          sql({"WITH n AS (SELECT ", kNow, " AS now) "
               "UPDATE jobs j SET state = 'succeeded', result = done.result, lease_expires_at = NULL,"
               " updated_at = n.now, finished_at = n.now "
               "FROM unnest($2::bigint[], $3::bigint[], $4::text[]) AS done(id, claim, result), n "
               "WHERE j.id = done.id AND j.claim = done.claim AND (j.state = 'running') IS TRUE AND j.lease_owner = $5 "
               "RETURNING j.id, j.claim"}),
          Params()
              .add(fixed_now())
              .add_array(column<std::int64_t>(tokens, [](const ClaimToken& t) { return t.job_id; }))
              .add_array(column<std::int64_t>(tokens, [](const ClaimToken& t) { return t.claim; }))
              .add_array(results)
              .add(owner));
      recorded.completed = applied(tokens, rows);
    }
    if (!failures.empty()) {
      std::vector<ClaimToken> tokens;
      std::vector<std::string> errors;
      std::vector<std::string> permanent;
      for (const auto& failure : failures) {
        tokens.push_back(failure.token);
        errors.push_back(failure.error);
        permanent.push_back(failure.kind == FailureKind::permanent ? "true" : "false");
      }
      // The backoff is JobQueue::backoff_ms's full jitter, drawn here per
      // row: random() * min(cap, base * 2^(attempts - 1)).
      auto rows = m_connection.prepared(
          "pw_fail",
          sql({"WITH n AS (SELECT ", kNow, " AS now),"
               " f AS (SELECT u.id, u.claim, u.error, (u.permanent OR j.attempts >= j.max_attempts) AS dead"
               "       FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::boolean[])"
               "            AS u(id, claim, error, permanent) JOIN jobs j ON j.id = u.id"
               "       WHERE j.claim = u.claim AND (j.state = 'running') IS TRUE AND j.lease_owner = $8) "
               "UPDATE jobs j SET state = CASE WHEN f.dead THEN 'dead' ELSE 'queued' END, last_error = f.error,"
               " run_at = CASE WHEN f.dead THEN n.now ELSE n.now + floor(random() * least($6::float8,"
               "   $7::float8 * power(2::float8, least(greatest(j.attempts - 1, 0), 62))))::bigint END,"
               " updated_at = n.now,"
               " lease_owner = CASE WHEN f.dead THEN j.lease_owner ELSE NULL END, lease_expires_at = NULL,"
               " finished_at = CASE WHEN f.dead THEN n.now ELSE NULL END "
               "FROM f, n WHERE j.id = f.id AND j.claim = f.claim AND (j.state = 'running') IS TRUE"
               " AND j.lease_owner = $8 "
               "RETURNING j.id, j.claim, f.dead"}),
          Params()
              .add(fixed_now())
              .add_array(column<std::int64_t>(tokens, [](const ClaimToken& t) { return t.job_id; }))
              .add_array(column<std::int64_t>(tokens, [](const ClaimToken& t) { return t.claim; }))
              .add_array(errors)
              .add_array(permanent)
              .add(static_cast<double>(m_retry.backoff_cap_ms))
              .add(static_cast<double>(m_retry.backoff_base_ms))
              .add(owner));
      std::map<ClaimToken, bool> dead;
      for (int i = 0; i < rows.size(); ++i) dead[{rows.int64(i, 0), rows.int64(i, 1)}] = rows.boolean(i, 2);
      for (const auto& token : tokens) {
        auto found = dead.find(token);
        recorded.failed.push_back(found == dead.end() ? FailureOutcome::lost_lease
                                  : found->second   ? FailureOutcome::dead
                                                    : FailureOutcome::requeued);
      }
    }
    if (!releases.empty()) {
      // attempts - 1: a claim handed back is not charged.
      auto rows = m_connection.prepared(
          "pw_release",
          sql({"WITH n AS (SELECT ", kNow, " AS now) "
               "UPDATE jobs j SET state = 'queued', attempts = j.attempts - 1, lease_owner = NULL,"
               " lease_expires_at = NULL, updated_at = n.now "
               "FROM unnest($2::bigint[], $3::bigint[]) AS r(id, claim), n "
               "WHERE j.id = r.id AND j.claim = r.claim AND (j.state = 'running') IS TRUE AND j.lease_owner = $4 "
               "RETURNING j.id, j.claim"}),
          Params()
              .add(fixed_now())
              .add_array(column<std::int64_t>(releases, [](const ClaimToken& t) { return t.job_id; }))
              .add_array(column<std::int64_t>(releases, [](const ClaimToken& t) { return t.claim; }))
              .add(owner));
      recorded.released = applied(releases, rows);
    }
    // After the outcomes, so a job that just failed with no backoff can be
    // claimed again at once.
    if (refill.limit > 0) {
      claim_in_transaction(owner, refill.limit, refill.lease_ms, recorded.claimed, refill.skip_types);
    }
    return recorded;
  });
  sort_in_claim_order(outcomes.claimed);
  return outcomes;
}

// ---- operator actions ------------------------------------------------------------

bool PostgresJobQueue::cancel(std::int64_t job_id) {
  return transact([&] {
    return m_connection
               .prepared("pw_cancel",
                         sql({"UPDATE jobs SET state = 'canceled', lease_expires_at = NULL, updated_at = ", kNow,
                              ", finished_at = ", kNow, " WHERE id = $2 AND state IN ('queued', 'running')"}),
                         Params().add(fixed_now()).add(job_id))
               .affected() == 1;
  });
}

bool PostgresJobQueue::retry(std::int64_t job_id) {
  return transact([&] {
    return m_connection
               .prepared("pw_retry",
                         sql({"UPDATE jobs SET state = 'queued', attempts = 0, run_at = ", kNow,
                              ", lease_owner = NULL, lease_expires_at = NULL, result = NULL, updated_at = ", kNow,
                              ", finished_at = NULL WHERE id = $2 AND state IN ('dead', 'canceled')"}),
                         Params().add(fixed_now()).add(job_id))
               .affected() == 1;
  });
}

RemoveResult PostgresJobQueue::remove(std::int64_t job_id) {
  return transact([&] {
    // FOR UPDATE: a claim cannot slip in between the look and the delete.
    auto rows = m_connection.prepared("pw_remove_look", "SELECT state FROM jobs WHERE id = $1 FOR UPDATE",
                                      Params().add(job_id));
    if (rows.empty()) return RemoveResult::not_found;
    if (rows.view(0, 0) == "running") return RemoveResult::running;
    m_connection.prepared("pw_remove", "DELETE FROM jobs WHERE id = $1", Params().add(job_id));
    return RemoveResult::removed;
  });
}

std::vector<std::int64_t> PostgresJobQueue::update_matching(const std::string& set, const char* states,
                                                            const JobFilter& filter, int max) {
  std::vector<std::int64_t> ids;
  if (max <= 0) return ids;
  ids = transact([&] {
    Params params;
    params.add(fixed_now()).add(max);
    const std::string terms = filter_terms(filter, false, params);
    // The rows are locked newest first, then changed; the state test is made
    // again on the locked rows, so a job a worker settled meanwhile is left
    // alone (as cancel() would leave it).
    auto rows = m_connection.query(
        sql({"WITH n AS (SELECT ", kNow, " AS now),"
             " picked AS (SELECT j.id FROM jobs j WHERE ", states, terms,
             "            ORDER BY j.id DESC LIMIT $2 FOR UPDATE) "
             "UPDATE jobs j SET ", set, " FROM picked, n WHERE j.id = picked.id AND ", states,
             " RETURNING j.id"}),
        params);
    std::vector<std::int64_t> changed;
    changed.reserve(static_cast<std::size_t>(rows.size()));
    for (int i = 0; i < rows.size(); ++i) changed.push_back(rows.int64(i, 0));
    return changed;
  });
  std::sort(ids.rbegin(), ids.rend());
  return ids;
}

std::vector<std::int64_t> PostgresJobQueue::cancel_matching(const JobFilter& filter, int max) {
  // cancel()'s SET list: the claim stays, and the worker's guarded outcome
  // (state = 'running') no longer applies.
  return update_matching(
      "state = 'canceled', lease_expires_at = NULL, updated_at = n.now, finished_at = n.now",
      "(j.state = 'queued' OR j.state = 'running')", filter, max);
}

std::vector<std::int64_t> PostgresJobQueue::retry_matching(const JobFilter& filter, int max) {
  // retry()'s SET list; the state test is jobs_stopped's predicate (0006).
  return update_matching(
      "state = 'queued', attempts = 0, run_at = n.now, lease_owner = NULL, lease_expires_at = NULL,"
      " result = NULL, updated_at = n.now, finished_at = NULL",
      "(j.state = 'dead' OR j.state = 'canceled')", filter, max);
}

// ---- reading -------------------------------------------------------------------------

db::postgres::Connection& PostgresJobQueue::reading() {
  if (!m_connection.healthy()) m_connection.reconnect();
  return m_connection;
}

std::optional<Job> PostgresJobQueue::find(std::int64_t job_id) {
  auto rows = reading().prepared("pw_find", sql({"SELECT ", kJobColumns, kUniqueKeyColumn, " FROM jobs j WHERE j.id = $1"}),
                                    Params().add(job_id));
  if (rows.empty()) return std::nullopt;
  return read_job_and_key(rows, 0);
}

std::vector<Job> PostgresJobQueue::list(const JobFilter& filter) {
  Params params;
  params.add(std::max(0, filter.limit));
  const std::string terms = filter_terms(filter, true, params);
  auto rows = reading().query(
      sql({"SELECT ", kJobColumns, kUniqueKeyColumn, " FROM jobs j WHERE true", terms, " ORDER BY j.id DESC LIMIT $1"}),
      params);
  std::vector<Job> jobs;
  for (int i = 0; i < rows.size(); ++i) jobs.push_back(read_job_and_key(rows, i));
  return jobs;
}

namespace {

// Queued and running jobs by type: the predicates of the partial indexes
// jobs_ready_by_type and jobs_leases, so the planner can answer each half from its
// index alone. counts() adds the finished ones to it in the same statement.
constexpr const char* kActiveCounts =
    "SELECT type, 'queued', count(*) FROM jobs WHERE state = 'queued' GROUP BY type "
    "UNION ALL SELECT type, 'running', count(*) FROM jobs WHERE state = 'running' GROUP BY type";

template <class Rows>
std::map<std::string, std::map<std::string, std::int64_t>> read_counts(const Rows& rows) {
  std::map<std::string, std::map<std::string, std::int64_t>> out;
  for (int i = 0; i < rows.size(); ++i) out[rows.text(i, 0)][rows.text(i, 1)] += rows.int64(i, 2);
  return out;
}

}  // namespace

std::map<std::string, std::map<std::string, std::int64_t>> PostgresJobQueue::counts() {
  // Queued jobs are counted from jobs_ready_by_type, running ones (few) through
  // jobs_leases; finished ones by a (parallel) scan (see migration 0006).
  auto rows = reading().prepared(
      "pw_counts", std::string("SELECT type, state, count(*) FROM jobs WHERE finished_at IS NOT NULL"
                               " GROUP BY type, state UNION ALL ") +
                       kActiveCounts);
  return read_counts(rows);
}

std::map<std::string, std::map<std::string, std::int64_t>> PostgresJobQueue::active_counts() {
  // The predicates of the partial indexes jobs_ready_by_type and jobs_leases, so the
  // planner can answer each half from its index alone.
  auto rows = reading().prepared("pw_active_counts", kActiveCounts);
  return read_counts(rows);
}

std::map<std::string, std::int64_t> PostgresJobQueue::ready_counts() {
  auto rows = reading().prepared(
      "pw_ready_counts",
      sql({"SELECT type, count(*) FROM jobs WHERE state = 'queued' AND run_at <= ", kNow, " GROUP BY type"}),
      Params().add(fixed_now()));
  std::map<std::string, std::int64_t> out;
  for (int i = 0; i < rows.size(); ++i) out[rows.text(i, 0)] = rows.int64(i, 1);
  return out;
}

std::map<std::string, double> PostgresJobQueue::oldest_ready_age_seconds() {
  auto rows = reading().prepared(
      "pw_oldest_ready",
      sql({"SELECT type, (", kNow, " - min(run_at))::float8 / 1000 FROM jobs"
           " WHERE state = 'queued' AND run_at <= ", kNow, " GROUP BY type"}),
      Params().add(fixed_now()));
  std::map<std::string, double> out;
  for (int i = 0; i < rows.size(); ++i) out[rows.text(i, 0)] = rows.real(i, 1);
  return out;
}

std::optional<std::int64_t> PostgresJobQueue::next_due_ms() {
  // A paused type's queued jobs are due at no time; a held-back limited
  // type's, when its next token arrives (postgres_job_queue_controls.cpp).
  if (m_controls_seen) return next_due_controlled();
  // No "after now" filter, for the reason given in job_queue.hpp. The lease
  // from the first entry of jobs_leases; the run from the first entry of
  // each priority's run in jobs_ready, the priorities found by seeking from
  // one to the next (migration 0013 dropped the index ordered by run_at
  // alone: one index fewer for every enqueue and claim).
  auto rows = reading().prepared(
      "pw_next_due",
      "WITH RECURSIVE p AS ("
      " (SELECT priority FROM jobs WHERE state = 'queued' ORDER BY priority, run_at, id LIMIT 1)"
      " UNION ALL"
      " SELECT (SELECT q.priority FROM jobs q WHERE q.state = 'queued' AND q.priority > p.priority"
      "         ORDER BY q.priority, q.run_at, q.id LIMIT 1) FROM p WHERE p.priority IS NOT NULL) "
      "SELECT least((SELECT min((SELECT q.run_at FROM jobs q WHERE q.state = 'queued' AND q.priority = p.priority"
      "                          ORDER BY q.priority, q.run_at, q.id LIMIT 1)) FROM p WHERE p.priority IS NOT NULL),"
      " (SELECT min(lease_expires_at) FROM jobs WHERE state = 'running'))");
  return rows.optional_int64(0, 0);
}

std::vector<LeaseHolder> PostgresJobQueue::lease_holders() {
  auto rows = reading().prepared(
      "pw_lease_holders",
      "SELECT COALESCE(lease_owner, ''), count(*), min(started_at), min(lease_expires_at) FROM jobs"
      " WHERE state = 'running' GROUP BY lease_owner ORDER BY lease_owner");
  std::vector<LeaseHolder> out;
  for (int i = 0; i < rows.size(); ++i) {
    out.push_back(LeaseHolder{rows.text(i, 0), rows.int64(i, 1), rows.optional_int64(i, 2).value_or(0),
                              rows.optional_int64(i, 3).value_or(0)});
  }
  return out;
}

std::vector<FinishedMinute> PostgresJobQueue::finished_per_minute(std::int64_t since_ms) {
  // Integer division truncates, as on SQLite: the same minutes on both.
  auto rows = reading().prepared(
      "pw_finished_per_minute",
      "SELECT finished_at / 60000 * 60000 AS minute, state, count(*) FROM jobs"
      " WHERE finished_at >= $1::bigint GROUP BY 1, 2 ORDER BY 1, 2",
      Params().add(since_ms));
  std::vector<FinishedMinute> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(FinishedMinute{rows.int64(i, 0), rows.text(i, 1), rows.int64(i, 2)});
  return out;
}

// ---- housekeeping ----------------------------------------------------------------------

std::int64_t PostgresJobQueue::prune(std::int64_t retention_ms, int batch) {
  batch = std::max(1, batch);
  std::int64_t total = 0;
  for (;;) {
    auto deleted = transact([&] {
      return m_connection
          .prepared("pw_prune",
                    sql({"DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE finished_at < ", kNow,
                         " - $2 AND state IN ('succeeded', 'dead', 'canceled') LIMIT $3 FOR UPDATE SKIP LOCKED)"}),
                    Params().add(fixed_now()).add(retention_ms).add(batch))
          .affected();
    });
    total += deleted;
    if (deleted < batch) return total;
  }
}

}  // namespace pw::queue
