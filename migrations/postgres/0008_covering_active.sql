-- jobs_leases also answers the operator console's questions about running
-- jobs (active_counts, lease_holders) by an index-only scan (see
-- migrations/sqlite/0008_covering_active.sql). jobs_due stays as it is:
-- PostgreSQL, unlike SQLite, sees that a partial index covers a column named
-- only in its WHERE clause (state), so (run_at, type) already answers the
-- queued half of active_counts alone.
--
-- Same name, same leading column: plans that range over lease_expires_at
-- (claim's lapse detection, next_due_ms) stay as they were. No index is
-- added, and no update that was HOT before stops being so: claim, renew and
-- settle each already change lease_expires_at or state.
DROP INDEX jobs_leases;
CREATE INDEX jobs_leases ON jobs (lease_expires_at, type, lease_owner, started_at) WHERE state = 'running';
