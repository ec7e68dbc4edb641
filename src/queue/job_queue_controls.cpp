// The operator controls on SQLite (controls.hpp): read by every claim under
// its write lock (BEGIN IMMEDIATE), so a pause or a bucket is one answer for
// every worker of every process.
#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "db/statement.hpp"
#include "queue/job_queue.hpp"

namespace pw::queue {

// job_queue.cpp's reading of a whole job (its kJobColumns, in order).
Job read_claimed_job(const db::Statement& row);

namespace {

TypeControl read_control(const db::Statement& row) {
  TypeControl control;
  control.type = row.text(0);
  control.paused = row.int64(1) != 0;
  if (auto rate = row.optional_int64(2)) control.rate_per_second = static_cast<double>(*rate) / 1000.0;
  control.tokens = static_cast<double>(row.int64(3)) / 1e6;
  control.refilled_at_ms = row.int64(4);
  control.held = row.int64(5) != 0;
  control.updated_at_ms = row.int64(6);
  return control;
}

std::int64_t to_millionths(double tokens) { return std::llround(std::max(0.0, tokens) * 1e6); }

// A row that holds neither a pause nor a limit says nothing: it goes.
void tidy(db::Connection& connection, const std::string& type) {
  db::Statement tidy(connection,
                     "DELETE FROM job_type_controls WHERE type = ?1 AND paused = 0 AND rate_per_1000s IS NULL");
  tidy.bind(1, type);
  tidy.exec();
}

}  // namespace

std::vector<TypeControl> JobQueue::read_controls() {
  db::Statement query(m_connection,
                      "SELECT type, paused, rate_per_1000s, token_millionths, refilled_at, held, updated_at"
                      " FROM job_type_controls ORDER BY type");
  std::vector<TypeControl> out;
  while (query.step()) out.push_back(read_control(query));
  return out;
}

std::vector<TypeControl> JobQueue::controls() {
  auto timer = m_connection.time_query();
  return read_controls();
}

void JobQueue::set_paused(const std::string& type, bool paused) {
  auto timer = m_connection.time_query();
  db::write(m_connection, [&] {
    db::Statement upsert(m_connection,
                         "INSERT INTO job_type_controls (type, paused, updated_at) VALUES (?1, ?2, ?3) "
                         "ON CONFLICT (type) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at");
    upsert.bind(1, type);
    upsert.bind(2, paused ? 1 : 0);
    upsert.bind(3, m_clock.now_ms());
    upsert.exec();
    tidy(m_connection, type);
  });
}

void JobQueue::set_rate_limit(const std::string& type, std::optional<double> per_second) {
  std::optional<std::int64_t> rate;
  if (per_second) rate = std::max<std::int64_t>(1, std::llround(*per_second * 1000.0));
  // A new limit starts with a full bucket, as if the type had been quiet.
  const std::int64_t full = rate ? to_millionths(bucket_capacity(static_cast<double>(*rate) / 1000.0)) : 0;
  const std::int64_t now = m_clock.now_ms();
  auto timer = m_connection.time_query();
  db::write(m_connection, [&] {
    db::Statement upsert(m_connection,
                         "INSERT INTO job_type_controls (type, rate_per_1000s, token_millionths, refilled_at, held,"
                         " updated_at) VALUES (?1, ?2, ?3, ?4, 0, ?4) "
                         "ON CONFLICT (type) DO UPDATE SET rate_per_1000s = excluded.rate_per_1000s,"
                         " token_millionths = excluded.token_millionths, refilled_at = excluded.refilled_at,"
                         " held = 0, updated_at = excluded.updated_at");
    upsert.bind(1, type);
    upsert.bind(2, rate);
    upsert.bind(3, full);
    upsert.bind(4, now);
    upsert.exec();
    tidy(m_connection, type);
  });
}

bool JobQueue::claim_controlled(const std::string& owner, int limit, std::int64_t lease_ms, std::int64_t now,
                                const std::vector<std::string>& skip_types, ClaimResult& result,
                                std::vector<std::string>& skip) {
  // The common case, no control at all, costs one read of an empty table.
  std::vector<TypeControl> controls = read_controls();
  if (controls.empty()) return false;
  ClaimPlan plan = plan_claim(controls, skip_types, limit, now);
  skip = std::move(plan.skip_types);
  // The limited types are claimed first: their buckets bound how many, and
  // a full batch of other types would otherwise crowd them out for good.
  int room = limit;
  for (const auto& limited : plan.limited) {
    const int want = std::min(limited.allowance, room);
    int taken = 0;
    if (want > 0) {
      // The type's own ready jobs in claim order (jobs_ready_by_type).
      db::Statement claim(
          m_connection,
          "UPDATE jobs SET state = 'running', attempts = attempts + 1, claim = claim + 1, lease_owner = ?1,"
          " lease_expires_at = ?2, started_at = ?3, updated_at = ?3 "
          "WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_ready_by_type WHERE state = 'queued' AND type = ?5"
          "             AND run_at <= ?3 ORDER BY priority, run_at, id LIMIT ?4) "
          "RETURNING id, type, payload, trace_id, user_id, priority, state, attempts, max_attempts,"
          " run_at, lease_owner, lease_expires_at, last_error, result, idempotency_key, created_at,"
          " updated_at, started_at, finished_at, claim");
      claim.bind(1, owner);
      claim.bind(2, now + lease_ms);
      claim.bind(3, now);
      claim.bind(4, want);
      claim.bind(5, limited.type);
      while (claim.step()) {
        result.jobs.push_back(ClaimedJob{read_claimed_job(claim)});
        ++taken;
      }
      room -= taken;
    }
    // Held back: the bucket, not the caller's room, ran out with ready jobs left.
    bool held = false;
    if (taken == limited.allowance && want == limited.allowance) {
      db::Statement ready(m_connection,
                          "SELECT EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_ready_by_type"
                          " WHERE state = 'queued' AND type = ?2 AND run_at <= ?1)");
      ready.bind(1, now);
      ready.bind(2, limited.type);
      held = ready.step() && ready.int64(0) != 0;
    }
    if (held) result.rate_limited.push_back(limited.type);
    if (taken == 0 && held == limited.held) continue;  // the stored bucket still says it all
    db::Statement spend(m_connection,
                        "UPDATE job_type_controls SET token_millionths = ?2, refilled_at = ?3, held = ?4"
                        " WHERE type = ?1");
    spend.bind(1, limited.type);
    spend.bind(2, to_millionths(limited.tokens - taken));
    spend.bind(3, now);
    spend.bind(4, held ? 1 : 0);
    spend.exec();
  }
  return true;
}

std::optional<std::int64_t> JobQueue::next_due_controlled(const std::vector<TypeControl>& controls) {
  DueExclusions excluded = due_exclusions(controls, m_clock.now_ms());
  std::optional<std::int64_t> next = excluded.next_token_ms;
  auto consider = [&](db::Statement& query) {
    if (query.step() && !query.is_null(0)) {
      const std::int64_t at = query.int64(0);
      if (!next || at < *next) next = at;
    }
  };
  // The types seeked one to the next in jobs_ready_by_type; the excluded
  // ones are passed over without reading their rows, each other type's
  // rows read for their earliest run_at (a type is ordered by priority
  // first). Asked only when a claim came back short, so those rows are
  // mostly not yet due.
  db::Statement run(m_connection,
                    "WITH RECURSIVE t(type) AS ("
                    " SELECT (SELECT type FROM jobs INDEXED BY jobs_ready_by_type WHERE state = 'queued'"
                    "         ORDER BY type LIMIT 1)"
                    " UNION ALL"
                    " SELECT (SELECT type FROM jobs INDEXED BY jobs_ready_by_type WHERE state = 'queued'"
                    "         AND type > t.type ORDER BY type LIMIT 1) FROM t WHERE t.type IS NOT NULL) "
                    "SELECT min((SELECT min(run_at) FROM jobs INDEXED BY jobs_ready_by_type WHERE state = 'queued'"
                    "            AND type = t.type)) FROM t"
                    " WHERE t.type IS NOT NULL AND t.type NOT IN (SELECT value FROM json_each(?1))");
  run.bind(1, nlohmann::json(excluded.types).dump());
  consider(run);
  // A paused type's running jobs still lapse, and a lapse is settled by a claim.
  db::Statement lease(m_connection,
                      "SELECT min(lease_expires_at) FROM jobs INDEXED BY jobs_leases WHERE state = 'running'");
  consider(lease);
  return next;
}

}  // namespace pw::queue
