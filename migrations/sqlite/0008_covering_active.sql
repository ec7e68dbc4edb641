-- jobs_due and jobs_leases also answer the operator console's questions
-- about active jobs (active_counts, lease_holders) from the index alone.
-- Before, each counted row was a table row read: ~10k scattered rows for
-- 10k running jobs, and even for queued ones, because SQLite (3.40) does not
-- see that a partial index covers a column named only in its WHERE clause
-- (state), so the column is added to the key.
--
-- Same names, same leading columns: every plan that ranges over run_at or
-- lease_expires_at (claim's lapse detection, renew, next_due_ms, oldest ready
-- age) stays as it was. No index is added: a claim or settle rewrites the
-- entries it rewrote before, since each already changes state (in both
-- WHERE clauses) and the appended columns (type never changes; lease_owner
-- and started_at change only with state or lease_expires_at).
DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (run_at, type, state) WHERE state = 'queued';
DROP INDEX jobs_leases;
CREATE INDEX jobs_leases ON jobs (lease_expires_at, type, lease_owner, started_at, state) WHERE state = 'running';
